"""Gate convolutions: the sum of one convolution per input, computed as a single convolution."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

NORMS = ("none", "layer")


def check_norm(norm: str, height: int | None, width: int | None) -> None:
    """Validate a ``norm=`` option; LayerNorm over [C, H, W] needs the layer's size."""
    if norm not in NORMS:
        raise ValueError(f"norm={norm!r} is not supported; choose one of {NORMS}")
    if norm == "layer" and (height is None or width is None):
        raise ValueError(
            "norm='layer' normalises over [C, H, W] and needs the frame size: "
            "pass image_size=(H, W) to build_model"
        )


class GateConv(nn.Module):
    """``sum_i conv_i(inputs[i])``: one k x k convolution per input, with its own bias.

    The per-input convolutions are stored as one weight of shape
    ``(out, sum(in_channels), k, k)`` and one bias row per input, so the
    parameters are exactly those of separate ``nn.Conv2d`` layers (the official
    code's ``conv_x2h`` + ``conv_h2h`` with two biases), while the forward pass
    runs a single convolution over the concatenated inputs.

    With ``norm="layer"`` each input's convolution is normalised on its own
    (LayerNorm over ``[out, H, W]``, as in the CMS-LSTM/MoDeRNN code) before the
    sum, so the convolutions then run one per input over slices of the weight.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        out_channels: int,
        kernel_size: int = 3,
        *,
        bias: bool = True,
        norm: str = "none",
        height: int | None = None,
        width: int | None = None,
    ) -> None:
        super().__init__()
        check_norm(norm, height, width)
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd to keep the frame size, got {kernel_size}")
        self.in_channels = tuple(int(c) for c in in_channels)
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.padding = kernel_size // 2
        self.norm = norm
        self.weight = nn.Parameter(
            torch.empty(out_channels, sum(self.in_channels), kernel_size, kernel_size)
        )
        self.bias = nn.Parameter(torch.empty(len(self.in_channels), out_channels)) if bias else None
        self.norms = (
            nn.ModuleList(nn.LayerNorm([out_channels, height, width]) for _ in self.in_channels)
            if norm == "layer"
            else None
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise every input's slice as ``nn.Conv2d`` would initialise its own layer."""
        start = 0
        for i, c in enumerate(self.in_channels):
            block = self.weight.data[:, start : start + c]
            nn.init.kaiming_uniform_(block, a=math.sqrt(5))
            if self.bias is not None:
                bound = 1.0 / math.sqrt(c * self.kernel_size**2)
                nn.init.uniform_(self.bias.data[i], -bound, bound)
            start += c

    def forward(self, *inputs: Tensor) -> Tensor:
        """Gate pre-activations for ``inputs`` (one tensor per declared input)."""
        if len(inputs) != len(self.in_channels):
            raise ValueError(f"GateConv expects {len(self.in_channels)} inputs, got {len(inputs)}")
        if self.norms is None:
            bias = None if self.bias is None else self.bias.sum(0)
            x = inputs[0] if len(inputs) == 1 else torch.cat(inputs, dim=1)
            return F.conv2d(x, self.weight, bias, padding=self.padding)
        out = None
        start = 0
        for i, (x, c) in enumerate(zip(inputs, self.in_channels, strict=True)):
            bias = None if self.bias is None else self.bias[i]
            y = self.norms[i](
                F.conv2d(x, self.weight[:, start : start + c], bias, padding=self.padding)
            )
            out = y if out is None else out + y
            start += c
        return out

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
            f"kernel_size={self.kernel_size}, bias={self.bias is not None}, norm={self.norm!r}"
        )
