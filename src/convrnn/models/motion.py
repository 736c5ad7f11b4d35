"""Motion of the input frames (dense Lucas-Kanade, coarse to fine) and semi-Lagrangian advection.

The anchor of ``Forecaster(residual=True, anchor="advection")``: the frame a step was given,
moved one step along the motion of the input frames, as pysteps' extrapolation nowcast does
with its Lucas-Kanade field. No weights: the motion is estimated, not learned.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from convrnn.blocks.warp import warp

#: the coarsest level of the pyramid is at least this many pixels on its shorter side
COARSEST_SIDE = 16
#: how strongly the local estimate is pulled to the frame's global motion where rain has no texture
PRIOR_WEIGHT = 0.05


def advect(frame: Tensor, motion: Tensor) -> Tensor:
    """``frame`` ``(B, C, H, W)`` moved along ``motion`` ``(B, 2, H, W)`` (pixels per step, x then y).

    Backward semi-Lagrangian: the value at ``p`` is the bilinear sample of ``frame`` at
    ``p - motion(p)``; zero where that falls outside the frame (nothing flows in).
    """
    return warp(frame, -motion.to(frame.dtype).unsqueeze(1))[:, :, 0]


def gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """``x`` ``(B, C, H, W)`` convolved with a separable Gaussian of ``sigma`` pixels (edges replicated)."""
    radius = max(1, math.ceil(3 * sigma))
    taps = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-(taps**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    c = x.shape[1]
    x = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _gradients(x: Tensor) -> tuple[Tensor, Tensor]:
    """Central differences of ``x`` ``(N, 1, H, W)`` along the width and the height."""
    gx = F.pad(x, (1, 1, 0, 0), mode="replicate")
    gy = F.pad(x, (0, 0, 1, 1), mode="replicate")
    return (gx[..., 2:] - gx[..., :-2]) / 2, (gy[..., 2:, :] - gy[..., :-2, :]) / 2


def _solve(sums: Tensor, prior: Tensor, weight: Tensor) -> Tensor:
    """Per pixel ``(S + w I) v = -b + w prior`` for ``sums`` = (Sxx, Sxy, Syy, Sxt, Syt) ``(B, 5, ...)``."""
    sxx, sxy, syy, sxt, syt = sums.unbind(1)
    a, d = sxx + weight, syy + weight
    rx, ry = -sxt + weight * prior[:, 0], -syt + weight * prior[:, 1]
    det = a * d - sxy * sxy
    return torch.stack(((d * rx - sxy * ry) / det, (a * ry - sxy * rx) / det), dim=1)


def _refine(frames: Tensor, motion: Tensor, window: float) -> Tensor:
    """One Lucas-Kanade update of ``motion`` ``(B, 2, H, W)`` over the pairs of ``frames`` ``(B, T, H, W)``."""
    b, t, h, w = frames.shape
    before = frames[:, :-1].reshape(b * (t - 1), 1, h, w)
    after = frames[:, 1:].reshape(b * (t - 1), 1, h, w)
    moved = advect(before, motion.repeat_interleave(t - 1, dim=0))
    gx, gy = _gradients((moved + after) / 2)
    dt = after - moved
    products = torch.cat((gx * gx, gx * gy, gy * gy, gx * dt, gy * dt), dim=1)
    products = products.view(b, t - 1, 5, h, w).sum(dim=1)
    overall = products.sum(dim=(-2, -1))  # (B, 5): the frame's one global motion
    texture = (overall[:, 0] + overall[:, 2]) / (2 * h * w)
    tiny = texture.clamp_min(1e-12)
    global_step = _solve(overall, overall.new_zeros(b, 2), tiny)
    weight = (PRIOR_WEIGHT * texture).clamp_min(1e-12)[:, None, None]
    local = _solve(gaussian_blur(products, window), global_step[..., None, None], weight)
    return motion + local


def estimate_motion(frames: Tensor, iterations: int = 2) -> Tensor:
    """Motion ``(B, 2, H, W)`` (pixels per step, x then y) of ``frames`` ``(B, T, C, H, W)``, T >= 2.

    Dense Lucas-Kanade on the channel mean, coarse to fine (each level halves the size
    down to about 16 pixels), with a Gaussian window of 1/16 of the frame's longer side
    and every consecutive pair of frames in the least squares: one motion, constant in
    time, as pysteps' extrapolation assumes. Where the frames have no texture (dry
    areas) the estimate falls back to the frame's global motion. A single frame has no
    motion: zeros. Always in float32 (outside autocast), without a graph.
    """
    with torch.no_grad(), torch.autocast(frames.device.type, enabled=False):
        return _pyramid_motion(frames, iterations)


def _pyramid_motion(frames: Tensor, iterations: int) -> Tensor:
    """:func:`estimate_motion` itself."""
    b, t, _, h, w = frames.shape
    if t < 2:
        return frames.new_zeros(b, 2, h, w, dtype=torch.float32)
    intensity = frames.float().mean(dim=2)
    levels = max(0, int(math.log2(max(min(h, w) // COARSEST_SIDE, 1))))
    pyramid = [intensity]
    for _ in range(levels):
        pyramid.append(F.avg_pool2d(pyramid[-1], 2, ceil_mode=True))
    motion = None
    for level in reversed(pyramid):
        lh, lw = level.shape[-2:]
        if motion is None:
            motion = level.new_zeros(b, 2, lh, lw)
        else:
            scale = torch.tensor(
                [lw / motion.shape[-1], lh / motion.shape[-2]], device=level.device
            )
            motion = F.interpolate(motion, size=(lh, lw), mode="bilinear", align_corners=False)
            motion = motion * scale.view(1, 2, 1, 1)
        smooth = gaussian_blur(level.reshape(b * t, 1, lh, lw), 1.0).view(b, t, lh, lw)
        for _ in range(iterations):
            motion = _refine(smooth, motion, max(lh, lw) / 16)
    return motion
