"""MK-LSTM, the multi-kernel cell of MS-LSTM (Ma et al. 2023): two cell memories, 3x3 and 5x5."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from convrnn.blocks import ConvSpec
from convrnn.cells.base import Cell, State
from convrnn.cells.registry import register_model

#: the two kernel sizes, fixed by the paper and the official code
KERNELS = (3, 5)


class MKLSTMCell(Cell):
    """Two ConvLSTM memories with 3x3 and 5x5 kernels and one joint output gate.

    * ``[i3, f3, g3, o3] = W3_x * x + W3_h * h``; ``c3 = s(f3) c3 + s(i3) tanh(g3)``
    * ``[i5, f5, g5, o5] = W5_x * x + W5_h * h``; ``c5 = s(f5) c5 + s(i5) tanh(g5)``
    * ``o = s(o3 + o5 + W3_co * c3 + W5_co * c5)`` (3x3 and 5x5 convolutions)
    * ``h = o * tanh(W_1x1 * [c3, c5])``

    The state is ``(h, c3, c5)``. The kernel sizes are fixed (no
    ``kernel_size`` option). Options: ``forget_bias`` (added to ``f3`` and
    ``f5``) and ``bias``.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        *,
        forget_bias: float = 0.0,
        bias: bool = True,
    ) -> None:
        super().__init__(in_channels, hidden_channels)
        self.forget_bias = forget_bias
        c = hidden_channels
        convs = [ConvSpec(k, bias=bias) for k in KERNELS]
        self.gates = nn.ModuleList(conv.gate_conv([in_channels, c], 4 * c) for conv in convs)
        self.memory_to_gate = nn.ModuleList(conv.gate_conv([c], c) for conv in convs)
        self.fuse = nn.Conv2d(len(KERNELS) * c, c, 1, bias=bias)

    def init_state(
        self, batch: int, height: int, width: int, device: torch.device, dtype: torch.dtype
    ) -> State:
        """``(h, c3, c5)``, zeros."""
        return self.zero_state(batch, height, width, device, dtype, n=1 + len(KERNELS))

    def forward(
        self, x: Tensor, state: State, m: Tensor | None = None
    ) -> tuple[Tensor, State, None]:
        """One step: returns ``(h, (h, c3, c5), None)``."""
        h, *cells = state
        gate = None
        new_cells = []
        for gates, to_gate, c in zip(self.gates, self.memory_to_gate, cells, strict=True):
            i, f, g, o = gates(x, h).chunk(4, dim=1)
            c = torch.sigmoid(f + self.forget_bias) * c + torch.sigmoid(i) * torch.tanh(g)
            new_cells.append(c)
            term = o + to_gate(c)
            gate = term if gate is None else gate + term
        h = torch.sigmoid(gate) * torch.tanh(self.fuse(torch.cat(new_cells, dim=1)))
        return h, (h, *new_cells), None


register_model(
    "mk-lstm",
    MKLSTMCell,
    summary="TMS-LSTM of the MS-LSTM paper: stacked MK-LSTM cells (3x3 and 5x5 cell memories); "
    "its MS twin ms-mk-lstm is MS-LSTM (Ma et al. 2023)",
    params={"ms-rnn": 7_576_897, "ms-lstm": 1_896_097},
    notes=(
        "As the MS-RNN repository's MK_LSTM_Cell (ms_lstm.py) and paper Eq. 3: per kernel size a "
        "biased x-conv and a biased h-conv to 4C (each one convolution for all gates, both biases "
        "kept), output gate from both kernels' o plus a 3x3 conv on c3 and a 5x5 conv on c5, 1x1 "
        "fusion of [c3, c5]. Kernel sizes are fixed at 3 and 5 whatever the preset's kernel_size "
        "(passing kernel_size is an error). No LayerNorm, no forget bias under the presets. The "
        "MS-LSTM paper uses hidden 32 (preset 'ms-lstm')."
    ),
)
