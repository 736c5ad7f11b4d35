"""PredRNN++ (Wang et al. 2018): the Causal LSTM and the Gradient Highway Unit, as in the MS-RNN code."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from convrnn.blocks import ConvSpec
from convrnn.cells.base import Cell, State
from convrnn.cells.registry import register_model

#: the layer whose input goes through the Gradient Highway Unit (between the first and second layer)
HIGHWAY_LAYER = 1


class PredRNNPPCell(Cell):
    """Causal LSTM; in layer 1 the input first passes the Gradient Highway Unit (GHU).

    * GHU (layer 1): ``[p, s] = W_x * x + W_z * z``; ``z = s(s) tanh(p) + (1 - s(s)) z``; ``x := z``
    * ``[i, f, g] = W * [x, h, c]``; ``c = s(f) c + s(i) tanh(g)``
    * ``[i', f', g'] = W * [x, c, m]``; ``m = s(f') tanh(W_1x1 * m) + s(i') tanh(g')``
    * ``o = tanh(W * [x, c, m])`` (tanh, not sigmoid: as in the official TF and MS-RNN code)
    * ``h = o * tanh(W_1x1 * [c, m])``

    The state is ``(h, c, z)`` in layer 1 and ``(h, c)`` elsewhere (the
    official code carries ``z = None`` there). ``faithful=True`` builds the
    GHU convolutions in every layer, as the official code does, although only
    layer 1 uses them; ``faithful=False`` builds them only where they are used.
    """

    uses_zigzag = True

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        kernel_size: int = 3,
        *,
        forget_bias: float = 0.0,
        bias: bool = True,
        faithful: bool = True,
        layer_index: int = 0,
    ) -> None:
        super().__init__(in_channels, hidden_channels)
        self.forget_bias = forget_bias
        self.uses_highway = layer_index == HIGHWAY_LAYER
        c = hidden_channels
        conv = ConvSpec(kernel_size, bias=bias)
        use_ghu = self.uses_highway or faithful
        self.highway = conv.gate_conv([in_channels, c], 2 * c) if use_ghu else None
        x_channels = c if self.uses_highway else in_channels  # the GHU output replaces x
        self.cell_gates = conv.gate_conv([x_channels + 2 * c], 3 * c)
        self.memory_gates = conv.gate_conv([x_channels + 2 * c], 3 * c)
        self.memory_carry = nn.Conv2d(c, c, 1, bias=bias)
        self.output_gate = conv.gate_conv([x_channels + 2 * c], c)
        self.fuse = nn.Conv2d(2 * c, c, 1, bias=bias)

    def init_state(
        self, batch: int, height: int, width: int, device: torch.device, dtype: torch.dtype
    ) -> State:
        """``(h, c, z)`` in the highway layer, ``(h, c)`` elsewhere; all zeros."""
        return self.zero_state(batch, height, width, device, dtype, n=3 if self.uses_highway else 2)

    def forward(
        self, x: Tensor, state: State, m: Tensor | None = None
    ) -> tuple[Tensor, State, Tensor]:
        """One step: returns ``(h, (h, c[, z]), m)``."""
        h, c = state[0], state[1]
        if m is None:
            m = self.zeros_like_memory(x)
        if self.uses_highway:
            p, s = self.highway(x, state[2]).chunk(2, dim=1)
            u = torch.sigmoid(s)
            x = z = u * torch.tanh(p) + (1 - u) * state[2]
        i, f, g = self.cell_gates(torch.cat([x, h, c], dim=1)).chunk(3, dim=1)
        c = torch.sigmoid(f + self.forget_bias) * c + torch.sigmoid(i) * torch.tanh(g)
        i, f, g = self.memory_gates(torch.cat([x, c, m], dim=1)).chunk(3, dim=1)
        m = torch.sigmoid(f + self.forget_bias) * torch.tanh(self.memory_carry(m)) + torch.sigmoid(
            i
        ) * torch.tanh(g)
        o = torch.tanh(self.output_gate(torch.cat([x, c, m], dim=1)))
        h = o * torch.tanh(self.fuse(torch.cat([c, m], dim=1)))
        return h, ((h, c, z) if self.uses_highway else (h, c)), m


register_model(
    "predrnn++",
    PredRNNPPCell,
    summary="PredRNN++ (Wang et al. 2018): Causal LSTM cells with the Gradient Highway Unit between "
    "the first and second layer",
    params={"ms-rnn": 5_608_513, "ms-lstm": 1_403_425},
    unused=rf"cells\.(?!{HIGHWAY_LAYER}\.)\d+\.highway\.",
    notes=(
        "Equations as the MS-RNN code computes them. The GHU is fused with layer 1 (the MS-RNN "
        "paper's Fig. 2): layer 1 keeps z in its state and feeds the GHU output to its Causal LSTM. "
        "The output gate is o = tanh(W * [x, c, m]), as in the official TF code and the MS-RNN code "
        "(not a sigmoid: the gate lies in (-1, 1), so h can change sign); reproduced. The official "
        "code builds the GHU convolutions (2 x (k x k, C -> 2C), "
        "biased) in every layer but uses them only in layer 1: with faithful=True (default) they are "
        "kept so the counts match (5 dead GHUs = 738,560 of the 5,608,513 parameters at hidden 64, "
        "184,960 at hidden 32) and are declared unused; faithful=False drops them. The gates come "
        "from single biased convolutions on concatenations ([x, h, c], [x, c, m], [x, c, m]) as in "
        "the official code. No LayerNorm and no forget bias under the presets (forget_bias is an "
        "option, added to f and f'; there is no LayerNorm option). The state is (h, c, z) in layer 1 "
        "and (h, c) in the other layers, where the official code carries z = None."
    ),
)
