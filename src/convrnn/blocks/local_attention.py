"""Image local attention (PrecipLSTM's LA) in pure PyTorch, computed in row chunks to bound memory.

Definition, for a window of ``w`` pixels: pixel ``(y, x)`` attends to the
``w x w`` pixels ``(y + dy, x + dx)`` with ``dy, dx`` in ``[-(w // 2), w - 1 - w // 2]``
(centred for odd ``w``; one more pixel before than after for even ``w``, as in
the CUDA extension the official code uses). Keys and values outside the frame
are zeros (zero padding): such a position has logit ``q . 0 = 0`` and adds
nothing to the output, but it does take part in the softmax. The logits are
plain dot products (no ``1 / sqrt(C)``), softmax over the ``w^2`` positions.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

#: elements of one chunk's logits; bounds the temporary memory of a chunk
CHUNK_ELEMENTS = 2**22


def _offsets(window: int) -> tuple[int, int]:
    """How far the window reaches before and after a pixel, along each axis."""
    before = window // 2
    return before, window - 1 - before


def _in_frame(size: int, window: int, device: torch.device) -> Tensor:
    """For each coordinate, how many window positions along that axis fall inside ``[0, size)``."""
    before, after = _offsets(window)
    pos = torch.arange(size, device=device)
    return (pos + after).clamp(max=size - 1) - (pos - before).clamp(min=0) + 1


def _attend_rows(
    q: Tensor, k: Tensor, v: Tensor, r0: int, k0: int, window: int, height: int
) -> Tensor:
    """Attention of the query rows ``[r0, r0 + R)`` (``q``: B, C, R, W) over the key/value rows
    ``[k0, k0 + Rk)`` (``k``, ``v``: B, C, Rk, W) that hold every in-frame window position.

    Dense over the band, masked to the window; the window positions outside
    the frame (zero keys and values) enter the softmax as one extra logit
    ``log(count)`` whose value is zero.
    """
    b, c, r, w = q.shape
    rk = k.shape[2]
    before, after = _offsets(window)
    qy = torch.arange(r0, r0 + r, device=q.device).view(r, 1, 1, 1)
    ky = torch.arange(k0, k0 + rk, device=q.device).view(1, 1, rk, 1)
    qx = torch.arange(w, device=q.device).view(1, w, 1, 1)
    kx = torch.arange(w, device=q.device).view(1, 1, 1, w)
    dy, dx = ky - qy, kx - qx
    inside = ((dy >= -before) & (dy <= after) & (dx >= -before) & (dx <= after)).view(r * w, rk * w)
    rows_in = _in_frame(height, window, q.device)[r0 : r0 + r].view(r, 1)
    cols_in = _in_frame(w, window, q.device).view(1, w)
    outside = (window * window - rows_in * cols_in).view(1, r * w, 1).to(q.dtype)

    queries = q.flatten(2).transpose(1, 2)  # B, R W, C
    logits = torch.matmul(queries, k.flatten(2))  # B, R W, Rk W
    logits = logits.masked_fill(~inside, float("-inf"))
    weights = torch.softmax(torch.cat((logits, outside.log().expand(b, -1, -1)), dim=2), dim=2)
    out = torch.matmul(weights[..., :-1], v.flatten(2).transpose(1, 2))  # B, R W, C
    return out.transpose(1, 2).reshape(b, c, r, w)


def _chunks(height: int, width: int, batch: int, window: int, chunk_elements: int):
    """Row ranges ``(r0, r1, k0, k1)`` of queries and of the keys their windows reach."""
    before, after = _offsets(window)
    rows = 1
    while (
        rows < height
        and batch * (rows + 1) * width * min(height, rows + window) * width <= chunk_elements
    ):
        rows += 1
    for r0 in range(0, height, rows):
        r1 = min(height, r0 + rows)
        yield r0, r1, max(0, r0 - before), min(height, r1 + after)


class _LocalAttention(torch.autograd.Function):
    """Saves only ``q, k, v`` for backward and recomputes each chunk's attention there."""

    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, v: Tensor, window: int, chunk_elements: int) -> Tensor:
        ctx.save_for_backward(q, k, v)
        ctx.window, ctx.chunk_elements = window, chunk_elements
        b, _, h, w = q.shape
        out = torch.empty_like(q)
        for r0, r1, k0, k1 in _chunks(h, w, b, window, chunk_elements):
            out[:, :, r0:r1] = _attend_rows(
                q[:, :, r0:r1], k[:, :, k0:k1], v[:, :, k0:k1], r0, k0, window, h
            )
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        q, k, v = ctx.saved_tensors
        window = ctx.window
        b, _, h, w = q.shape
        dq, dk, dv = torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)
        for r0, r1, k0, k1 in _chunks(h, w, b, window, ctx.chunk_elements):
            with torch.enable_grad():
                qc = q[:, :, r0:r1].detach().requires_grad_()
                kc = k[:, :, k0:k1].detach().requires_grad_()
                vc = v[:, :, k0:k1].detach().requires_grad_()
                out = _attend_rows(qc, kc, vc, r0, k0, window, h)
                gq, gk, gv = torch.autograd.grad(out, (qc, kc, vc), grad[:, :, r0:r1])
            dq[:, :, r0:r1] = gq
            dk[:, :, k0:k1] += gk
            dv[:, :, k0:k1] += gv
        return dq, dk, dv, None, None


def local_attention(
    q: Tensor, k: Tensor, v: Tensor, window: int, *, chunk_elements: int = CHUNK_ELEMENTS
) -> Tensor:
    """Local attention of ``q`` over the ``window x window`` neighbourhood in ``k``/``v`` (module docstring).

    ``q, k, v``: ``(B, C, H, W)``. The queries are processed in chunks of rows,
    each against the band of key rows its windows reach (at most about
    ``chunk_elements`` logits at a time). Backward keeps only ``q, k, v``
    (``3 B C H W`` values), not the attention weights, and recomputes them
    chunk by chunk.
    """
    if window < 1:
        raise ValueError(f"the local attention window must be >= 1 pixel, got {window}")
    if q.shape != k.shape or q.shape != v.shape or q.dim() != 4:
        raise ValueError(
            f"q, k and v must share one (B, C, H, W) shape, got {tuple(q.shape)}, {tuple(k.shape)}, "
            f"{tuple(v.shape)}"
        )
    return _LocalAttention.apply(q, k, v, window, chunk_elements)


class LocalAttention(nn.Module):
    """``LA(x)``: bias-free 1x1 convs give q, k, v; each pixel attends over its ``window x window`` neighbours."""

    def __init__(self, channels: int, window: int = 30) -> None:
        super().__init__()
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ValueError(
                f"the local attention window (la_num) must be an integer >= 1, got {window!r}"
            )
        self.window = window
        self.query = nn.Conv2d(channels, channels, 1, bias=False)
        self.key = nn.Conv2d(channels, channels, 1, bias=False)
        self.value = nn.Conv2d(channels, channels, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """Attention output, same shape as ``x``."""
        return local_attention(self.query(x), self.key(x), self.value(x), self.window)

    def extra_repr(self) -> str:
        return f"window={self.window}"
