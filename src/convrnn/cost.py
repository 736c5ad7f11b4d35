"""Cost analysis: parameters, FLOPs, saved activations, peak memory, step time, inference speed, max size.

Conventions: ``flops`` are counted by PyTorch's own ``FlopCounterMode`` on one
training forward pass (2 FLOPs per multiply-add); ``macs = flops / 2`` is the
unit of the OpenSTL and MS-RNN tables. ``activation_bytes`` are the bytes of
the tensors autograd saves for backward during that forward (each storage
once, parameters excluded): exact and device-independent.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn


def saved_tensor_bytes(
    fn: Any, *args: Any, exclude: nn.Module | None = None, **kwargs: Any
) -> tuple[int, Any]:
    """Run ``fn(*args, **kwargs)`` and count the bytes kept for backward.

    Every tensor autograd saves is counted once by storage (views and repeated
    saves of one tensor share a storage); the parameters of ``exclude`` are not
    activations and are left out. Activation checkpointing hides the tensors
    it recomputes from autograd's hooks but keeps its inputs until backward:
    those inputs (the frame and the recurrent state of each checkpointed step)
    are counted too.
    """
    from convrnn.models import forecaster as forecaster_module

    param_ptrs = set()
    if exclude is not None:
        param_ptrs = {p.untyped_storage().data_ptr() for p in exclude.parameters()}
    storages: dict[int, int] = {}

    def record(t: Tensor) -> None:
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in param_ptrs:
            storages[ptr] = storage.nbytes()

    def pack(t: Tensor) -> Tensor:
        record(t)
        # detached: a saved output that held its own grad_fn would make a reference cycle
        # through the C++ graph, which the garbage collector cannot free (a leak per call)
        return t.detach()

    real_checkpoint = forecaster_module.checkpoint

    def counting_checkpoint(function: Any, *inputs: Any, **options: Any) -> Any:
        for t in torch.utils._pytree.tree_leaves(inputs):
            if isinstance(t, Tensor):
                record(t)
        return real_checkpoint(function, *inputs, **options)

    forecaster_module.checkpoint = counting_checkpoint
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = fn(*args, **kwargs)
    finally:
        forecaster_module.checkpoint = real_checkpoint
    return sum(storages.values()), out


def activation_bytes(model: nn.Module, frames: Tensor, input_length: int) -> int:
    """Bytes saved for backward by one training forward of ``model`` on ``frames``."""
    was_training = model.training
    model.train()
    try:
        with torch.enable_grad():
            nbytes, _ = saved_tensor_bytes(model, frames, input_length, exclude=model)
    finally:
        model.train(was_training)
    return nbytes


def count_flops(fn: Any, *args: Any, **kwargs: Any) -> int:
    """FLOPs of ``fn(*args, **kwargs)`` counted by ``torch.utils.flop_counter`` (2 per multiply-add)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn(*args, **kwargs)
    return int(counter.get_total_flops())


def training_flops(model: nn.Module, frames: Tensor, input_length: int) -> int:
    """FLOPs of one training forward (the full rollout of ``frames``)."""
    with torch.no_grad():
        return count_flops(model, frames, input_length)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def training_step_seconds(
    model: nn.Module, frames: Tensor, input_length: int, steps: int = 5, warmup: int = 2
) -> float:
    """Median seconds of a full training step (forward, L2 loss, backward, Adam) after ``warmup`` steps."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.train()
    times = []
    for i in range(warmup + steps):
        _sync(frames.device)
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = (model(frames, input_length) - frames[:, 1:]).square().mean()
        loss.backward()
        optimizer.step()
        _sync(frames.device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def inference_fps(model: Any, inputs: Tensor, horizon: int, repeats: int = 3) -> float:
    """Predicted frames per second of ``model.predict(inputs, horizon)`` (all sequences of the batch)."""
    model.predict(inputs, horizon)  # warm-up
    times = []
    for _ in range(repeats):
        _sync(inputs.device)
        start = time.perf_counter()
        model.predict(inputs, horizon)
        _sync(inputs.device)
        times.append(time.perf_counter() - start)
    return inputs.shape[0] * horizon / statistics.median(times)


@dataclass
class BenchSpec:
    """What to measure: one model at one size."""

    model: str
    preset: str | None = None
    height: int = 64
    width: int = 64
    input_length: int = 10
    output_length: int = 10
    batch: int = 1
    device: str = "cpu"
    options: dict[str, Any] | None = None

    def build(self) -> nn.Module:
        """The model of this spec, on its device."""
        from convrnn.registry import build_model

        opts = dict(self.options or {})
        opts.setdefault("image_size", (self.height, self.width))
        return build_model(self.model, self.preset, **opts).to(self.device)

    def frames(self) -> Tensor:
        """Random frames ``(batch, T_in + T_out, 1, H, W)`` on the device."""
        g = torch.Generator().manual_seed(0)
        t = self.input_length + self.output_length
        return torch.rand(self.batch, t, 1, self.height, self.width, generator=g).to(self.device)


def peak_memory_bytes(spec: BenchSpec) -> int:
    """Peak memory of one training step: CUDA allocator peak, or on CPU the RSS growth in a fresh process."""
    if spec.device.startswith("cuda"):
        model, frames = spec.build(), spec.frames()
        torch.cuda.reset_peak_memory_stats(spec.device)
        base = torch.cuda.memory_allocated(spec.device)
        loss = (model(frames, spec.input_length) - frames[:, 1:]).square().mean()
        loss.backward()
        return int(torch.cuda.max_memory_allocated(spec.device) - base)
    code = (
        "import json, resource, sys, torch\n"
        "from convrnn.cost import BenchSpec\n"
        "spec = BenchSpec(**json.loads(sys.argv[1]))\n"
        "model, frames = spec.build(), spec.frames()\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "loss = (model(frames, spec.input_length) - frames[:, 1:]).square().mean()\n"
        "loss.backward()\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print((after - before) * 1024)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, json.dumps(asdict(spec))],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"peak-memory subprocess failed:\n{result.stderr[-2000:]}")
    return int(result.stdout.strip().splitlines()[-1])


def bench_row(spec: BenchSpec, timing: bool = True, peak_memory: bool = True) -> dict[str, Any]:
    """One row of ``convrnn bench``: params, flops, macs, activation bytes, peak memory, time, fps."""
    from convrnn.registry import count_parameters

    torch.manual_seed(0)
    model, frames = spec.build(), spec.frames()
    flops = training_flops(model, frames, spec.input_length)
    row: dict[str, Any] = {
        "model": spec.model,
        "preset": spec.preset,
        "size": [spec.height, spec.width],
        "frames": [spec.input_length, spec.output_length],
        "batch": spec.batch,
        "device": spec.device,
        "params": count_parameters(model),
        "flops": flops,
        "macs": flops // 2,
        "activation_bytes": activation_bytes(model, frames, spec.input_length),
        "peak_memory_bytes": peak_memory_bytes(spec) if peak_memory else None,
        "step_seconds": None,
        "inference_fps": None,
    }
    if timing:
        row["step_seconds"] = training_step_seconds(model, frames, spec.input_length)
        model.eval()
        row["inference_fps"] = inference_fps(
            model, frames[:, : spec.input_length], spec.output_length
        )
    return row


def max_square_size(
    spec: BenchSpec,
    budget_bytes: int,
    probe_sizes: tuple[int, ...] = (32, 64, 96),
    optimizer_states: int = 2,
) -> dict[str, Any]:
    """Largest square side that trains at batch 1 within ``budget_bytes``.

    Activation bytes are measured at ``probe_sizes`` (rounded up to what the
    model needs) and fitted as ``a + b * H * W``: every saved tensor scales with
    the frame area, which the largest probe checks (``fit_error``). Memory is
    modelled as in MS-RNN Eq. (2): the weights, their gradients and
    ``optimizer_states`` moment buffers (Adam: 2), plus the saved activations and
    their gradients (as large again): ``(2 + states) * 4 * params + 2 * activations``.
    """
    from convrnn.registry import count_parameters

    model = BenchSpec(**{**asdict(spec), "batch": 1}).build()
    divisor = model.divisor
    params = count_parameters(model)
    measured = {}
    for side in sorted({-(-s // divisor) * divisor for s in probe_sizes}):
        probe = BenchSpec(**{**asdict(spec), "height": side, "width": side, "batch": 1})
        measured[side] = activation_bytes(probe.build(), probe.frames(), probe.input_length)
    sides = sorted(measured)
    if len(sides) < 2:
        raise ValueError("max_square_size needs at least two distinct probe sizes")
    (s0, a0), (s1, a1) = (sides[0], measured[sides[0]]), (sides[1], measured[sides[1]])
    per_pixel = (a1 - a0) / (s1 * s1 - s0 * s0)
    fixed_act = a0 - per_pixel * s0 * s0
    last = sides[-1]
    fit_error = abs(fixed_act + per_pixel * last * last - measured[last]) / measured[last]
    fixed = (2 + optimizer_states) * 4 * params
    area = (
        (budget_bytes - fixed - 2 * fixed_act) / (2 * per_pixel) if per_pixel > 0 else float("inf")
    )
    side = int(area**0.5) if area > 0 else 0
    side -= side % divisor
    return {
        "model": spec.model,
        "budget_bytes": budget_bytes,
        "max_side": side,
        "divisor": divisor,
        "params": params,
        "fixed_bytes": fixed,
        "activation_bytes_per_pixel": per_pixel,
        "activation_bytes_fixed": fixed_act,
        "fit_error": fit_error,
        "probes": measured,
    }
