"""MoDeRNN's Detail Context Block (DCB) as coded by its authors."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from convrnn.blocks.context_embedding import AlternatingContext
from convrnn.blocks.gate_conv import ConvSpec
from convrnn.errors import ConfigError


class _MultiKernel(nn.Module):
    """``mean_k LN_k(W_k * x)`` over one convolution (and LayerNorm) per kernel size."""

    def __init__(
        self, in_channels: int, out_channels: int, kernels: Sequence[int], conv: ConvSpec
    ) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            conv.with_kernel(k).gate_conv([in_channels], out_channels) for k in kernels
        )

    def forward(self, x: Tensor) -> Tensor:
        out = self.convs[0](x)
        for conv in self.convs[1:]:
            out = out + conv(x)
        return out / len(self.convs)


class DetailContext(AlternatingContext):
    """DCB (MoDeRNN, as coded; the paper's Eq. 2 has typos): CE with multi-kernel weights.

    ``A = mean_k LN_k(W^h_k * h)`` (h -> x) and ``B = mean_k LN_k(W^x_k * x)``
    (x -> h) over ``kernels`` (3, 5, 7): each kernel has its own convolution and
    LayerNorm, applied before the average; the sigmoid comes after it. ``conv``
    gives bias and norm (its kernel size is replaced by each of ``kernels``).
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        conv: ConvSpec,
        *,
        kernels: Sequence[int] = (3, 5, 7),
        iterations: int = 5,
        scale: float = 2.0,
    ) -> None:
        super().__init__(iterations, scale)
        if not kernels:
            raise ConfigError("DetailContext needs at least one kernel size")
        self.from_hidden = _MultiKernel(hidden_channels, in_channels, kernels, conv)
        self.from_input = _MultiKernel(in_channels, hidden_channels, kernels, conv)

    def input_logits(self, h: Tensor) -> Tensor:
        return self.from_hidden(h)

    def hidden_logits(self, x: Tensor) -> Tensor:
        return self.from_input(x)
