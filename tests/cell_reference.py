"""Slow, explicit reference pieces for the cell tests: one plain convolution per input of a GateConv."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from convrnn.blocks import GateConv


def conv_terms(gate: GateConv, *inputs: Tensor) -> list[Tensor]:
    """The separate biased convolutions a GateConv stands for, one per input (official ``conv_x2h`` etc.)."""
    terms, start = [], 0
    for i, (x, c) in enumerate(zip(inputs, gate.in_channels, strict=True)):
        bias = None if gate.bias is None else gate.bias[i]
        terms.append(F.conv2d(x, gate.weight[:, start : start + c], bias, padding=gate.padding))
        start += c
    return terms


def conv_of(gate: GateConv, index: int, x: Tensor) -> Tensor:
    """The convolution of input ``index`` of ``gate`` alone, with that input's own bias."""
    start = sum(gate.in_channels[:index])
    weight = gate.weight[:, start : start + gate.in_channels[index]]
    bias = None if gate.bias is None else gate.bias[index]
    return F.conv2d(x, weight, bias, padding=gate.kernel_size // 2)


def conv_slices(gate: GateConv, *parts: Tensor) -> Tensor:
    """A single-input ``gate`` applied to the concatenation of ``parts``, as one conv per part."""
    assert len(gate.in_channels) == 1
    out = None
    start = 0
    for i, part in enumerate(parts):
        c = part.shape[1]
        bias = gate.bias[0] if (i == 0 and gate.bias is not None) else None
        y = F.conv2d(part, gate.weight[:, start : start + c], bias, padding=gate.kernel_size // 2)
        out = y if out is None else out + y
        start += c
    assert start == gate.in_channels[0]
    return out


def conv1x1(conv: nn.Conv2d, x: Tensor) -> Tensor:
    """A 1x1 ``nn.Conv2d`` written out as a channel contraction."""
    out = (conv.weight[:, :, 0, 0] @ x.flatten(2)).reshape(x.shape[0], -1, *x.shape[2:])
    return out if conv.bias is None else out + conv.bias[:, None, None]


def conv_params(cin: int, cout: int, k: int = 3, bias: bool = True) -> int:
    """Parameters of one ``nn.Conv2d(cin, cout, k)``."""
    return cin * cout * k * k + (cout if bias else 0)


def embed_and_head(hidden: int) -> int:
    """Parameters of the 1x1 embed (1 -> hidden) and head (hidden -> 1)."""
    return conv_params(1, hidden, 1) + conv_params(hidden, 1, 1)
