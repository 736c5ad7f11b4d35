"""What a bundle says about its model: ``config.json``'s content, gathered from a run (or a bundle)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from convrnn.bundle import FORMAT, FORMAT_VERSION, is_bundle, read_bundle_config
from convrnn.cells.registry import get_entry
from convrnn.cost.counters import count_parameters
from convrnn.errors import ConvrnnError
from convrnn.models.forecaster import Forecaster
from convrnn.runs import checkpoint_path, read_build, read_config, read_normalizer

#: train.* keys that say where a run ran, not how the model was trained (left out of the card)
PLACEMENT = ("devices", "num_nodes", "accelerator", "progress_bar", "compile", "stop_after")
METRIC_FILES = ("metrics.json", "metrics_per_frame.csv")


def describe(source: Path, checkpoint: str, model: Forecaster) -> dict[str, Any]:
    """The ``config.json`` of ``model`` loaded from ``source`` (a run, or a bundle re-exported)."""
    if is_bundle(source):
        config = read_bundle_config(source)
        config.pop("exports", None)
        config.pop("weights_sha256", None)
        return config
    return _describe_run(source, checkpoint, model)


def _describe_run(run_dir: Path, checkpoint: str, model: Forecaster) -> dict[str, Any]:
    from convrnn.train.module import sampling_kind
    from convrnn.train.rundir import checkpoint_iteration

    cfg = read_config(run_dir)
    build = read_build(run_dir)
    build.pop("compile", None)
    normalizer = read_normalizer(run_dir)
    data, train = cfg["data"], cfg["train"]
    entry = get_entry(build["name"])
    info = _data_info(cfg, normalizer)
    recipe = {k: v for k, v in train.items() if k not in PLACEMENT}
    recipe["sampling"] = sampling_kind(cfg)
    ckpt = checkpoint_path(run_dir, checkpoint)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "convrnn_version": _version(),
        "model": {
            "name": build["name"],
            "preset": build.get("preset"),
            "summary": entry.summary,
            "notes": entry.notes,
            "parameters": count_parameters(model),
            "in_channels": model.in_channels,
            "out_channels": model.out_channels,
            "target_channels": list(model.target_channels) if model.target_channels else None,
            "image_size": list(model.image_size) if model.image_size else None,
        },
        "build": build,
        "input_length": data["input_length"],
        "output_length": data["output_length"],
        "frames": "(N, T, C, H, W) float32 in [0, 1] after normalization",
        "normalization": normalizer.to_dict() if normalizer is not None else None,
        "units": normalizer.units if normalizer is not None else "[0, 1]",
        "interval": info.get("interval"),
        "data": {
            "name": data["name"],
            "description": info.get("description"),
            "splits": info.get("splits"),
            "options": data["options"],
            "train_options": data["train_options"],
        },
        "training": recipe,
        "source": {
            "run": run_dir.resolve().name,
            "checkpoint": ckpt.name if checkpoint not in ("best", "last") else checkpoint,
            "iteration": checkpoint_iteration(ckpt),
        },
    }


def _version() -> str:
    """The installed convrnn's version (``convrnn/__init__`` is above this layer)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("convrnn")
    except PackageNotFoundError:
        return "unknown"


def _data_info(cfg: dict[str, Any], normalizer: Any) -> dict[str, Any]:
    """The dataset's static metadata; for user arrays the interval is read from the data if at hand."""
    from convrnn.data import dataset_info
    from convrnn.train.data import load_split

    data = cfg["data"]
    try:
        info = dataset_info(data["name"], **data["options"]).to_dict()
    except (ConvrnnError, KeyError, TypeError):
        info = {}
    # a NetCDF time axis gives the real interval, known only from the file (no fitting: the
    # run's normalizer is passed); the data may not be on this machine
    if data["name"] == "arrays" and normalizer is not None:
        with contextlib.suppress(ConvrnnError, OSError, ImportError):
            info["interval"] = load_split(cfg, "train", normalizer).info.interval
    return info


def read_metrics(source: Path) -> tuple[dict[str, Any] | None, dict[str, bytes]]:
    """``(metrics.json's report or None, {file name: bytes})`` of a run's (or bundle's) test scores."""
    files = {
        name: (source / name).read_bytes() for name in METRIC_FILES if (source / name).is_file()
    }
    report = json.loads(files["metrics.json"]) if "metrics.json" in files else None
    return report, files
