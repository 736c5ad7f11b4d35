"""Deployment files of a Forecaster's rollout: ONNX and ``torch.export``, each checked against eager.

Both take **normalised** frames ``(B, T_in, C, H, W)`` float32 in [0, 1] (raw data go
through the bundle's ``config.json`` normalisation first) and return the clipped
forecast ``(B, horizon, out_channels, H, W)`` in [0, 1]; the batch axis is dynamic,
``T_in``, the frame size and ``horizon`` are fixed at export. After writing, the
file is run on a fresh sample of another batch size and compared with the eager
model: the largest absolute difference must be at most :data:`TOLERANCE`.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from convrnn.errors import ConfigError, ExportError
from convrnn.io import atomic_file
from convrnn.models.forecaster import Forecaster

TOLERANCE = 1e-4
#: batch size of the traced sample, and of the (different) sample the export is checked on
TRACE_BATCH, CHECK_BATCH = 2, 3
INPUT_NAME, OUTPUT_NAME = "frames", "forecast"
ONNX_FILE, PROGRAM_FILE = "model.onnx", "model.pt2"
ONNX_HINT = "pip install convrnn[onnx]  (installs onnx, onnxscript and onnxruntime)"


class Rollout(nn.Module):
    """``model.predict(frames, horizon)`` as a module of one tensor argument (what exporters trace)."""

    def __init__(self, model: Forecaster, horizon: int) -> None:
        super().__init__()
        self.model = model
        self.horizon = horizon

    def forward(self, frames: Tensor) -> Tensor:
        return self.model.predict(frames, self.horizon)


def sample(model: Forecaster, input_length: int, batch: int, seed: int) -> Tensor:
    """Seeded uniform frames ``(batch, input_length, C, H, W)`` in [0, 1] at the model's frame size."""
    if model.image_size is None:
        raise ConfigError("the model has no image_size: exports need a fixed frame size")
    h, w = model.image_size
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, input_length, model.in_channels, h, w, generator=g)


def _check(what: str, got: Any, want: Tensor) -> float:
    """The max abs difference of ``got`` and the eager ``want``; ExportError above TOLERANCE."""
    got = torch.as_tensor(got)
    if tuple(got.shape) != tuple(want.shape):
        raise ExportError(f"{what} returns shape {tuple(got.shape)}, eager {tuple(want.shape)}")
    diff = float((got.float() - want).abs().max())
    if not diff <= TOLERANCE:
        raise ExportError(
            f"{what} differs from the eager model by up to {diff:.3g} (> {TOLERANCE:g}) on a "
            "sample input; nothing was written. Report this with the model's name and options"
        )
    return diff


@contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Hide the exporters' warnings (training-mode notes, optional torchvision ops, deprecations)."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _write_checked(path: Path, data: bytes, check: Callable[[bytes], float]) -> float:
    """``check`` the exported ``data``, then write them atomically to ``path`` (nothing if it fails)."""
    diff = check(data)
    with atomic_file(path) as f:
        f.write(data)
    return diff


def export_onnx(model: Forecaster, path: Path, input_length: int, horizon: int) -> dict[str, Any]:
    """Write the rollout as ONNX (dynamic batch), check it in onnxruntime; returns its description."""
    try:
        import onnxruntime
    except ImportError:
        raise ExportError(f"--format onnx needs onnxruntime: {ONNX_HINT}") from None
    rollout = Rollout(model, horizon).eval()
    trace = sample(model, input_length, TRACE_BATCH, seed=0)
    probe = sample(model, input_length, CHECK_BATCH, seed=1)
    want = model.predict(probe, horizon)
    with _quiet_exporter():
        try:
            program = torch.onnx.export(
                rollout,
                (trace,),
                dynamo=True,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_shapes={"frames": {0: torch.export.Dim.DYNAMIC}},
                verbose=False,
            )
        except ImportError as e:  # onnx / onnxscript, the dynamo exporter's dependencies
            raise ExportError(f"ONNX export needs {e.name}: {ONNX_HINT}") from None
    proto = program.model_proto

    def check(data: bytes) -> float:
        session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
        (got,) = session.run([OUTPUT_NAME], {INPUT_NAME: probe.numpy()})
        return _check("the ONNX model (onnxruntime)", got, want)

    diff = _write_checked(path, proto.SerializeToString(), check)
    opset = max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    return _description(model, path, "onnx", input_length, horizon, diff) | {"opset": opset}


def export_program(
    model: Forecaster, path: Path, input_length: int, horizon: int
) -> dict[str, Any]:
    """Write the rollout as a ``torch.export`` program (``.pt2``), check it after reloading."""
    rollout = Rollout(model, horizon).eval()
    trace = sample(model, input_length, TRACE_BATCH, seed=0)
    probe = sample(model, input_length, CHECK_BATCH, seed=1)
    want = model.predict(probe, horizon)
    with _quiet_exporter():
        program = torch.export.export(
            rollout, (trace,), dynamic_shapes={"frames": {0: torch.export.Dim.DYNAMIC}}
        )
        buffer = io.BytesIO()
        torch.export.save(program, buffer)

    def check(data: bytes) -> float:
        with _quiet_exporter(), torch.no_grad():
            got = torch.export.load(io.BytesIO(data)).module()(probe)
        return _check("the torch.export program (reloaded)", got, want)

    diff = _write_checked(path, buffer.getvalue(), check)
    return _description(model, path, "torch-export", input_length, horizon, diff)


def _description(
    model: Forecaster, path: Path, kind: str, input_length: int, horizon: int, diff: float
) -> dict[str, Any]:
    """What ``config.json`` records of a deployment file."""
    h, w = model.image_size or (0, 0)
    return {
        "file": path.name,
        "format": kind,
        "horizon": horizon,
        "input": {
            "name": INPUT_NAME,
            "shape": ["batch", input_length, model.in_channels, h, w],
            "values": "normalised frames in [0, 1] (apply config.json's normalization to raw data)",
        },
        "output": {
            "name": OUTPUT_NAME,
            "shape": ["batch", horizon, model.out_channels, h, w],
            "values": "normalised forecast in [0, 1] (invert config.json's normalization for raw units)",
        },
        "checked": {
            "max_abs_diff": diff,
            "tolerance": TOLERANCE,
            "sample": f"{CHECK_BATCH} seeded uniform sequences against the eager model",
        },
    }
