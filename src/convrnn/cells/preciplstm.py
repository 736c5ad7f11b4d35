"""PrecipLSTM (Ma et al. 2022) as coded in the MS-RNN repository: local attention and four memories."""

from __future__ import annotations

import torch
from torch import Tensor

from convrnn.blocks import ConvSpec, GatedMemory, MemoryOutput
from convrnn.blocks.local_attention import LocalAttention
from convrnn.cells.base import Cell, State
from convrnn.cells.registry import register_model


class PrecipLSTMCell(Cell):
    """PrecipLSTM: ``x_att = x + W * LA(x)``; memories c (ConvLSTM), m (zig-zag), ms (SLAM) from ``x_att``,
    mt (TDM) from ``x - x_prev``; ``h`` from all four through one output gate.

    State: ``(h, c, ms, mt, x_prev)``, ``x_prev`` being the layer's own input at ``t-1``.
    """

    uses_zigzag = True

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        kernel_size: int = 3,
        *,
        la_num: int = 30,
        norm: str = "none",
        forget_bias: float = 0.0,
        bias: bool = True,
        height: int | None = None,
        width: int | None = None,
    ) -> None:
        super().__init__(in_channels, hidden_channels)
        self.forget_bias = forget_bias
        conv = ConvSpec(kernel_size, bias=bias, norm=norm, height=height, width=width)
        self.gates = conv.gate_conv([in_channels, hidden_channels], 4 * hidden_channels)
        self.attention = LocalAttention(in_channels, la_num)
        self.attention_out = conv.conv2d(in_channels, in_channels)
        memory = (in_channels, hidden_channels, conv)
        self.memory = GatedMemory(*memory, forget_bias=forget_bias)
        self.spatial = GatedMemory(*memory, forget_bias=forget_bias)
        self.temporal = GatedMemory(*memory, forget_bias=forget_bias)
        self.output = MemoryOutput(hidden_channels, 4, conv)

    def init_state(
        self, batch: int, height: int, width: int, device: torch.device, dtype: torch.dtype
    ) -> State:
        """Zeros ``(h, c, ms, mt, x_prev)``."""
        hidden = self.zero_state(batch, height, width, device, dtype, n=4)
        return (*hidden, *self.zero_state(batch, height, width, device, dtype, 1, self.in_channels))

    def forward(
        self, x: Tensor, state: State, m: Tensor | None = None
    ) -> tuple[Tensor, State, Tensor]:
        """One step: returns ``(h, (h, c, ms, mt, x), new_m)``."""
        h, c, ms, mt, x_prev = state
        if m is None:
            m = self.zeros_like_memory(x)
        x_att = x + self.attention_out(self.attention(x))
        i, f, g, o = self.gates(x_att, h).chunk(4, dim=1)
        c = torch.sigmoid(f + self.forget_bias) * c + torch.sigmoid(i) * torch.tanh(g)
        m, _ = self.memory(x_att, m)
        ms, _ = self.spatial(x_att, ms)
        mt, _ = self.temporal(x - x_prev, mt)
        h = self.output(o, c, ms, mt, m)
        return h, (h, c, ms, mt, x), m


PRECIPLSTM_NOTES = (
    "Equations as the MS-RNN code computes them (reference official-ms-rnn.md 1.8): x_att = x + W * LA(x) "
    "(W a biased k x k conv); c (ConvLSTM gates from x_att and h), m (zig-zag, from x_att and m), ms (SLAM, "
    "from x_att and ms), mt (TDM, from x - x_prev and mt), each c/m-style gated update; "
    "h = s(o + W_c * c + W_ms * ms + W_mt * mt + W_m * m) tanh(W_1x1 * [c, ms, mt, m]). x_prev is the layer's "
    "own input at t-1 (zeros at t = 0), kept in its state; the official code keeps the same tensors (the "
    "post-resampling, post-skip inputs) in a list, so both stacks match it. State: (h, c, ms, mt, x_prev).\n"
    "Local attention: the official cell needs a compiled CUDA extension; here LA is pure PyTorch "
    "(convrnn.blocks.local_attention), with bias-free 1x1 q, k, v convs and a la_num x la_num window "
    "(option la_num, default 30 as in the official config). Pixel (y, x) attends to (y + dy, x + dx), "
    "dy, dx in [-(la_num // 2), la_num - 1 - la_num // 2] (the extension's offsets; odd windows are centred), "
    "keys and values outside the frame are zeros (logit 0, no value), plain dot-product logits, softmax "
    "over the la_num^2 positions: the extension's definition. Even and odd windows both work (the "
    "official pure-torch fallback returns H+1 rows for even windows). The attention is computed in row "
    "chunks and its backward saves only q, k and v (3 C H W values per step), recomputing the weights; "
    "an unfold implementation would save the C la_num^2 H W unfolded keys and values (measured: 1,815 MiB "
    "per layer and step at 64 x 64, C = 64, la_num = 30, against 3 MiB here). The MS-RNN repository's "
    "PrecipLSTM is by the PrecipLSTM paper's first author; this cell follows that code. Without a preset: biased convs, no LayerNorm; "
    "norm='layer' and forget_bias are convrnn options for the gate convs and forget gates."
)

register_model(
    "preciplstm",
    PrecipLSTMCell,
    summary="PrecipLSTM (Ma et al. 2022): local attention, ST-LSTM memories plus spatial (SLAM) and temporal (TDM) memories",
    params={"ms-rnn": 7_041_217, "ms-lstm": 1_763_425},
    notes=PRECIPLSTM_NOTES,
)
