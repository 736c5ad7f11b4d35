"""Portable building blocks shared by the cells."""

from convrnn.blocks.gate_conv import GateConv, check_norm
from convrnn.blocks.memory import GatedMemory, MemoryOutput

__all__ = ["GateConv", "GatedMemory", "MemoryOutput", "check_norm"]
