"""MIM (Wang et al. 2019) as coded in the MS-RNN repository: ST-LSTM with the MIM-N and MIM-S blocks."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from convrnn.blocks import ConvSpec, GatedMemory, MemoryOutput
from convrnn.cells.base import Cell, State, check_compat
from convrnn.cells.registry import register_model


class MIMN(nn.Module):
    """Non-stationary block: ``n' = GatedMemory(dx, n)``; ``D = s(W * dx + W * n') tanh(n')``.

    ``dx`` is the difference of the layer's input and its previous input.
    """

    def __init__(
        self, in_channels: int, hidden_channels: int, conv: ConvSpec, *, forget_bias: float
    ) -> None:
        super().__init__()
        self.memory = GatedMemory(in_channels, hidden_channels, conv, forget_bias=forget_bias)
        # diff2o and n2o: one biased conv on dx and one on the new n
        self.to_gate = conv.gate_conv([in_channels, hidden_channels], hidden_channels)

    def forward(self, dx: Tensor, n: Tensor) -> tuple[Tensor, Tensor]:
        """Returns ``(D, n')``."""
        n, _ = self.memory(dx, n)
        return torch.sigmoid(self.to_gate(dx, n)) * torch.tanh(n), n


class MIMS(nn.Module):
    """Stationary block: ``[i, f, g, o] = W * D + W * c_prev``; ``s' = s(f) s + s(i) tanh(g)``;
    ``T = s(o + W * s') tanh(s')``."""

    def __init__(self, hidden_channels: int, conv: ConvSpec, *, forget_bias: float) -> None:
        super().__init__()
        self.forget_bias = forget_bias
        self.gates = conv.gate_conv([hidden_channels, hidden_channels], 4 * hidden_channels)
        self.to_gate = conv.gate_conv([hidden_channels], hidden_channels)

    def forward(self, d: Tensor, c_prev: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        """Returns ``(T, s')``."""
        i, f, g, o = self.gates(d, c_prev).chunk(4, dim=1)
        s = torch.sigmoid(f + self.forget_bias) * s + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o + self.to_gate(s)) * torch.tanh(s), s


class MIMCell(Cell):
    """MIM: an ST-LSTM whose cell update in layers ``>= 1`` is ``c = T + i g`` (T from MIM-N/MIM-S).

    Layer 0 is a plain ST-LSTM (``c = f c + i g``). The diagonal input of the
    MIM-N block, "the layer below at ``t-1``", is the layer's own previous
    input, kept in its state. State: ``(h, c)`` in layer 0, ``(h, c, n, s,
    x_prev)`` above. ``faithful`` keeps the MIM-block parameters that the
    official code builds (but never uses) in layer 0, as ``unused_mim_n`` and
    ``unused_mim_s``; they are not computed. ``compat="official"`` keeps the
    layer below's output without skips (``below=``) as ``x_prev`` instead, as
    the official code's diagonal input.
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
        faithful: bool = True,
        layer_index: int = 0,
        height: int | None = None,
        width: int | None = None,
        compat: str = "paper",
    ) -> None:
        super().__init__(in_channels, hidden_channels)
        self.forget_bias = forget_bias
        self.plain = layer_index == 0
        # official diagonal input: the layer below's output at t-1 without the skip (below=)
        self.takes_below = check_compat(compat) == "official" and not self.plain
        conv = ConvSpec(kernel_size, bias=bias, norm=norm, height=height, width=width)
        self.gates = conv.gate_conv([in_channels, hidden_channels], 4 * hidden_channels)
        self.memory = GatedMemory(in_channels, hidden_channels, conv, forget_bias=forget_bias)
        self.output = MemoryOutput(hidden_channels, 2, conv)
        if not self.plain or faithful:
            prefix = "unused_" if self.plain else ""
            mim_n = MIMN(in_channels, hidden_channels, conv, forget_bias=forget_bias)
            self.add_module(prefix + "mim_n", mim_n)
            self.add_module(prefix + "mim_s", MIMS(hidden_channels, conv, forget_bias=forget_bias))

    def init_state(
        self, batch: int, height: int, width: int, device: torch.device, dtype: torch.dtype
    ) -> State:
        """Zeros: ``(h, c)`` in layer 0, ``(h, c, n, s, x_prev)`` above."""
        zeros = self.zero_state(batch, height, width, device, dtype, n=2 if self.plain else 4)
        if self.plain:
            return zeros
        return (*zeros, *self.zero_state(batch, height, width, device, dtype, 1, self.in_channels))

    def step(
        self, x: Tensor, state: State, m: Tensor | None, below: Tensor | None = None
    ) -> tuple[Tensor, Tensor, State, Tensor]:
        """One step, also returning the output gate: ``(h, gate, new_state, new_m)``.

        ``below`` (with ``takes_below``) is kept as the next step's ``x_prev``
        instead of ``x``; ``None`` (a cell outside a stack) keeps ``x``.
        """
        if m is None:
            m = self.zeros_like_memory(x)
        h, c = state[:2]
        i, f, g, o = self.gates(x, h).chunk(4, dim=1)
        update = torch.sigmoid(i) * torch.tanh(g)
        if self.plain:
            c = torch.sigmoid(f + self.forget_bias) * c + update
            rest: State = ()
        else:
            # the official code computes f here too and never uses it
            n, s, x_prev = state[2:]
            d, n = self.mim_n(x - x_prev, n)
            t, s = self.mim_s(d, c, s)
            c = t + update
            rest = (n, s, below if self.takes_below and below is not None else x)
        m, _ = self.memory(x, m)
        h, gate = self.output.forward_with_gate(o, c, m)
        return h, gate, (h, c, *rest), m

    def forward(
        self, x: Tensor, state: State, m: Tensor | None = None, below: Tensor | None = None
    ) -> tuple[Tensor, State, Tensor]:
        """One step: returns ``(h, new_state, new_m)``."""
        h, _, state, m = self.step(x, state, m, below)
        return h, state, m


MIM_NOTES = (
    "Equations as the MS-RNN code computes them (reference official-ms-rnn.md 1.5): MIM-N on the "
    "difference dx = x - x_prev (gates from dx and n, output gate from dx and the new n, D = o_n tanh(n)); "
    "MIM-S on D and the previous cell state c (T = o_s tanh(s)); the ST-LSTM part as in PredRNN with "
    "c = T + i g in layers >= 1 and c = f c + i g in layer 0; h = s(o + W_c * c + W_m * m) tanh(W_1x1 * [c, m]). "
    "Biased convolutions, no LayerNorm, no forget bias under the presets (norm='layer' and forget_bias, "
    "applied to every k x k gate conv and every forget gate, are convrnn options; the MIM paper's own "
    "code uses LayerNorm and a forget bias, which norm='layer', forget_bias=1.0 approximate).\n"
    "Diagonal input: the official cell takes x_{t-1} = h of the layer below at t-1, resampled to the layer's "
    "scale; here every layer >= 1 keeps its own previous input x_prev in its state (DESIGN.md). In the Flat "
    "stack the two are identical (a test checks that layer l's stored x_prev equals layer l-1's output at "
    "t-1), and in the MultiScale encoder too. In the MultiScale decoder layers that receive a skip, the "
    "official x includes the skip term (e.g. up(h3) + h1) but its x_{t-1} does not (up(h3_{t-1}) only), so "
    "the official difference is not a pure temporal difference; ours, x_t - x_{t-1} of the same summed input, "
    "is. At t = 0 both use x_prev = 0. compat='official' (a build option) reproduces the official "
    "input: every layer >= 1 then keeps the layer below's output at t, resampled to its scale and "
    "without the skip, as the next step's x_prev, so the MIM-N input in a skip-receiving decoder "
    "layer is up(h_below,t) + skip_t - up(h_below,t-1); in the Flat stack and the MultiScale "
    "encoder this is the same as the default (identical outputs), and the parameters are the same.\n"
    "Layer 0: the official code builds all MIM parameters in every layer and computes the MIM blocks in "
    "layer 0 without using them. With faithful=True (the default) layer 0 keeps those parameters, as "
    "unused_mim_n / unused_mim_s, so the counts equal the official ones (7,361,473 / 1,843,681), but does not "
    "compute them (the output is the same); faithful=False drops them (153 C^2 + 17 C parameters fewer at "
    "k = 3: 627,776 at hidden 64, 157,216 at hidden 32). In layers >= 1 the forget-gate slice of the "
    "ST-LSTM gate convs is computed but unused, as in the official code; it is kept in both modes. "
    "State: (h, c) in layer 0, (h, c, n, s, x_prev) above."
)

register_model(
    "mim",
    MIMCell,
    summary="MIM (Wang et al. 2019): ST-LSTM with non-stationary (MIM-N) and stationary (MIM-S) memories",
    params={"ms-rnn": 7_361_473, "ms-lstm": 1_843_681},
    notes=MIM_NOTES,
    unused=r"\.unused_",
)
