"""Bilinear warping of a feature map along per-pixel flows (TrajGRU's links, MotionRNN's MotionGRU)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def warp(x: Tensor, flows: Tensor, *, official: bool = False) -> Tensor:
    """Bilinear samples of ``x`` at ``p + flow_k(p)`` for every pixel ``p`` and flow ``k``; zeros outside.

    ``x``: ``(B, C, H, W)``; ``flows``: ``(B, K, 2, H, W)`` in pixels, channel 0
    the shift along the width (x), channel 1 along the height (y). Returns
    ``(B, C, K, H, W)``. Pixel ``(i, j)`` has its centre at coordinate
    ``(i, j)``; coordinates are normalised for ``grid_sample`` with the
    ``align_corners=False`` convention (``(2 p + 1) / size - 1``) and sampled
    with that same convention, so a zero flow is exactly the identity and an
    integer flow an exact shift (the official codes normalise by ``size - 1``
    and then sample with ``align_corners=False``: a half-pixel inconsistency).
    ``official=True`` reproduces that: the sample of pixel ``p`` is then taken at
    ``(p + flow) size / (size - 1) - 1/2``, so a zero flow shifts by up to half a
    pixel and stretches by ``size / (size - 1)``.
    """
    b, c, h, w = x.shape
    k = flows.shape[1]
    if flows.shape != (b, k, 2, h, w):
        raise ValueError(
            f"flows must have shape (B, K, 2, H, W) = ({b}, K, 2, {h}, {w}), got {tuple(flows.shape)}"
        )
    cols = torch.arange(w, device=x.device, dtype=x.dtype)
    rows = torch.arange(h, device=x.device, dtype=x.dtype).unsqueeze(1)
    if official:  # the official codes: 2 p / (size - 1) - 1 (size 1: / 1), as in their warp()
        gx = 2 * (cols + flows[:, :, 0]) / max(w - 1, 1) - 1
        gy = 2 * (rows + flows[:, :, 1]) / max(h - 1, 1) - 1
    else:
        gx = (2 * (cols + flows[:, :, 0]) + 1) / w - 1
        gy = (2 * (rows + flows[:, :, 1]) + 1) / h - 1
    # the K sampling grids stacked along the height: one grid_sample over the unrepeated x
    grid = torch.stack((gx, gy), dim=-1).reshape(b, k * h, w, 2)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.view(b, c, k, h, w)
