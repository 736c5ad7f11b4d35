"""Gated memories and the multi-memory output of the PredRNN family (ST-LSTM, MIM, PrecipLSTM, ...)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from convrnn.blocks.gate_conv import PLAIN, ConvSpec


class GatedMemory(nn.Module):
    """``[i, f, g] = W_x * x + W_m * mem``; ``mem' = s(f + bias) mem + s(i) tanh(g)``.

    The spatiotemporal memory update of PredRNN's ST-LSTM as coded in the
    MS-RNN repository (``x2h_m`` and ``m2h_m``, both biased). ``forward`` also
    returns the increment ``s(i) tanh(g)`` (PredRNN-V2's decoupling loss uses it).
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        conv: ConvSpec = PLAIN,
        *,
        forget_bias: float = 0.0,
    ) -> None:
        super().__init__()
        self.forget_bias = forget_bias
        self.gates = conv.gate_conv([in_channels, hidden_channels], 3 * hidden_channels)

    def forward(self, x: Tensor, memory: Tensor) -> tuple[Tensor, Tensor]:
        """Returns ``(new_memory, increment)``."""
        i, f, g = self.gates(x, memory).chunk(3, dim=1)
        increment = torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(f + self.forget_bias) * memory + increment, increment


class MemoryOutput(nn.Module):
    """``h = s(o + sum_k W_k * mem_k) * tanh(W_1x1 * [mem_1, ..., mem_n])``.

    The ST-LSTM output: one k x k convolution per memory into the output gate
    (``c2o``, ``m2o``, ... each biased, as in the MS-RNN code) and a 1x1
    convolution fusing the memories (``conv_c_m``).
    """

    def __init__(self, hidden_channels: int, num_memories: int = 2, conv: ConvSpec = PLAIN) -> None:
        super().__init__()
        self.to_gate = conv.gate_conv([hidden_channels] * num_memories, hidden_channels)
        self.fuse = nn.Conv2d(num_memories * hidden_channels, hidden_channels, 1, bias=conv.bias)

    def forward(self, o: Tensor, *memories: Tensor) -> Tensor:
        """``o`` is the output-gate pre-activation from the inputs; returns the new hidden state."""
        return self.forward_with_gate(o, *memories)[0]

    def forward_with_gate(self, o: Tensor, *memories: Tensor) -> tuple[Tensor, Tensor]:
        """Like ``forward``, also returning the output gate (MotionRNN's highway uses ``1 - gate``)."""
        gate = torch.sigmoid(o + self.to_gate(*memories))
        return gate * torch.tanh(self.fuse(torch.cat(memories, dim=1))), gate
