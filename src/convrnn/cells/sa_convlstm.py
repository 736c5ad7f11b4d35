"""SA-ConvLSTM (Lin et al. 2020): ConvLSTM followed by the self-attention memory (SAM)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from convrnn.blocks import ConvSpec, SelfAttention, SelfAttentionMemory
from convrnn.cells.base import State
from convrnn.cells.convlstm import MS_RNN_PORT_SE, ConvLSTMCell
from convrnn.cells.registry import register_model
from convrnn.errors import ConfigError


class SAConvLSTMCell(ConvLSTMCell):
    """SA-ConvLSTM: ``(H_t, C_t) = ConvLSTM(X_t, H^_{t-1}, C_{t-1})``; ``(H^_t, M_t) = SAM(H_t, M_{t-1})``.

    ``H^_t`` is both the layer's output and its recurrent hidden state; the
    state is ``(H^, C, M)``. SAM (:class:`convrnn.blocks.SelfAttentionMemory`)
    has queries/keys ``attention_channels`` wide (default ``hidden // 2``),
    depth-wise separable gate convolutions (``gate_conv="dwsep"``, the paper;
    ``"full"`` or ``"1x1"`` otherwise) of the cell's ``kernel_size``, and the
    paper's unscaled softmax (``scaled=True`` divides by ``sqrt(attention_channels)``).

    The paper's Table 1 rows, as options:

    * ``attention=False, memory=False``: plain ConvLSTM;
    * ``attention=True, memory=False``: the base model (Eq. 1: ``X^ = SA(X_t)``,
      ``H^ = SA(H_{t-1})`` before the gates; also registered as ``sa-convlstm-base``);
    * ``attention=False, memory=True``: ConvLSTM with the gated memory ``M`` but no attention;
    * ``memory_attention=False``: SAM without ``Z_m``;
    * the defaults: the full SA-ConvLSTM.

    ``memory_attention`` defaults to ``attention and memory``. ``ce``/``se``
    (CMS-LSTM Table 3): CE on ``(X_t, H^_{t-1})`` right before the gates, SE on
    ``(H_t, C_t)`` right after the ConvLSTM update, before SAM reads ``H_t``.
    Defaults otherwise as the ``cms-lstm`` preset: LayerNorm over [C, H, W],
    forget bias 1, bias-free gate convolutions.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        kernel_size: int = 3,
        *,
        attention: bool = True,
        memory: bool = True,
        memory_attention: bool | None = None,
        attention_channels: int | None = None,
        gate_conv: str = "dwsep",
        scaled: bool = False,
        norm: str = "layer",
        forget_bias: float = 1.0,
        bias: bool = False,
        ce: bool = False,
        se: bool = False,
        se_scales: Sequence[int] = (1, 2, 4),
        se_kernel: int = 5,
        height: int | None = None,
        width: int | None = None,
    ) -> None:
        super().__init__(
            in_channels, hidden_channels, kernel_size, norm=norm, forget_bias=forget_bias,
            bias=bias, ce=ce, se=se, se_scales=se_scales, se_kernel=se_kernel, height=height,
            width=width,
        )  # fmt: skip
        if memory_attention is None:
            memory_attention = attention and memory
        if memory_attention and not memory:
            raise ConfigError(
                "memory_attention=True attends over the memory M, which memory=False removes; "
                "drop memory_attention or set memory=True"
            )
        self.memory = memory
        self.input_attention = self.hidden_attention = None
        self.sam = None
        if memory:
            conv = ConvSpec(kernel_size, bias=bias, norm=norm, height=height, width=width)
            self.sam = SelfAttentionMemory(
                hidden_channels, attention_channels, conv, gate_conv=gate_conv, scaled=scaled,
                attention=attention, memory_attention=memory_attention,
            )  # fmt: skip
        elif attention:
            self.input_attention = SelfAttention(in_channels, attention_channels, scaled=scaled)
            self.hidden_attention = SelfAttention(
                hidden_channels, attention_channels, scaled=scaled
            )

    def init_state(
        self, batch: int, height: int, width: int, device: torch.device, dtype: torch.dtype
    ) -> State:
        """Zero ``(H^, C, M)``, or ``(H, C)`` without the memory."""
        return self.zero_state(batch, height, width, device, dtype, n=3 if self.memory else 2)

    def forward(
        self, x: Tensor, state: State, m: Tensor | None = None
    ) -> tuple[Tensor, State, None]:
        """One step: returns ``(H^_t, (H^_t, C_t, M_t), None)``."""
        h, c = state[0], state[1]
        if self.input_attention is not None:
            x, h = self.input_attention(x), self.hidden_attention(h)
        x, h = self.context.embed(x, h)
        h, c = self.context.express(*self.lstm(x, h, c))
        if self.sam is None:
            return h, (h, c), None
        h, mem = self.sam(h, state[2])
        return h, (h, c, mem), None


register_model(
    "sa-convlstm",
    SAConvLSTMCell,
    summary="SA-ConvLSTM (Lin et al. 2020): ConvLSTM + self-attention memory (SAM)",
    preset_options=MS_RNN_PORT_SE,
    notes="No official code exists (the paper used TensorFlow); this follows the paper: SAM after the "
    "ConvLSTM update, Q/K of attention_channels (default hidden // 2) and V of C channels, unscaled "
    "softmax, Z = W_z [Z_h; Z_m], depth-wise separable k x k gate convolutions over [Z, H] (one bias "
    "per gate), M = (1 - i) M + i g, H^ = o M; with norm='layer' a LayerNorm over [3C, H, W] on the "
    "SAM gates (the paper adopts LayerNorm without saying where). Under the 'cms-lstm' preset "
    "(4 x 64, k 3, patch 4, LayerNorm) it has 2,948,816 parameters (asserted in tests/test_attention_cells.py). "
    "The paper's 10.471M is not reachable: a ConvLSTM of 4 x 64 with LayerNorm and peepholes is about "
    "3.2M, and 1x1 attention projections plus depth-wise separable gates add only about 0.1-0.2M; "
    "no public re-implementation reaches it either (official-cms-modernn-sa.md section 3.3). All "
    "attention goes through fused scaled_dot_product_attention, so training memory grows linearly "
    "with the number of positions.",
)
