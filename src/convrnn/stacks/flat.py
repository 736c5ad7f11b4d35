"""Flat stack: every layer at full resolution, each fed by the layer below."""

from __future__ import annotations

from convrnn.cells.base import CellFactory
from convrnn.stacks.base import Stack


class Flat(Stack):
    """The classic ConvLSTM/PredRNN stack: ``depth`` layers at one scale."""

    def __init__(
        self,
        cell_factory: CellFactory,
        depth: int,
        channels: int,
        image_size: tuple[int, int] | None = None,
    ) -> None:
        sources = [()] + [(j - 1,) for j in range(1, depth)]
        super().__init__(cell_factory, depth, channels, [0] * depth, sources, image_size)
