"""The rows of ``convrnn bench``: one model at one size (:class:`BenchSpec`), and the largest trainable size."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from convrnn.cost.counters import count_parameters, training_flops
from convrnn.cost.memory import call_in_fresh_process, step_peak_memory
from convrnn.cost.timing import inference_fps, train_step, training_step_seconds
from convrnn.errors import ConfigError


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
        from convrnn.models.factory import build_model

        opts = dict(self.options or {})
        opts.setdefault("image_size", (self.height, self.width))
        return build_model(self.model, self.preset, **opts).to(self.device)

    def frames(self) -> Tensor:
        """Random frames ``(batch, T_in + T_out, 1, H, W)`` on the device."""
        g = torch.Generator().manual_seed(0)
        t = self.input_length + self.output_length
        return torch.rand(self.batch, t, 1, self.height, self.width, generator=g).to(self.device)


def _activation_bytes(model: nn.Module, frames: Tensor, input_length: int) -> int:
    """``convrnn.cost.activation_bytes``, looked up at call time so that a replacement there is used."""
    import convrnn.cost

    return convrnn.cost.activation_bytes(model, frames, input_length)


def measure_peak_memory(spec: BenchSpec) -> dict[str, Any]:
    """Peak memory of one full training step of ``spec``, measured in this process.

    Returns :func:`~convrnn.cost.memory.step_peak_memory`'s dict. The
    model, data and Adam are built and one warm-up step is run first, so the
    persistent state (weights, Adam's moment buffers, the frames) and one-time
    costs are in the baseline and not counted. The figure is what one step needs
    on top of that state: the saved activations, their gradients, the parameter
    gradients and the workspace of forward, backward and ``optimizer.step()``.
    See :func:`convrnn.cost.memory.step_peak_memory` for the methods.
    """
    torch.manual_seed(0)
    model, frames = spec.build(), spec.frames()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    return step_peak_memory(
        lambda: train_step(model, frames, spec.input_length, optimizer),
        frames.device,
        settle=lambda: optimizer.zero_grad(set_to_none=True),
    )


def _peak_memory_of_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """:func:`measure_peak_memory` of ``BenchSpec(**fields)`` (what the fresh process runs)."""
    return measure_peak_memory(BenchSpec(**fields))


def peak_memory_stats(spec: BenchSpec) -> dict[str, Any]:
    """:func:`measure_peak_memory` of ``spec``: in this process on CUDA, in a fresh process on CPU."""
    if spec.device.startswith("cuda"):
        return measure_peak_memory(spec)
    return call_in_fresh_process("convrnn.cost.bench:_peak_memory_of_fields", asdict(spec))


def bench_row(spec: BenchSpec, timing: bool = True, peak_memory: bool = True) -> dict[str, Any]:
    """One row of ``convrnn bench``: params, flops, macs, activation bytes, peak memory, time, fps."""
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
        "activation_bytes": _activation_bytes(model, frames, spec.input_length),
        "peak_memory_bytes": None,
        "peak_memory_method": None,
        "process_peak_bytes": None,
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


def _probe(
    spec: BenchSpec, probe_sizes: tuple[int, ...]
) -> tuple[int, dict[int, int], dict[int, int]]:
    """The model's divisor, and its parameters and activation bytes at each probe side (rounded up)."""

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
        acts[side] = _activation_bytes(model, probe.frames(), probe.input_length)
        del model
    if len(acts) < 2:
        raise ConfigError(
            f"max_square_size needs at least two distinct probe sizes after rounding up to "
            f"multiples of {divisor}, got {sorted(acts)} from probe_sizes={probe_sizes}"
        )
    return divisor, params, acts


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
    divisor, params, acts = _probe(spec, probe_sizes)
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
