"""Recurrent cells, one per module, all obeying the Cell protocol; importing this registers the models."""

from convrnn.cells.base import Cell, CellFactory, LayerSpec, State
from convrnn.cells.convlstm import ConvLSTMCell

__all__ = ["Cell", "CellFactory", "ConvLSTMCell", "LayerSpec", "State"]
