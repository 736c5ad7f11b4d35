"""Recurrent cells, one per module, all obeying the Cell protocol; importing this registers the models."""

from convrnn.cells.base import Cell, CellFactory, LayerSpec, State
from convrnn.cells.cms_lstm import CMSLSTMCell
from convrnn.cells.convlstm import ConvLSTMCell
from convrnn.cells.modernn import MoDeRNNCell
from convrnn.cells.sa_convlstm import SAConvLSTMCell
from convrnn.cells.sa_convlstm_base import SAConvLSTMBaseCell

__all__ = [
    "CMSLSTMCell",
    "Cell",
    "CellFactory",
    "ConvLSTMCell",
    "LayerSpec",
    "MoDeRNNCell",
    "SAConvLSTMBaseCell",
    "SAConvLSTMCell",
    "State",
]
