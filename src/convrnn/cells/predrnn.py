"""PredRNN's ST-LSTM (Wang et al. 2017) as coded in the MS-RNN repository."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from convrnn.blocks import CellContext, ConvSpec, GatedMemory, MemoryOutput
from convrnn.cells.base import Cell, State
from convrnn.cells.convlstm import MS_RNN_PORT_SE
from convrnn.cells.registry import register_model


class STStep(NamedTuple):
    """Everything one ST-LSTM step computes: the new tensors and the two memory increments."""

    h: Tensor
    c: Tensor
    m: Tensor
    delta_c: Tensor  # sigma(i) * tanh(g), the increment of the cell memory
    delta_m: Tensor  # sigma(i') * tanh(g'), the increment of the spatiotemporal memory


class PredRNNCell(Cell):
    """ST-LSTM: a ConvLSTM cell memory ``c`` plus the zig-zag spatiotemporal memory ``m``.

    * ``[i, f, g, o] = W_x * x + W_h * h``; ``c = s(f) c + s(i) tanh(g)``
    * ``[i', f', g'] = W_xm * x + W_mm * m``; ``m = s(f') m + s(i') tanh(g')``
    * ``h = s(o + W_co * c + W_mo * m) * tanh(W_1x1 * [c, m])``

    Every convolution is biased (``bias=True``), one per input as in the MS-RNN
    code. Options: ``kernel_size``; ``norm`` ("layer": LayerNorm over [C, H, W]
    after each gate convolution, as the thuml code does); ``forget_bias`` (added
    to ``f`` and ``f'``); ``bias``; ``ce`` / ``se`` / ``se_scales`` / ``se_kernel``: CMS-LSTM's
    context embedding on ``(x, h)`` before the gates and spatiotemporal expression on
    ``(h, c)`` after the update (CMS-LSTM Table 3); the zig-zag memory ``m`` is left alone.
    """

    uses_zigzag = True

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
        se: bool = False,
        se_scales: Sequence[int] = (1, 2, 4),
        se_kernel: int = 5,
        height: int | None = None,
        width: int | None = None,
    ) -> None:
        super().__init__(in_channels, hidden_channels)
        self.forget_bias = forget_bias
        conv = ConvSpec(kernel_size, bias=bias, norm=norm, height=height, width=width)
        self.gates = conv.gate_conv([in_channels, hidden_channels], 4 * hidden_channels)
        self.memory = GatedMemory(in_channels, hidden_channels, conv, forget_bias=forget_bias)
        self.output = MemoryOutput(hidden_channels, 2, conv)
        self.context = CellContext(
            in_channels, hidden_channels, conv, ce=ce, se=se, se_scales=se_scales,
            se_kernel=se_kernel,
        )  # fmt: skip
        self.size_multiple = self.context.size_multiple

    def step(self, x: Tensor, state: State, m: Tensor | None) -> STStep:
        """One ST-LSTM step, also returning the memory increments (PredRNN-V2 needs them)."""
        h, c = state
        if m is None:
            m = self.zeros_like_memory(x)
        x, h = self.context.embed(x, h)
        i, f, g, o = self.gates(x, h).chunk(4, dim=1)
        delta_c = torch.sigmoid(i) * torch.tanh(g)
        c = torch.sigmoid(f + self.forget_bias) * c + delta_c
        m, delta_m = self.memory(x, m)
        h = self.output(o, c, m)
        h, c = self.context.express(h, c)
        return STStep(h, c, m, delta_c, delta_m)

    def forward(
        self, x: Tensor, state: State, m: Tensor | None = None
    ) -> tuple[Tensor, State, Tensor]:
        """One step: returns ``(h, (h, c), m)``."""
        out = self.step(x, state, m)
        return out.h, (out.h, out.c), out.m


register_model(
    "predrnn",
    PredRNNCell,
    summary="PredRNN (Wang et al. 2017): ST-LSTM cells with the zig-zag spatiotemporal memory",
    params={"ms-rnn": 3_594_817, "ms-lstm": 900_385},
    preset_options=MS_RNN_PORT_SE,
    notes=(
        "Equations as the MS-RNN code computes them, which differ from the thuml PredRNN: separate "
        "biased convolutions for x -> (i, f, g, o) and x -> (i', f', g') (the thuml code has one x-conv "
        "to 7C), the output gate uses one k x k convolution on c and another on m (thuml: one conv on "
        "[c, m]), no LayerNorm and no forget bias under the presets (thuml: LayerNorm and forget bias "
        "1.0; both are available as norm='layer', forget_bias=1.0, but the thuml bias-free, "
        "one-x-conv layout is not). The x- and h-convolutions each compute all their gates at once "
        "with both bias vectors kept, so the count equals the official code's. The zig-zag memory "
        "starts from zeros at the first step. ce=True / se=True add CMS-LSTM's blocks as CMS-LSTM "
        "Table 3 transplants them (no official code exists for the transplant): CE on (x, h) before "
        "the gate convolutions, SE on (h, c) after the update, m untouched; under the ms-rnn preset "
        "with ce and se: 6,305,473 parameters (SE kernel 3 as in the MS-RNN port)."
    ),
)
