"""Inference engine of ``convrnn test`` and ``predict``: device, batches, precision, compile.

:func:`prepare` moves a model to the options' device (and compiles its time step);
:func:`run_batches` runs a call over chunks of ``batch_size`` sequences under
``torch.inference_mode`` and, for bf16, autocast, and returns CPU float32;
:func:`predict` is the forecast itself.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from convrnn.errors import ConfigError
from convrnn.hardware import native_bf16

#: inference precisions: auto (bf16 where the device runs it natively), fp32, bf16 autocast
PRECISIONS = ("auto", "32", "bf16")
#: memory formats of weights, frames and states: auto (the one measured faster on the device)
MEMORY_FORMATS = ("auto", "contiguous", "channels_last")
#: devices where bf16 autocast inference measured faster than fp32 where native: the 2-core AMD
#: EPYC of benchmarks/results/nowcast_cpu.md (1.4x); not the H200 of gpu_h200.md, where fp32's
#: latency was lower in 6 of 8 rows and in 2 of 3 nowcast sizes
BF16_INFERENCE_DEVICES = ("cpu",)
#: devices where channels-last inference measured faster: an H200's latency was 0.76-0.99x of
#: NCHW for every model and size of benchmarks/results/gpu_h200.md
CHANNELS_LAST_DEVICES = ("cuda",)
DEFAULT_BATCH_SIZE = 16


def default_device() -> str:
    """``cuda`` when a CUDA device is available, else ``cpu``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def parse_device(text: str) -> torch.device:
    """A torch device from ``cpu``, ``cuda`` or ``cuda:N``; ConfigError naming the fix."""
    try:
        device = torch.device(text)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device {text!r} is not a device; use cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"device {text!r}: only cpu and cuda are supported")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {text!r}: no CUDA device is available here; use --device cpu")
    return device


@dataclass(frozen=True)
class InferenceOptions:
    """How a model runs at inference: ``device`` (None: cuda if available, else cpu), sequences
    per forward ``batch_size`` (None: the caller's default, 16 for predict), ``precision``
    (auto, 32 or bf16), ``compile`` (torch.compile of the time step) and ``memory_format``
    (auto: channels-last on the devices of :data:`CHANNELS_LAST_DEVICES`, else as built)."""

    device: str | None = None
    batch_size: int | None = None
    precision: str = "32"
    compile: bool = False
    memory_format: str = "auto"

    def __post_init__(self) -> None:
        size = self.batch_size
        if size is not None and (isinstance(size, bool) or not isinstance(size, int)):
            raise ConfigError(f"batch_size must be a positive integer, got {size!r}")
        if size is not None and size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision {self.precision!r} is not one of {', '.join(PRECISIONS)}")
        if self.memory_format not in MEMORY_FORMATS:
            raise ConfigError(
                f"memory_format {self.memory_format!r} is not one of {', '.join(MEMORY_FORMATS)}"
            )
        if self.device is not None:
            parse_device(self.device)

    @property
    def channels_last(self) -> bool | None:
        """NHWC (True), NCHW (False), or None: keep the model's own format."""
        if self.memory_format == "auto":
            return True if self.torch_device.type in CHANNELS_LAST_DEVICES else None
        return self.memory_format == "channels_last"

    @property
    def torch_device(self) -> torch.device:
        """The device inference runs on."""
        return parse_device(self.device or default_device())

    @property
    def dtype(self) -> torch.dtype | None:
        """bfloat16 when inference autocasts to bf16, None for fp32."""
        kind = self.torch_device.type
        fast = kind in BF16_INFERENCE_DEVICES and native_bf16(kind)
        if self.precision == "bf16" or (self.precision == "auto" and fast):
            return torch.bfloat16
        return None


def prepare(model: Any, options: InferenceOptions) -> Any:
    """``model`` on the options' device, in eval mode and memory format, its time step compiled with ``compile``.

    The model keeps ``options`` (see :func:`options_of`).
    """
    model = model.to(options.torch_device).eval()
    layout = options.channels_last
    if layout is not None and hasattr(model, "use_channels_last"):
        model.use_channels_last(layout)
    model.inference_options = options
    if options.compile and not getattr(model, "compiled", False):
        model._step = torch.compile(model.step)
        model.compiled = True
    return model


def options_of(model: Any) -> InferenceOptions:
    """The options :func:`prepare` gave ``model``; else fp32 on the device of its weights."""
    options = getattr(model, "inference_options", None)
    if options is None:
        options = InferenceOptions(device=str(next(model.parameters()).device))
    return options


def run_batches(
    model: Any,
    inputs: Tensor,
    call: Callable[[Any, Tensor], Tensor],
    options: InferenceOptions,
    on_batch: Callable[[int], Any] | None = None,
) -> Tensor:
    """``call(model, chunk)`` per ``batch_size`` sequences of ``inputs``; CPU float32, concatenated.

    The model must be on the options' device (:func:`prepare`); ``on_batch(n)`` is told
    the sequences of each finished chunk (a progress bar).
    """
    device, dtype = options.torch_device, options.dtype
    size = options.batch_size or DEFAULT_BATCH_SIZE
    autocast = torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()
    parts = []
    with torch.inference_mode(), autocast:
        for start in range(0, len(inputs), size):
            chunk = inputs[start : start + size].to(device, torch.float32)
            parts.append(call(model, chunk).float().cpu())
            if on_batch is not None:
                on_batch(len(chunk))
    return torch.cat(parts)


def predict(
    model: Any,
    inputs: Tensor,
    horizon: int,
    options: InferenceOptions,
    on_batch: Callable[[int], Any] | None = None,
) -> Tensor:
    """``model.predict(inputs, horizon)`` run batch by batch with ``options``; CPU float32."""
    return run_batches(model, inputs, lambda m, x: m.predict(x, horizon), options, on_batch)
