"""``convrnn export``: a run (or a bundle) -> a bundle folder, with an optional checked deployment file."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from convrnn.bundle import CARD, CONFIG, WEIGHTS, is_bundle, model_source, read_bundle_config
from convrnn.errors import ConfigError, RunError
from convrnn.export.card import model_card
from convrnn.export.deploy import ONNX_FILE, PROGRAM_FILE, export_onnx, export_program
from convrnn.export.source import describe, read_metrics
from convrnn.io import atomic_file, write_text_atomic
from convrnn.models.forecaster import Forecaster
from convrnn.runs import load_forecaster

FORMATS = ("bundle", "onnx", "torch-export")


@dataclass
class ExportReport:
    """What an export wrote: the bundle folder, its files, and each deployment file's check."""

    folder: Path
    files: list[str] = field(default_factory=list)
    exports: dict[str, dict[str, Any]] = field(default_factory=dict)


def weights_of(model: Forecaster) -> tuple[bytes, str]:
    """The model's state_dict as safetensors bytes (no pickle) and a SHA-256 of its tensors.

    The digest covers names, dtypes, shapes and values (safetensors' header order is
    not stable across processes, so the file's bytes are not hashed).
    """
    from safetensors.torch import save

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name]
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return save(state, metadata={"format": "pt"}), digest.hexdigest()


def _check_folder(out: Path, source: Path) -> None:
    """Refuse to write into the source, a file, or a non-empty folder that is not a bundle."""
    if out.resolve() == source.resolve():
        raise ConfigError(f"--out {out} is the exported run itself; choose another folder")
    if out.exists() and not out.is_dir():
        raise RunError(f"--out {out} is a file; choose a folder")
    if out.is_dir() and any(out.iterdir()) and not is_bundle(out):
        raise RunError(
            f"{out} is not empty and is not a convrnn bundle; choose a new or empty --out "
            "(an existing bundle folder is updated in place)"
        )


def _kept_exports(out: Path, digest: str) -> dict[str, Any]:
    """Deployment files of a bundle already in ``out``: kept if of the same weights, else deleted."""
    if not is_bundle(out):
        return {}
    try:
        old = read_bundle_config(out)
    except RunError:
        return {}
    exports = old.get("exports", {})
    if old.get("weights_sha256") == digest:
        return {k: e for k, e in exports.items() if (out / e["file"]).is_file()}
    for e in exports.values():  # stale: exported from other weights
        (out / Path(e["file"]).name).unlink(missing_ok=True)
    return {}


def export_run(
    source: str | Path,
    out: str | Path,
    checkpoint: str = "best",
    fmt: str = "bundle",
    horizon: int | None = None,
) -> ExportReport:
    """Write the bundle of ``source`` (a run, a bundle or ``hf://owner/name``) into ``out``.

    ``fmt="onnx"`` / ``"torch-export"`` also write ``model.onnx`` / ``model.pt2`` (the
    rollout of ``horizon`` frames, default the trained output length), each checked
    against the eager model (:mod:`convrnn.export.deploy`) before it is kept.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if horizon is not None and horizon < 1:
        raise ConfigError(f"--horizon must be >= 1, got {horizon}")
    source, out = model_source(source), Path(out)
    _check_folder(out, source)
    model = load_forecaster(source, checkpoint)
    config = describe(source, checkpoint, model)
    report, metric_files = read_metrics(source)
    weights, digest = weights_of(model)
    exports = _kept_exports(out, digest)
    if fmt != "bundle":
        steps = horizon if horizon is not None else config["output_length"]
        write, name = (export_onnx, ONNX_FILE) if fmt == "onnx" else (export_program, PROGRAM_FILE)
        exports[fmt] = write(model, out / name, config["input_length"], steps)
    config = {**config, "weights_sha256": digest, "exports": exports}
    with atomic_file(out / WEIGHTS) as f:
        f.write(weights)
    for name, data in metric_files.items():
        with atomic_file(out / name) as f:
            f.write(data)
    write_text_atomic(out / CARD, model_card(config, report))
    write_text_atomic(
        out / CONFIG, json.dumps(config, indent=2)
    )  # last: it makes the folder a bundle
    files = [WEIGHTS, CONFIG, CARD, *metric_files, *(e["file"] for e in exports.values())]
    return ExportReport(out, files, exports)
