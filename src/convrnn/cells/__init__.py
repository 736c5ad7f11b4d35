"""Recurrent cells, one per module, all obeying the Cell protocol; importing this registers the models."""

from convrnn.cells.base import Cell, CellFactory, LayerSpec, State
from convrnn.cells.cms_lstm import CMSLSTMCell
from convrnn.cells.convlstm import ConvLSTMCell
from convrnn.cells.mim import MIMCell
from convrnn.cells.mk_lstm import MKLSTMCell
from convrnn.cells.modernn import MoDeRNNCell
from convrnn.cells.motionrnn import MotionRNNCell
from convrnn.cells.preciplstm import PrecipLSTMCell
from convrnn.cells.predrnn import PredRNNCell
from convrnn.cells.predrnn_pp import PredRNNPPCell
from convrnn.cells.predrnn_v2 import PredRNNV2Cell
from convrnn.cells.sa_convlstm import SAConvLSTMCell
from convrnn.cells.sa_convlstm_base import SAConvLSTMBaseCell
from convrnn.cells.trajgru import TrajGRUCell

__all__ = [
    "CMSLSTMCell",
    "Cell",
    "CellFactory",
    "ConvLSTMCell",
    "LayerSpec",
    "MIMCell",
    "MKLSTMCell",
    "MoDeRNNCell",
    "MotionRNNCell",
    "PrecipLSTMCell",
    "PredRNNCell",
    "PredRNNPPCell",
    "PredRNNV2Cell",
    "SAConvLSTMBaseCell",
    "SAConvLSTMCell",
    "State",
    "TrajGRUCell",
]
