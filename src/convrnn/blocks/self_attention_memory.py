"""SA-ConvLSTM's self-attention memory (SAM, paper Sec. 3.2, Eqs. 2-9)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from convrnn.blocks.attention import (
    attend,
    attention_scale,
    default_attention_channels,
    from_tokens,
    to_tokens,
)
from convrnn.blocks.gate_conv import PLAIN, ConvSpec
from convrnn.errors import ConfigError

GATE_CONVS = ("dwsep", "full", "1x1")


def gate_convolution(kind: str, in_channels: int, out_channels: int, conv: ConvSpec) -> nn.Module:
    """The convolution over ``[Z, H]`` that gives SAM's gates, of ``conv``'s kernel and bias.

    * ``"dwsep"`` (the paper): a k x k depth-wise convolution without bias, then
      a 1x1 point-wise convolution carrying the gate bias (Xception / TensorFlow
      ``separable_conv2d``);
    * ``"full"``: one k x k convolution;
    * ``"1x1"``: one 1x1 convolution (most public re-implementations).
    """
    if kind not in GATE_CONVS:
        raise ConfigError(f"gate_conv={kind!r} is not supported; choose one of {GATE_CONVS}")
    kernel_size, bias = conv.kernel_size, conv.bias
    if kernel_size % 2 != 1:
        raise ConfigError(f"kernel_size must be odd to keep the frame size, got {kernel_size}")
    pad = kernel_size // 2
    if kind == "full":
        return conv.conv2d(in_channels, out_channels)
    if kind == "1x1":
        return nn.Conv2d(in_channels, out_channels, 1, bias=bias)
    return nn.Sequential(
        nn.Conv2d(
            in_channels, in_channels, kernel_size, padding=pad, groups=in_channels, bias=False
        ),
        nn.Conv2d(in_channels, out_channels, 1, bias=bias),
    )


class SelfAttentionMemory(nn.Module):
    """SAM: attention of ``H_t`` over itself and over the memory ``M_{t-1}``, then a gated memory.

    * ``Q = W_q H``, ``K_h = W_k H`` (``attention_channels`` wide), ``V_h = W_v H``;
      ``K_m = W_mk M``, ``V_m = W_mv M`` (biased 1x1 convolutions);
    * ``Z_h = softmax(Q^T K_h) V_h``, ``Z_m = softmax(Q^T K_m) V_m`` (the memory
      branch re-uses ``Q``), ``Z = W_z [Z_h; Z_m]`` (1x1);
    * ``[i, g, o] = gate_conv([Z, H])`` of ``conv``'s kernel and bias (+ LayerNorm over
      [3C, H, W] with its ``norm="layer"``);
      ``M_t = (1 - s(i)) M_{t-1} + s(i) tanh(g)``; ``H^_t = s(o) M_t`` (no tanh).

    The paper's Table 1 ablations: ``attention=False`` drops ``Z_h``,
    ``memory_attention=False`` drops ``Z_m``; with both off the gates see
    ``H_t`` alone (ConvLSTM "w/o SA, w Mem"). ``scaled`` divides the scores by
    ``sqrt(attention_channels)`` (the paper does not). Set ``record`` to a list
    to collect the queries and keys of every call.
    """

    def __init__(
        self,
        channels: int,
        attention_channels: int | None = None,
        conv: ConvSpec = PLAIN,
        *,
        gate_conv: str = "dwsep",
        scaled: bool = False,
        attention: bool = True,
        memory_attention: bool = True,
    ) -> None:
        super().__init__()
        self.channels = channels
        self.attention_channels = default_attention_channels(channels, attention_channels)
        self.scale = attention_scale(self.attention_channels, scaled)
        self.attention = attention
        self.memory_attention = memory_attention
        a = self.attention_channels
        branches = int(attention) + int(memory_attention)
        self.query = nn.Conv2d(channels, a, 1) if branches else None
        self.hidden_kv = nn.Conv2d(channels, a + channels, 1) if attention else None
        self.memory_kv = nn.Conv2d(channels, a + channels, 1) if memory_attention else None
        self.fuse = nn.Conv2d(branches * channels, channels, 1) if branches else None  # W_z
        gate_in = (channels if branches else 0) + channels
        self.gates = gate_convolution(gate_conv, gate_in, 3 * channels, conv)
        self.gate_norm = conv.layer_norm(3 * channels)
        self.record: list[dict[str, Any]] | None = None

    def _aggregate(self, h: Tensor, memory: Tensor) -> Tensor | None:
        """``Z = W_z [Z_h; Z_m]`` (only the enabled branches), or ``None`` without attention."""
        if self.query is None:
            return None
        a, size = self.attention_channels, h.shape[-2:]
        q = self.query(h)
        q_tokens = to_tokens(q)
        parts, record = [], {"query": q.detach(), "scale": self.scale}
        for name, proj, source in (
            ("hidden", self.hidden_kv, h),
            ("memory", self.memory_kv, memory),
        ):
            if proj is None:
                continue
            k, v = proj(source).split([a, self.channels], dim=1)
            record[f"{name}_key"] = k.detach()
            parts.append(
                from_tokens(attend(q_tokens, to_tokens(k), to_tokens(v), self.scale), *size)
            )
        if self.record is not None:
            self.record.append(record)
        return self.fuse(parts[0] if len(parts) == 1 else torch.cat(parts, dim=1))

    def forward(self, h: Tensor, memory: Tensor) -> tuple[Tensor, Tensor]:
        """Returns ``(H^_t, M_t)`` for the ConvLSTM output ``h`` and the previous memory."""
        z = self._aggregate(h, memory)
        gate_in = h if z is None else torch.cat([z, h], dim=1)
        i, g, o = self.gate_norm(self.gates(gate_in)).chunk(3, dim=1)
        i = torch.sigmoid(i)
        memory = (1 - i) * memory + i * torch.tanh(g)
        return torch.sigmoid(o) * memory, memory
