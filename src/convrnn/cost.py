"""Cost analysis: parameters, FLOPs, saved activations, peak memory, step time, inference speed, max size.

Conventions: ``flops`` are counted by PyTorch's own ``FlopCounterMode`` on one
training forward pass (2 FLOPs per multiply-add); ``macs = flops / 2`` is the
unit of the OpenSTL and MS-RNN tables. ``activation_bytes`` are the bytes of
the tensors autograd saves for backward during that forward (each storage
once, parameters excluded): exact and device-independent. ``peak_memory_bytes``
is what one full training step (forward, loss, backward, Adam step) needs on
top of the persistent weights, optimizer state and data, after a warm-up step:
the CUDA allocator's peak, or on CPU the RSS high-water mark of a fresh process
(see :func:`measure_peak_memory`).
"""

from __future__ import annotations

import gc
import json
import math
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from convrnn.io import proc_status


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


def _train_step(model: nn.Module, frames: Tensor, input_length: int, optimizer: Any) -> None:
    """One full training step: forward, L2 loss, backward and ``optimizer.step()``."""
    optimizer.zero_grad(set_to_none=True)
    loss = (model(frames, input_length) - frames[:, 1:]).square().mean()
    loss.backward()
    optimizer.step()


def _proc_status_bytes(field: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``) in bytes; None without /proc."""
    text = proc_status(field)
    return int(text) * 1024 if text is not None and text.isdigit() else None


def _reset_rss_peak() -> bool:
    """Reset this process's ``VmHWM`` to its current RSS (Linux >= 4.0); False where that fails."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    hwm, rss = _proc_status_bytes("VmHWM"), _proc_status_bytes("VmRSS")
    # a kernel that ignores "5" leaves the old high-water mark (a page of slack for the race)
    return hwm is not None and rss is not None and hwm <= rss + 4096


def _release_free_heap() -> None:
    """Give the pages that malloc keeps after ``free`` back to the OS (glibc), so RSS is live memory."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


def measure_peak_memory(spec: BenchSpec) -> dict[str, Any]:
    """Peak memory of one full training step of ``spec``, measured in this process.

    Returns ``{"peak_memory_bytes": int | None, "peak_memory_method": str}``. The
    model, data and Adam are built and one warm-up step is run first, so the
    persistent state (weights, Adam's moment buffers, the frames) and one-time
    costs (allocator and oneDNN first touch, lazy initialisation, kernel
    selection) are in the baseline and not counted. The figure is what one
    step needs on top of that state: the saved activations, their gradients,
    the parameter gradients and the workspace of forward, backward and
    ``optimizer.step()``.

    * CUDA (``"cuda-allocator"``): ``max_memory_allocated`` during the step
      minus ``memory_allocated`` before it.
    * CPU on Linux (``"vmhwm"``): the RSS high-water mark is reset through
      ``/proc/self/clear_refs``; the peak is ``VmHWM`` after the step minus
      ``VmRSS`` before it (freed heap pages are returned to the OS first, so
      the baseline is live memory). Run it in a fresh process
      (:func:`peak_memory_bytes` does) so other work does not share the RSS.
    * CPU without a resettable ``VmHWM`` (no ``/proc``: macOS; Linux < 4.0)
      (``"ru_maxrss"``): the growth of ``ru_maxrss`` over the first step,
      without warm-up (so first-touch costs are in). A lower bound only: it reads low, down
      to 0, whenever the process's high-water mark is already above what the
      step needs (on Linux a child inherits its parent's).
    """
    torch.manual_seed(0)
    model, frames = spec.build(), spec.frames()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    device = frames.device
    if device.type == "cuda":
        _train_step(model, frames, spec.input_length, optimizer)  # warm-up
        optimizer.zero_grad(set_to_none=True)
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        _train_step(model, frames, spec.input_length, optimizer)
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - base
        return {"peak_memory_bytes": int(peak), "peak_memory_method": "cuda-allocator"}
    if _reset_rss_peak():  # Linux >= 4.0: a resettable high-water mark
        _train_step(model, frames, spec.input_length, optimizer)  # warm-up
        optimizer.zero_grad(set_to_none=True)
        _release_free_heap()
        _reset_rss_peak()
        base = _proc_status_bytes("VmRSS")
        _train_step(model, frames, spec.input_length, optimizer)
        hwm = _proc_status_bytes("VmHWM")
        if base is not None and hwm is not None:
            return {"peak_memory_bytes": max(hwm - base, 0), "peak_memory_method": "vmhwm"}
    try:
        import resource
    except ImportError:  # Windows
        return {"peak_memory_bytes": None, "peak_memory_method": "unavailable"}
    unit = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is bytes on macOS, KiB on Linux
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _train_step(model, frames, spec.input_length, optimizer)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_memory_bytes": (after - before) * unit, "peak_memory_method": "ru_maxrss"}


def peak_memory_stats(spec: BenchSpec) -> dict[str, Any]:
    """:func:`measure_peak_memory` of ``spec``: in this process on CUDA, in a fresh process on CPU."""
    if spec.device.startswith("cuda"):
        return measure_peak_memory(spec)
    code = (
        "import json, sys\n"
        "from convrnn.cost import BenchSpec, measure_peak_memory\n"
        "print(json.dumps(measure_peak_memory(BenchSpec(**json.loads(sys.argv[1])))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, json.dumps(asdict(spec))],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"peak-memory subprocess failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def peak_memory_bytes(spec: BenchSpec) -> int | None:
    """Peak memory of one full training step (forward, loss, backward, Adam step) above the
    persistent state, after a warm-up step; see :func:`measure_peak_memory` for how."""
    return peak_memory_stats(spec)["peak_memory_bytes"]


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
        "peak_memory_bytes": None,
        "peak_memory_method": None,
        "step_seconds": None,
        "inference_fps": None,
    }
    if peak_memory:
        row.update(peak_memory_stats(spec))
    if timing:
        row["step_seconds"] = training_step_seconds(model, frames, spec.input_length)
        model.eval()
        row["inference_fps"] = inference_fps(
            model, frames[:, : spec.input_length], spec.output_length
        )
    return row


def _line_through(points: dict[int, int]) -> tuple[float, float, float | None]:
    """``(a, b, error)`` of ``a + b * side**2`` through the two smallest sides; ``error`` is the
    relative miss at the largest side (None with only two sides: the line is exact there)."""
    sides = sorted(points)
    (s0, y0), (s1, y1) = (sides[0], points[sides[0]]), (sides[1], points[sides[1]])
    slope = (y1 - y0) / (s1 * s1 - s0 * s0)
    intercept = y0 - slope * s0 * s0
    if len(sides) < 3:
        return intercept, slope, None
    last = sides[-1]
    error = abs(intercept + slope * last * last - points[last]) / max(points[last], 1)
    return intercept, slope, error


def max_square_size(
    spec: BenchSpec,
    budget_bytes: int,
    probe_sizes: tuple[int, ...] = (32, 64, 96),
    optimizer_states: int = 2,
) -> dict[str, Any]:
    """Largest square side that trains at batch 1 within ``budget_bytes``.

    Memory is modelled as in MS-RNN Eq. (2): the weights, their gradients and
    ``optimizer_states`` moment buffers (Adam: 2), plus the saved activations and
    their gradients (as large again): ``(2 + states) * 4 * params + 2 * activations``.
    Both terms are measured at ``probe_sizes`` (rounded up to what the model
    needs) and fitted as ``a + b * H * W`` through the two smallest probes: every
    saved tensor scales with the frame area, and so do the parameters of models
    with LayerNorm over ``[C, H, W]`` (``norm="layer"``; the others have ``b = 0``).
    With a third probe the fit is checked at the largest one: ``fit_error`` is the
    relative error of the modelled memory there (``activation_fit_error`` and
    ``params_fit_error`` of each term), None with two probes.

    ``max_side`` is a multiple of the model's ``divisor``; it is 0 when not even
    the smallest such frame fits, and None when the probes show no growth with
    the area (nothing to extrapolate); ``note`` then says why.
    """
    from convrnn.registry import count_parameters

    def square(side: int) -> BenchSpec:
        options = {**(spec.options or {}), "image_size": (side, side)}
        fields = {**asdict(spec), "height": side, "width": side, "batch": 1, "options": options}
        return BenchSpec(**fields)

    divisor = BenchSpec(**{**asdict(spec), "batch": 1}).build().divisor
    params: dict[int, int] = {}
    acts: dict[int, int] = {}
    for side in sorted({-(-s // divisor) * divisor for s in probe_sizes}):
        probe = square(side)
        model = probe.build()
        params[side] = count_parameters(model)
        acts[side] = activation_bytes(model, probe.frames(), probe.input_length)
        del model
    if len(acts) < 2:
        raise ValueError(
            f"max_square_size needs at least two distinct probe sizes after rounding up to "
            f"multiples of {divisor}, got {sorted(acts)} from probe_sizes={probe_sizes}"
        )
    params_fixed, params_per_pixel, params_error = _line_through(params)
    act_fixed, act_per_pixel, act_error = _line_through(acts)
    k = (2 + optimizer_states) * 4

    def memory(area: float) -> float:
        return k * (params_fixed + params_per_pixel * area) + 2 * (act_fixed + act_per_pixel * area)

    bytes_fixed, bytes_per_pixel = memory(0), k * params_per_pixel + 2 * act_per_pixel
    last = max(acts)
    fit_error = None
    if act_error is not None:
        measured = k * params[last] + 2 * acts[last]
        fit_error = abs(memory(last * last) - measured) / measured
    note = None
    side: int | None
    if bytes_per_pixel <= 0:
        side = None
        note = (
            f"memory does not grow with the frame area between the probes {sorted(acts)} "
            f"({bytes_per_pixel:.3g} bytes per pixel), so no largest size can be extrapolated; "
            "probe larger sizes"
        )
    else:
        area = (budget_bytes - bytes_fixed) / bytes_per_pixel
        side = math.isqrt(int(area)) if area > 0 else 0
        side -= side % divisor
        while side > 0 and memory(side * side) > budget_bytes:  # float rounding at the edge
            side -= divisor
        if side == 0:
            note = (
                f"not even a {divisor}x{divisor} frame fits in {budget_bytes:,} bytes "
                f"({memory(divisor * divisor):,.0f} bytes modelled)"
            )
    params_at_side = round(params_fixed + params_per_pixel * side * side) if side else None
    return {
        "model": spec.model,
        "budget_bytes": budget_bytes,
        "max_side": side,
        "divisor": divisor,
        "memory_at_max_side": memory(side * side) if side else None,
        "params_at_max_side": params_at_side,
        "bytes_fixed": bytes_fixed,
        "bytes_per_pixel": bytes_per_pixel,
        "params_fixed": params_fixed,
        "params_per_pixel": params_per_pixel,
        "activation_bytes_fixed": act_fixed,
        "activation_bytes_per_pixel": act_per_pixel,
        "fit_error": fit_error,
        "activation_fit_error": act_error,
        "params_fit_error": params_error,
        "probes": {s: {"params": params[s], "activation_bytes": acts[s]} for s in sorted(acts)},
        "note": note,
    }
