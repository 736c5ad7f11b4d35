"""CMS-LSTM (Chai et al. 2022): the ConvLSTM cell with Context Embedding and Spatiotemporal Expression.

Not a cell of its own: the ``cms-lstm`` entry is :class:`ConvLSTMCell` with
``ce=True, se=True`` and the authors' code as defaults: LayerNorm over
[C, H, W] after every gate convolution and on ``c`` (so the layer size must be
known), forget bias 1, bias-free gate and CE convolutions, SE kernel 5 with
scales (1, 2, 4). Table 3 ablations: ``ce=False``, ``se=False``,
``se_scales=(1,)`` or ``(1, 2)``.
"""

from __future__ import annotations

from convrnn.cells.convlstm import AUTHORS_CODE, MS_RNN_PORT_SE, ConvLSTMCell
from convrnn.cells.registry import register_model

register_model(
    "cms-lstm",
    ConvLSTMCell,
    summary="CMS-LSTM (Chai et al. 2022): ConvLSTM + Context Embedding (CE) + multi-scale "
    "Spatiotemporal Expression (SE)",
    params={"cms-lstm": 7_967_580, "ms-rnn": 4_483_393, "ms-lstm": 1_123_489},
    ms_params={"ms-rnn": 4_483_393, "ms-lstm": 1_123_489},
    defaults={**AUTHORS_CODE, "ce": True, "se": True},
    options=tuple(n for n in ConvLSTMCell.option_names() if n != "dcb"),  # CE, not DCB
    preset_options={"cms-lstm": {"se_unused_gamma": True}, **MS_RNN_PORT_SE},
    unused=r"\.gamma\.\d+$",
    notes="Preset 'cms-lstm' is the authors' code (czh-98/CMS-LSTM): 7,967,580 parameters = the paper's "
    "7.968M, counting the zero-initialised 'gamma' scalar that the code creates for each SE scale and "
    "never uses: 3 per layer, 12 in the 4-layer model (kept only under that preset, via "
    "se_unused_gamma=True; without them 7,967,568, not the 7,967,577 the reference notes give, which "
    "subtracts only 3). CE runs 5 "
    "alternating half-steps with s = 2 and 3x3 convs; SE uses 5x5 convs, fuses the paper's [A_H, A_C] "
    "into one map Z with a 1x1 conv, and its attention is unscaled. Presets 'ms-rnn'/'ms-lstm' are the "
    "MS-RNN repository's port (no LayerNorm, no forget bias, biased convs, SE kernel 3, no gamma): "
    "4,483,393 / 1,123,489. The layer size must be divisible by lcm(se_scales) (4 by default). Under "
    "'cms-lstm' the MS twin has fewer LayerNorm parameters (LayerNorm over [C, H, W] at smaller scales).",
)
