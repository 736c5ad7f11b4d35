"""Slow, explicit reference pieces for the cell tests: one plain convolution per input of a GateConv."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from convrnn.blocks import GateConv


def conv_terms(gate: GateConv, *inputs: Tensor) -> list[Tensor]:
    """The separate biased convolutions a GateConv stands for, one per input (official ``conv_x2h`` etc.)."""
    terms, start = [], 0
    for i, (x, c) in enumerate(zip(inputs, gate.in_channels, strict=True)):
        bias = None if gate.bias is None else gate.bias[i]
        terms.append(F.conv2d(x, gate.weight[:, start : start + c], bias, padding=gate.padding))
        start += c
    return terms


def conv_count(c_in: int, c_out: int, k: int = 3, bias: bool = True) -> int:
    """Parameters of one ``nn.Conv2d(c_in, c_out, k)``."""
    return c_in * c_out * k * k + (c_out if bias else 0)
