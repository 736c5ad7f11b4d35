"""``convrnn bench --inference``: one nowcast's latency and the best throughput, next to pysteps' LK.

A nowcast is 4 input frames -> 12 forecast frames (5-minute radar: an hour ahead).
The latency is one sequence (batch 1); the throughput the best sequences per second
over :data:`BATCH_SIZES`. pysteps' Lucas-Kanade motion + semi-Lagrangian
extrapolation runs on the same frames (batch 1) when pysteps and OpenCV are installed.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from convrnn.cost.timing import call_seconds

NOWCAST_INPUTS, NOWCAST_HORIZON = 4, 12
BATCH_SIZES = (1, 4, 16)
DEFAULT_SIZES = (128, 256, 512)


def moving_rain(batch: int, frames: int, height: int, width: int) -> Tensor:
    """Frames ``(batch, frames, 1, H, W)`` in [0, 1]: Gaussian cells moving 2 px right, 1 down per frame."""
    g = torch.Generator().manual_seed(0)
    y = torch.arange(height, dtype=torch.float32)[:, None]
    x = torch.arange(width, dtype=torch.float32)[None, :]
    out = torch.zeros(batch, frames, 1, height, width)
    for b in range(batch):
        centres = torch.rand(6, 2, generator=g) * torch.tensor([height, width])
        radius = max(height, width) / 16
        for t in range(frames):
            for cy, cx in centres:
                cy_t, cx_t = cy + t, cx + 2 * t
                cell = torch.exp(-((y - cy_t) ** 2 + (x - cx_t) ** 2) / (2 * radius**2))
                out[b, t, 0] = torch.maximum(out[b, t, 0], cell)
    return out


def pysteps_seconds(inputs: Tensor, horizon: int, repeats: int) -> float | None:
    """Median seconds of pysteps' LK + extrapolation of ``inputs`` (batch 1); None without pysteps."""
    from convrnn.metrics import optical_flow_forecast
    from convrnn.metrics.baselines import import_pysteps

    try:
        import_pysteps()
    except ImportError:
        return None
    frames = inputs.numpy()
    return call_seconds(
        lambda: optical_flow_forecast(frames, horizon), torch.device("cpu"), repeats
    )


def nowcast_row(
    model: str,
    preset: str | None,
    size: tuple[int, int],
    inference: Any,
    options: dict[str, Any] | None = None,
    batch_sizes: tuple[int, ...] = BATCH_SIZES,
    repeats: int = 3,
    baseline: bool = True,
) -> dict[str, Any]:
    """One row: the model's nowcast latency and best throughput at ``size``, and pysteps' latency."""
    from dataclasses import replace

    from convrnn.models.factory import build_model
    from convrnn.models.inference import predict, prepare

    h, w = size
    torch.manual_seed(0)
    opts = {"image_size": (h, w), **(options or {})}
    net = prepare(build_model(model, preset, **opts), inference)
    device = inference.torch_device
    frames = moving_rain(max(batch_sizes), NOWCAST_INPUTS, h, w)

    def seconds(batch: int) -> float:
        run = replace(inference, batch_size=batch)
        return call_seconds(
            lambda: predict(net, frames[:batch], NOWCAST_HORIZON, run), device, repeats
        )

    latency = seconds(1)
    throughput = {b: b / (latency if b == 1 else seconds(b)) for b in batch_sizes}
    best = max(throughput, key=throughput.get)
    lk = pysteps_seconds(frames[:1], NOWCAST_HORIZON, repeats) if baseline else None
    return {
        "model": model,
        "size": f"{h}x{w}",
        "device": str(device),
        "precision": "bf16" if inference.dtype is not None else "32",
        "memory_format": "channels_last" if getattr(net, "channels_last", False) else "contiguous",
        "frames": f"{NOWCAST_INPUTS}->{NOWCAST_HORIZON}",
        "latency_seconds": latency,
        "best_batch": best,
        "throughput_seq_per_second": throughput[best],
        "pysteps_lk_seconds": lk,
        "speedup_vs_pysteps": None if lk is None else lk / latency,
    }


def format_row(row: dict[str, Any], header: bool) -> str:
    """One line of the nowcast table (after a header line if ``header``)."""

    def num(value: Any, fmt: str) -> str:
        return "-" if value is None or not math.isfinite(value) else format(value, fmt)

    line = (
        f"{row['model']:<18}{row['size']:>10}{row['precision']:>6}{num(row['latency_seconds'], '.4f'):>11}"
        f"{row['best_batch']:>6}{num(row['throughput_seq_per_second'], '.2f'):>10}"
        f"{num(row['pysteps_lk_seconds'], '.4f'):>11}{num(row['speedup_vs_pysteps'], '.2f'):>9}"
    )
    if not header:
        return line
    head = (
        f"{'model':<18}{'size':>10}{'prec':>6}{'latency s':>11}{'batch':>6}{'seq/s':>10}"
        f"{'pysteps s':>11}{'x LK':>9}"
    )
    return f"{head}\n{line}"
