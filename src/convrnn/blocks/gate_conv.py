"""Gate convolutions (the sum of one convolution per input, each computing every gate at once)
and :class:`ConvSpec`, the one description of how a cell's blocks build their convolutions."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from convrnn.blocks.winograd import winograd_applies, winograd_conv3x3
from convrnn.errors import ConfigError

NORMS = ("none", "layer")
#: how a GateConv convolves in training: "auto" (Winograd where measured faster) or "direct" (conv2d)
CONV_ALGORITHMS = ("auto", "direct")


def check_norm(norm: str, height: int | None, width: int | None) -> None:
    """Validate a ``norm=`` option; LayerNorm over [C, H, W] needs the layer's size."""
    if norm not in NORMS:
        raise ConfigError(f"norm={norm!r} is not supported; choose one of {NORMS}")
    if norm == "layer" and (height is None or width is None):
        raise ConfigError(
            "norm='layer' normalises over [C, H, W] and needs the frame size: "
            "pass image_size=(H, W) to build_model"
        )


class GateConv(nn.Module):
    """``sum_i conv_i(inputs[i])``: one k x k convolution per input, with its own bias.

    The per-input convolutions are stored as one weight of shape
    ``(out, sum(in_channels), k, k)`` and one bias row per input, so the
    parameters are exactly those of separate ``nn.Conv2d`` layers (the official
    code's ``conv_x2h`` + ``conv_h2h`` with two biases). Each input's
    convolution computes all the gates at once (``out`` = every gate's channels)
    over its slice of the weight. One convolution over the concatenated inputs
    would give the same sums, but autograd would keep the concatenation for
    backward: 11% (ConvLSTM) to 26% (PredRNN) more saved activations at the
    same step time (measured at the ms-rnn preset, 64x64). Without a graph (inference) and
    without norms it runs that one convolution: half the calls, the same sums up to rounding.

    ``algorithm="auto"`` (default) trains 3x3 convolutions without norms by Winograd
    F(4x4, 3x3) where :func:`~convrnn.blocks.winograd.winograd_applies` (float32 on a CPU,
    frames large enough): all inputs in one pass of 4x fewer multiplies, the same sums up
    to float rounding. ``"direct"`` always runs ``conv2d`` (the official code's arithmetic).

    With ``norm="layer"`` each input's convolution is normalised on its own
    (LayerNorm over ``[out, H, W]``, as in the CMS-LSTM/MoDeRNN code) before the sum.
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
            raise ConfigError(f"kernel_size must be odd to keep the frame size, got {kernel_size}")
        self.in_channels = tuple(int(c) for c in in_channels)
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.padding = kernel_size // 2
        self.norm = norm
        self.algorithm = "auto"
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
        if self.norms is None and len(inputs) > 1 and not torch.is_grad_enabled():
            # no graph to keep the concatenation for: one convolution over all inputs is faster
            bias = None if self.bias is None else self.bias.sum(0)
            return F.conv2d(torch.cat(inputs, dim=1), self.weight, bias, padding=self.padding)
        if (
            self.norms is None
            and self.algorithm == "auto"
            and winograd_applies(self.weight, inputs)
        ):
            bias = None if self.bias is None else self.bias.sum(0)
            return winograd_conv3x3(self.weight, bias, *inputs)
        out = None
        start = 0
        for i, (x, c) in enumerate(zip(inputs, self.in_channels, strict=True)):
            bias = None if self.bias is None else self.bias[i]
            y = F.conv2d(x, self.weight[:, start : start + c], bias, padding=self.padding)
            if self.norms is not None:
                y = self.norms[i](y)
            out = y if out is None else out + y
            start += c
        return out

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
            f"kernel_size={self.kernel_size}, bias={self.bias is not None}, norm={self.norm!r}"
        )

    def set_algorithm(self, algorithm: str) -> None:
        """Train by ``"auto"`` (Winograd where it pays) or ``"direct"`` (``conv2d`` only)."""
        if algorithm not in CONV_ALGORITHMS:
            raise ConfigError(
                f"conv_algorithm={algorithm!r} is not one of {', '.join(CONV_ALGORITHMS)}"
            )
        self.algorithm = algorithm


@dataclass(frozen=True)
class ConvSpec:
    """How a block builds its k x k convolutions and norms: kernel, bias, LayerNorm over [C, H, W].

    A cell makes one from its options and hands it to each block (timm's
    ``norm_layer`` factories, for the papers' layouts): ``norm="layer"`` puts a
    LayerNorm over the layer's ``[C, height, width]`` after each gate
    convolution and needs the size. Blocks with another kernel use
    :meth:`with_kernel`.
    """

    kernel_size: int = 3
    bias: bool = True
    norm: str = "none"
    height: int | None = None
    width: int | None = None

    def __post_init__(self) -> None:
        check_norm(self.norm, self.height, self.width)

    def with_kernel(self, kernel_size: int) -> ConvSpec:
        """The same bias and norm with another kernel size."""
        return replace(self, kernel_size=kernel_size)

    def gate_conv(self, in_channels: Sequence[int], out_channels: int) -> GateConv:
        """A :class:`GateConv` over ``in_channels`` (one convolution per input) to ``out_channels``."""
        return GateConv(
            in_channels,
            out_channels,
            self.kernel_size,
            bias=self.bias,
            norm=self.norm,
            height=self.height,
            width=self.width,
        )

    def conv2d(self, in_channels: int, out_channels: int) -> nn.Conv2d:
        """A plain ``nn.Conv2d`` of this kernel (size-preserving padding) and bias."""
        k = self.kernel_size
        return nn.Conv2d(in_channels, out_channels, k, padding=k // 2, bias=self.bias)

    def layer_norm(self, channels: int, width_factor: int = 1) -> nn.Module:
        """LayerNorm over ``[channels, H, width_factor * W]`` with ``norm="layer"``, else identity."""
        if self.norm != "layer":
            return nn.Identity()
        return nn.LayerNorm([channels, self.height, width_factor * self.width])


#: the MS-RNN code's convolutions (3 x 3, biased, no LayerNorm): the blocks' default
PLAIN = ConvSpec()
