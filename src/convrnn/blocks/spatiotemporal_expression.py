"""CMS-LSTM's Spatiotemporal Expression (SE) block as coded by its authors (paper Eqs. 3-7)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from convrnn.blocks.attention import attend
from convrnn.blocks.gate_conv import ConvSpec
from convrnn.errors import ConfigError


def divide(t: Tensor, scale: int) -> Tensor:
    """DIVIDE: ``(B, C, H, W, P) -> (B * scale**2, (H/scale) * (W/scale) * P, C)``.

    Non-overlapping windows of ``H/scale x W/scale`` positions, each window's
    tokens being its positions in all ``P`` stacked maps (SE stacks ``H_t`` and
    ``C_t``, so ``P = 2`` and the two states attend jointly). The official code
    cuts blocks of ``H // scale`` along both axes, which only works for square
    layers; on square layers the two agree, on others this keeps ``scale x scale``
    windows of the layer's own aspect ratio.
    """
    b, c, h, w, p = t.shape
    if h % scale or w % scale:
        raise ValueError(
            f"SE scale {scale} needs the layer's height and width to be divisible by it, got {h}x{w}"
        )
    bh, bw = h // scale, w // scale
    t = t.reshape(b, c, scale, bh, scale, bw, p).permute(0, 2, 4, 3, 5, 6, 1)
    return t.reshape(b * scale * scale, bh * bw * p, c)


def restore(t: Tensor, scale: int, shape: Sequence[int]) -> Tensor:
    """RESTORE: the exact inverse of :func:`divide`, back to ``shape = (B, C, H, W, P)``."""
    b, c, h, w, p = shape
    bh, bw = h // scale, w // scale
    t = t.reshape(b, scale, scale, bh, bw, p, c).permute(0, 6, 1, 3, 2, 4, 5)
    return t.reshape(b, c, h, w, p)


def check_scales(scales: Sequence[int]) -> tuple[int, ...]:
    """Validate ``se_scales``: a non-empty sequence of positive integers."""
    try:
        out = tuple(int(s) for s in scales)
    except TypeError:
        raise ConfigError(f"se_scales must be a sequence of integers, got {scales!r}") from None
    if not out or any(s < 1 for s in out) or any(s != v for s, v in zip(out, scales, strict=True)):
        raise ConfigError(f"se_scales must be positive integers such as (1, 2, 4), got {scales!r}")
    return out


class SpatiotemporalExpression(nn.Module):
    """SE: multi-scale window attention over the joint ``[H_t, C_t]`` tokens, then a SAM-like update.

    1. Per scale ``s`` (``scales``, default (1, 2, 4)): biased 1x1 ``Q, K, V``
       (C -> C), ``DIVIDE`` into windows of side ``H/s``, unscaled
       ``softmax(Q K^T) V`` inside each window, ``RESTORE``, plus the input
       (residual).
    2. The scales' outputs are concatenated on channels and fused by a biased
       k x k convolution (``fuse``, the code's ``conv_bn``) on the map with
       ``H_t`` and ``C_t`` side by side along the width (it runs across the
       seam), with LayerNorm over ``[C, H, 2W]``; the two halves are merged by a
       biased 1x1 convolution ``2C -> C`` into ``Z`` (the paper's ``[A_H, A_C]``).
    3. ``[i, g, o] = W_h * H_t + W_z * Z`` (each k x k, ``bias``, LayerNorm);
       ``C^ = LN((1 - s(i)) C_t + s(i) tanh(g))``, ``H^ = s(o) C^`` (no tanh).

    ``conv`` gives k (5 in the authors' code), the gates' ``bias`` and the
    LayerNorms (``norm="layer"``; none otherwise). ``unused_gamma`` adds the official code's never-used zero scalar per scale
    (it only matters for parameter counts). Set ``record`` to a list to collect,
    per call, the gates ``s(i)`` and ``s(o)``.
    """

    def __init__(
        self,
        channels: int,
        conv: ConvSpec,
        scales: Sequence[int] = (1, 2, 4),
        *,
        unused_gamma: bool = False,
    ) -> None:
        super().__init__()
        k = conv.kernel_size
        if k % 2 != 1:
            raise ConfigError(f"se_kernel must be odd to keep the frame size, got {k}")
        self.scales = check_scales(scales)
        self.channels = channels
        self.qkv = nn.ModuleList(nn.Conv2d(channels, 3 * channels, 1) for _ in self.scales)
        self.gamma = (
            nn.ParameterList(nn.Parameter(torch.zeros(1)) for _ in self.scales)
            if unused_gamma
            else None
        )
        self.fuse = nn.Conv2d(len(self.scales) * channels, channels, k, padding=k // 2)
        self.fuse_norm = conv.layer_norm(channels, width_factor=2)
        self.merge = nn.Conv2d(2 * channels, channels, 1)
        self.gates = conv.gate_conv([channels, channels], 3 * channels)
        self.memory_norm = conv.layer_norm(channels)
        self.record: list[dict[str, Any]] | None = None

    @property
    def size_multiple(self) -> int:
        """The layer's height and width must be multiples of this (every scale divides them)."""
        return math.lcm(*self.scales)

    def multiscale(self, h: Tensor, c: Tensor) -> Tensor:
        """Step 1: the scales' attention outputs, ``(B, len(scales) * C, H, W, 2)``."""
        pair = torch.stack([h, c], dim=-1)
        b, ch, height, width, _ = pair.shape
        flat = pair.reshape(
            b, ch, height, 2 * width
        )  # 1x1 convs are position-wise: any layout works
        outs = []
        for s, proj in zip(self.scales, self.qkv, strict=True):
            q, k, v = (
                divide(t, s) for t in proj(flat).reshape(b, 3 * ch, height, width, 2).chunk(3, 1)
            )
            outs.append(restore(attend(q, k, v, 1.0), s, pair.shape) + pair)
        return torch.cat(outs, dim=1)

    def forward(self, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        """Returns the new ``(H^_t, C^_t)`` that replace the cell's ``(H_t, C_t)``."""
        width = h.shape[-1]
        context = self.multiscale(h, c)
        side_by_side = torch.cat([context[..., 0], context[..., 1]], dim=-1)  # [H | C] on the width
        fused = self.fuse_norm(self.fuse(side_by_side))
        z = self.merge(torch.cat(fused.split(width, dim=-1), dim=1))
        i, g, o = self.gates(h, z).chunk(3, dim=1)
        i, o = torch.sigmoid(i), torch.sigmoid(o)
        if self.record is not None:
            self.record.append({"input_gate": i.detach(), "output_gate": o.detach()})
        c = self.memory_norm((1 - i) * c + i * torch.tanh(g))
        return o * c, c
