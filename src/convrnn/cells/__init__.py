"""Recurrent cells, one per module, all obeying the Cell protocol; importing this registers the models."""

from convrnn.cells.base import Cell, CellFactory, LayerSpec, State
from convrnn.cells.convlstm import ConvLSTMCell
from convrnn.cells.mim import MIMCell
from convrnn.cells.motionrnn import MotionRNNCell
from convrnn.cells.preciplstm import PrecipLSTMCell

__all__ = [
    "Cell",
    "CellFactory",
    "ConvLSTMCell",
    "LayerSpec",
    "MIMCell",
    "MotionRNNCell",
    "PrecipLSTMCell",
    "State",
]
