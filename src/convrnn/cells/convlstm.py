"""ConvLSTM (Shi et al. 2015) as coded in the MS-RNN repository, with the CMS-LSTM options."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from convrnn.blocks import CellContext, ConvSpec
from convrnn.cells.base import Cell, State
from convrnn.cells.registry import register_model

#: the MS-RNN repository's CMS-LSTM port runs SE with the cell's 3x3 kernel instead of 5x5
MS_RNN_PORT_SE = {"ms-rnn": {"se_kernel": 3}, "ms-lstm": {"se_kernel": 3}}
#: the CMS-LSTM and MoDeRNN authors' code: LayerNorm over [C, H, W], forget bias 1, bias-free convs
AUTHORS_CODE = {"norm": "layer", "forget_bias": 1.0, "bias": False}


class ConvLSTMCell(Cell):
    """ConvLSTM: ``[i, f, g, o] = W_x * x + W_h * h``; ``c = f c + i g``; ``h = o tanh(c)``.

    Options: ``kernel_size``; ``norm`` ("none", or "layer": LayerNorm over
    [C, H, W] after each gate convolution and on ``c``, as in the CMS-LSTM and
    MoDeRNN code); ``forget_bias`` added to the forget gate pre-activation;
    ``bias`` for the gate convolutions (the MS-RNN code has a biased x-conv and a
    biased h-conv, i.e. two bias vectors, which this cell keeps).

    CMS-LSTM's blocks as options (Table 3 of its paper): ``ce`` (Context
    Embedding on ``(X_t, H_{t-1})`` before the gates), ``dcb`` (MoDeRNN's Detail
    Context Block in the same place), ``se`` (Spatiotemporal Expression on
    ``(H_t, C_t)`` after the update, with windows ``se_scales`` and kernel
    ``se_kernel``; the layer's size must then be divisible by every scale).
    ``se_unused_gamma`` keeps the official SE's never-used scalar per scale. See
    :class:`convrnn.blocks.CellContext`; with all of them off the cell is the
    plain ConvLSTM above.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        kernel_size: int = 3,
        *,
        norm: str = "none",
        forget_bias: float = 0.0,
        bias: bool = True,
        ce: bool = False,
        dcb: bool = False,
        se: bool = False,
        se_scales: Sequence[int] = (1, 2, 4),
        se_kernel: int = 5,
        se_unused_gamma: bool = False,
        height: int | None = None,
        width: int | None = None,
    ) -> None:
        super().__init__(in_channels, hidden_channels)
        self.forget_bias = forget_bias
        conv = ConvSpec(kernel_size, bias=bias, norm=norm, height=height, width=width)
        self.gates = conv.gate_conv([in_channels, hidden_channels], 4 * hidden_channels)
        self.cell_norm = conv.layer_norm(hidden_channels)
        self.context = CellContext(
            in_channels, hidden_channels, conv, ce=ce, dcb=dcb, se=se, se_scales=se_scales,
            se_kernel=se_kernel, se_unused_gamma=se_unused_gamma,
        )  # fmt: skip
        self.size_multiple = self.context.size_multiple

    def lstm(self, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        """The ConvLSTM update alone: ``(H_t, C_t)`` from ``X_t``, ``H_{t-1}``, ``C_{t-1}``."""
        i, f, g, o = self.gates(x, h).chunk(4, dim=1)
        c = torch.sigmoid(f + self.forget_bias) * c + torch.sigmoid(i) * torch.tanh(g)
        c = self.cell_norm(c)
        return torch.sigmoid(o) * torch.tanh(c), c

    def forward(
        self, x: Tensor, state: State, m: Tensor | None = None
    ) -> tuple[Tensor, State, None]:
        """One step: returns ``(h, (h, c), None)``."""
        h, c = state
        x, h = self.context.embed(x, h)
        h, c = self.context.express(*self.lstm(x, h, c))
        return h, (h, c), None


register_model(
    "convlstm",
    ConvLSTMCell,
    summary="ConvLSTM (Shi et al. 2015); its MS twin is MS-ConvLSTM, i.e. SMS-LSTM of the MS-LSTM paper",
    params={"ms-rnn": 1_772_737, "ms-lstm": 444_001},
    notes="Gate order i, f, g, o; no peepholes, as in the MS-RNN code. The x- and h-convolutions each "
    "compute all four gates at once, with both bias vectors kept, so the count equals the official code's. "
    "ce=/dcb=/se= add CMS-LSTM's CE, MoDeRNN's DCB and CMS-LSTM's SE (CMS-LSTM Table 3 rows: "
    "ce=True, se=True is CMS-LSTM; se_scales=(1,) and (1, 2) are its 1- and 2-scale SE); under the "
    "ms-rnn/ms-lstm presets SE uses kernel 3 as in the MS-RNN repository's CMS-LSTM port, so "
    "build_model('convlstm', 'ms-rnn', ce=True, se=True) is that port exactly.",
    preset_options=MS_RNN_PORT_SE,
)
