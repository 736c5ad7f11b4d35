"""MoDeRNN (Chai et al. 2022): the ConvLSTM cell with the multi-kernel Detail Context Block.

Not a cell of its own: the ``modernn`` entry is :class:`ConvLSTMCell` with
``dcb=True`` (``(x, h) <- DCB(x, h)``, kernels 3/5/7, then ConvLSTM) and the
authors' code as defaults: LayerNorm over [C, H, W] after every convolution and
on ``c``, forget bias 1, bias-free convolutions.
"""

from __future__ import annotations

from convrnn.cells.convlstm import AUTHORS_CODE, ConvLSTMCell
from convrnn.cells.registry import register_model

register_model(
    "modernn",
    ConvLSTMCell,
    summary="MoDeRNN (Chai et al. 2022): ConvLSTM + Detail Context Block (DCB, kernels 3/5/7)",
    params={"cms-lstm": 5_867_600, "ms-rnn": 5_854_657, "ms-lstm": 1_465_057},
    ms_params={"ms-rnn": 5_854_657, "ms-lstm": 1_465_057},
    defaults={**AUTHORS_CODE, "dcb": True},
    options=("kernel_size", "norm", "forget_bias", "bias"),
    notes="Preset 'cms-lstm' is the authors' code (czh-98/MoDeRNN, same settings as CMS-LSTM): 5,867,600 "
    "parameters. The paper's 4.590M is not reproducible from any configuration of that code; its Eq. 2 "
    "has typos: the code computes X^ = 2 s(mean_k LN_k(W^h_k * H)) X and H^ = 2 s(mean_k LN_k(W^x_k * X^)) H "
    "over 5 alternating half-steps, LayerNorm before the average. Presets 'ms-rnn'/'ms-lstm' are the "
    "MS-RNN repository's port (no LayerNorm, no forget bias, biased convs): 5,854,657 / 1,465,057.",
)
