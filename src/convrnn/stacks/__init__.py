"""Stacks of recurrent cells: Flat (one scale) and MultiScale (the MS-RNN pyramid)."""

from convrnn.stacks.base import Stack, StackState, resample
from convrnn.stacks.flat import Flat
from convrnn.stacks.multiscale import SKIPS, MultiScale, pyramid_scales, skip_sources

__all__ = [
    "SKIPS",
    "Flat",
    "MultiScale",
    "Stack",
    "StackState",
    "pyramid_scales",
    "resample",
    "skip_sources",
]
