"""Portable building blocks shared by the cells."""

from convrnn.blocks.attention import SelfAttention, attend
from convrnn.blocks.cell_context import CellContext
from convrnn.blocks.context_embedding import AlternatingContext, ContextEmbedding
from convrnn.blocks.detail_context import DetailContext
from convrnn.blocks.gate_conv import ConvSpec, GateConv, check_norm
from convrnn.blocks.memory import GatedMemory, MemoryOutput
from convrnn.blocks.self_attention_memory import SelfAttentionMemory
from convrnn.blocks.spatiotemporal_expression import SpatiotemporalExpression, divide, restore
from convrnn.blocks.warp import warp

__all__ = [
    "AlternatingContext",
    "CellContext",
    "ContextEmbedding",
    "ConvSpec",
    "DetailContext",
    "GateConv",
    "GatedMemory",
    "MemoryOutput",
    "SelfAttention",
    "SelfAttentionMemory",
    "SpatiotemporalExpression",
    "attend",
    "check_norm",
    "divide",
    "restore",
    "warp",
]
