"""ConvLSTM (Shi et al. 2015) as coded in the MS-RNN repository, with the CMS-LSTM options."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from convrnn.blocks import GateConv
from convrnn.cells.base import Cell, State
from convrnn.registry import register_model


class ConvLSTMCell(Cell):
    """ConvLSTM: ``[i, f, g, o] = W_x * x + W_h * h``; ``c = f c + i g``; ``h = o tanh(c)``.

    Options: ``kernel_size``; ``norm`` ("none", or "layer": LayerNorm over
    [C, H, W] after each gate convolution and on ``c``, as in the CMS-LSTM and
    MoDeRNN code); ``forget_bias`` added to the forget gate pre-activation;
    ``bias`` for the gate convolutions (the MS-RNN code has a biased x-conv and a
    biased h-conv, i.e. two bias vectors, which this cell keeps).
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
        height: int | None = None,
        width: int | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.forget_bias = forget_bias
        self.gates = GateConv(
            [in_channels, hidden_channels],
            4 * hidden_channels,
            kernel_size,
            bias=bias,
            norm=norm,
            height=height,
            width=width,
        )
        self.cell_norm = (
            nn.LayerNorm([hidden_channels, height, width]) if norm == "layer" else nn.Identity()
        )

    def forward(
        self, x: Tensor, state: State, m: Tensor | None = None
    ) -> tuple[Tensor, State, None]:
        """One step: returns ``(h, (h, c), None)``."""
        h, c = state
        i, f, g, o = self.gates(x, h).chunk(4, dim=1)
        c = torch.sigmoid(f + self.forget_bias) * c + torch.sigmoid(i) * torch.tanh(g)
        c = self.cell_norm(c)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c), None


register_model(
    "convlstm",
    ConvLSTMCell,
    summary="ConvLSTM (Shi et al. 2015); its MS twin is MS-ConvLSTM, i.e. SMS-LSTM of the MS-LSTM paper",
    params={"ms-rnn": 1_772_737, "ms-lstm": 444_001},
    notes="Gate order i, f, g, o; no peepholes, as in the MS-RNN code. The x- and h-convolutions run as "
    "one convolution over [x, h] with both bias vectors kept, so the count equals the official code's.",
)
