"""SA-ConvLSTM's base model (Lin et al. 2020, Sec. 3.1): self-attention on X_t and H_{t-1}, then ConvLSTM.

Not a cell of its own: the ``sa-convlstm-base`` entry is
:class:`SAConvLSTMCell` with ``attention=True, memory=False`` (Table 1, "w SA,
w/o Mem"), i.e. Eq. 1: ``X^ = SA(X_t)``, ``H^ = SA(H_{t-1})``, then a ConvLSTM
step on them, with ``SA(x) = x + W_f softmax(Q^T K) V``
(:class:`convrnn.blocks.SelfAttention`), one module for the input and one for
the hidden state.
"""

from __future__ import annotations

from convrnn.cells.registry import register_model
from convrnn.cells.sa_convlstm import SAConvLSTMCell

register_model(
    "sa-convlstm-base",
    SAConvLSTMCell,
    summary="SA-ConvLSTM base model (Lin et al. 2020): self-attention on the input and hidden state "
    "before a ConvLSTM",
    defaults={"attention": True, "memory": False},
    options=("kernel_size", "attention_channels", "scaled", "norm", "forget_bias", "bias"),
    notes="No official code exists; Q/K of attention_channels (default hidden // 2), V of C channels, "
    "biased 1x1 projections, residual W_f Z + x, unscaled softmax. Under the 'cms-lstm' preset "
    "(4 x 64, k 3, patch 4, LayerNorm) it has 2,461,264 parameters (asserted in "
    "tests/test_attention_cells.py); the paper's 10.102M (TensorFlow) is not reachable from its "
    "description, for the reasons given under sa-convlstm.",
)
