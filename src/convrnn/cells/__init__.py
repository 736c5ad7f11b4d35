"""Recurrent cells, one per module, all obeying the Cell protocol; importing this registers the models.

Variants of a cell (CMS-LSTM, MoDeRNN, SA-ConvLSTM's base model) are registry entries with their
own defaults, in modules of their own that hold only the registration.
"""

from convrnn.cells import cms_lstm, modernn, sa_convlstm_base  # noqa: F401  (variant entries)
from convrnn.cells.base import Cell, CellFactory, LayerSpec, State
from convrnn.cells.convlstm import ConvLSTMCell
from convrnn.cells.mim import MIMCell
from convrnn.cells.mk_lstm import MKLSTMCell
from convrnn.cells.motionrnn import MotionRNNCell
from convrnn.cells.preciplstm import PrecipLSTMCell
from convrnn.cells.predrnn import PredRNNCell
from convrnn.cells.predrnn_pp import PredRNNPPCell
from convrnn.cells.predrnn_v2 import PredRNNV2Cell
from convrnn.cells.sa_convlstm import SAConvLSTMCell
from convrnn.cells.trajgru import TrajGRUCell

__all__ = [
    "Cell",
    "CellFactory",
    "ConvLSTMCell",
    "LayerSpec",
    "MIMCell",
    "MKLSTMCell",
    "MotionRNNCell",
    "PrecipLSTMCell",
    "PredRNNCell",
    "PredRNNPPCell",
    "PredRNNV2Cell",
    "SAConvLSTMCell",
    "State",
    "TrajGRUCell",
]
