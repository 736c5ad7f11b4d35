"""Portable building blocks shared by the cells."""

from convrnn.blocks.gate_conv import GateConv, check_norm

__all__ = ["GateConv", "check_norm"]
