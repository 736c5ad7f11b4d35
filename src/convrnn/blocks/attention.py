"""Attention over spatial positions with memory linear in the number of tokens, and SA-ConvLSTM's plain SA."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from convrnn.blocks.tracing import exporting
from convrnn.errors import ConfigError


def attend(q: Tensor, k: Tensor, v: Tensor, scale: float) -> Tensor:
    """``softmax(scale * q k^T) v`` for token tensors ``(N, L, E)``, through fused attention.

    ``torch.nn.functional.scaled_dot_product_attention`` never stores the
    ``L x L`` weights for backward (it keeps the output and one log-sum-exp per
    query), so training memory grows linearly with ``L``. The fused kernels need
    one width for queries, keys and values; narrower tensors are padded with
    zeros, which leaves every dot product, and so the result, exactly unchanged;
    and they need the feature axis contiguous (else PyTorch silently falls back
    to the quadratic-memory math path), so strided inputs are copied first.
    ``scale`` is always explicit: ``1.0`` reproduces the unscaled softmax of the
    SA-ConvLSTM paper and the CMS-LSTM code.
    """
    q, k, v = (t if t.stride(-1) == 1 else t.contiguous() for t in (q, k, v))
    width_qk, width_v = q.shape[-1], v.shape[-1]
    width = max(width_qk, width_v)
    if width_qk < width:
        q = F.pad(q, (0, width - width_qk))
        k = F.pad(k, (0, width - width_qk))
    if width_v < width:
        v = F.pad(v, (0, width - width_v))
    chunks = _backward_query_chunks(q, k, v)
    batch, tokens = q.shape[:2]
    heads_q = q.reshape(batch, chunks, tokens // chunks, width)
    heads_k, heads_v = (t.unsqueeze(1).expand(batch, chunks, *t.shape[1:]) for t in (k, v))
    out = F.scaled_dot_product_attention(heads_q, heads_k, heads_v, scale=scale)
    return out.reshape(batch, tokens, width)[..., :width_v]


def query_chunks(batch: int, tokens: int, threads: int) -> int:
    """Blocks to split the queries into so that ``batch * blocks`` is about twice ``threads``.

    PyTorch's CPU flash-attention backward shares its work out by batch and
    head, so a batch smaller than the thread count leaves threads idle (one
    64x64 SA-ConvLSTM attention at batch 1, 2 threads: 89 ms backward whole,
    76 ms in 4 query blocks). Queries are independent: blocks that each see all
    keys give the same output, and autograd sums the key and value gradients
    over the blocks. Returns 1 (no split) when the batch already fills the
    threads; otherwise the largest block count up to the target that divides
    ``tokens``.
    """
    if 2 * batch > threads:
        return 1
    for blocks in range(2 * threads // batch, 1, -1):
        if tokens % blocks == 0:
            return blocks
    return 1


def _backward_query_chunks(q: Tensor, k: Tensor, v: Tensor) -> int:
    """:func:`query_chunks` where a CPU backward will run through the flash kernel, else 1."""
    training = torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v))
    if not training or exporting() or q.device.type != "cpu":
        return 1
    return query_chunks(q.shape[0], q.shape[1], torch.get_num_threads())


def attention_scale(width: int, scaled: bool) -> float:
    """``1/sqrt(width)`` with ``scaled``, else ``1.0`` (the papers' plain ``softmax(Q^T K)``)."""
    return 1.0 / math.sqrt(width) if scaled else 1.0


def to_tokens(x: Tensor) -> Tensor:
    """``(B, C, H, W) -> (B, H*W, C)``: one token per position, row-major."""
    return x.flatten(2).transpose(1, 2)


def from_tokens(t: Tensor, height: int, width: int) -> Tensor:
    """Inverse of :func:`to_tokens`: ``(B, H*W, C) -> (B, C, H, W)``."""
    return t.transpose(1, 2).reshape(t.shape[0], t.shape[2], height, width)


def default_attention_channels(channels: int, attention_channels: int | None) -> int:
    """The query/key width: ``attention_channels``, or ``channels // 2`` (non-local networks' choice)."""
    if attention_channels is None:
        return max(1, channels // 2)
    if attention_channels < 1:
        raise ConfigError(f"attention_channels must be >= 1, got {attention_channels}")
    return int(attention_channels)


class SelfAttention(nn.Module):
    """SA-ConvLSTM's plain self-attention (base model, paper Sec. 3.1): ``x + W_f softmax(Q^T K) V``.

    ``Q, K = W_q x, W_k x`` have ``attention_channels`` channels, ``V = W_v x``
    has ``channels``; all projections are biased 1x1 convolutions. Set
    ``record`` to a list to collect the queries and keys of every call
    (:mod:`convrnn.maps` draws attention maps from them).
    """

    def __init__(
        self, channels: int, attention_channels: int | None = None, *, scaled: bool = False
    ) -> None:
        super().__init__()
        self.attention_channels = default_attention_channels(channels, attention_channels)
        self.scale = attention_scale(self.attention_channels, scaled)
        self.qkv = nn.Conv2d(channels, 2 * self.attention_channels + channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)  # W_f
        self.record: list[dict[str, Any]] | None = None

    def forward(self, x: Tensor) -> Tensor:
        """Attend over all positions of ``x`` ``(B, C, H, W)`` and add the result to ``x``."""
        a = self.attention_channels
        q, k, v = self.qkv(x).split([a, a, x.shape[1]], dim=1)
        if self.record is not None:
            self.record.append({"query": q.detach(), "key": k.detach(), "scale": self.scale})
        z = attend(to_tokens(q), to_tokens(k), to_tokens(v), self.scale)
        return x + self.out(from_tokens(z, *x.shape[-2:]))
