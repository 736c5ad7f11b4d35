"""SA-ConvLSTM's base model (Lin et al. 2020, Sec. 3.1): self-attention on X_t and H_{t-1}, then ConvLSTM."""

from __future__ import annotations

from convrnn.cells.sa_convlstm import SAConvLSTMCell
from convrnn.registry import register_model


class SAConvLSTMBaseCell(SAConvLSTMCell):
    """Base model (Eq. 1): ``X^ = SA(X_t)``, ``H^ = SA(H_{t-1})``, then a ConvLSTM step on them.

    ``SA(x) = x + W_f softmax(Q^T K) V`` (:class:`convrnn.blocks.SelfAttention`),
    one module for the input and one for the hidden state. This is
    ``sa-convlstm`` with ``memory=False`` (Table 1, "w SA, w/o Mem").
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        kernel_size: int = 3,
        *,
        attention_channels: int | None = None,
        scaled: bool = False,
        norm: str = "layer",
        forget_bias: float = 1.0,
        bias: bool = False,
        height: int | None = None,
        width: int | None = None,
    ) -> None:
        super().__init__(
            in_channels,
            hidden_channels,
            kernel_size,
            attention=True,
            memory=False,
            attention_channels=attention_channels,
            scaled=scaled,
            norm=norm,
            forget_bias=forget_bias,
            bias=bias,
            height=height,
            width=width,
        )


register_model(
    "sa-convlstm-base",
    SAConvLSTMBaseCell,
    summary="SA-ConvLSTM base model (Lin et al. 2020): self-attention on the input and hidden state "
    "before a ConvLSTM",
    notes="No official code exists; Q/K of attention_channels (default hidden // 2), V of C channels, "
    "biased 1x1 projections, residual W_f Z + x, unscaled softmax. Under the 'cms-lstm' preset "
    "(4 x 64, k 3, patch 4, LayerNorm) it has 2,461,264 parameters (asserted in "
    "tests/test_attention_cells.py); the paper's 10.102M (TensorFlow) is not reachable from its "
    "description, for the reasons given under sa-convlstm.",
)
