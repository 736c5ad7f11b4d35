"""Winograd F(4x4, 3x3) convolution for training on CPUs: 4x fewer multiplies than a direct 3x3 conv.

Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (CVPR 2016): each
6x6 input tile and each 3x3 kernel go to a 36-point domain (``B^T d B``, ``G g G^T``)
where the convolution is 36 independent channel GEMMs, and ``A^T m A`` brings 4x4
outputs back. Training runs three such GEMMs per convolution (output, input gradient,
weight gradient), so the saving holds in backward too. The sums are the direct
convolution's up to float rounding (relative error about 1e-5 in float32 instead of
1e-7; ``tests/test_winograd.py`` bounds it).

It pays where the convolution is compute-bound and the transforms are cheap: float32
on a CPU, at least :data:`MIN_TILES` output tiles per call. A GateConv uses it there
(``algorithm="auto"``, see :func:`winograd_applies`); CUDA keeps cuDNN, which picks its own
Winograd kernels. ``benchmarks/train_speed_ab.py`` measures the effect on a training step.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

from convrnn.blocks.tracing import exporting

#: output tile size m of F(m x m, 3 x 3), and the input tile it reads (m + 2)
TILE = 4
SPAN = TILE + 2
#: fewer output tiles than this (batch x H/4 x W/4) per call and the transforms cost more than they save
MIN_TILES = 128

# the points 0, 1, -1, 2, -2 and infinity (Lavin & Gray's F(4x4, 3x3))
_INPUT = (
    (4, 0, -5, 0, 1, 0),
    (0, -4, -4, 1, 1, 0),
    (0, 4, -4, -1, 1, 0),
    (0, -2, -1, 2, 1, 0),
    (0, 2, -1, -2, 1, 0),
    (0, 4, 0, -5, 0, 1),
)
_KERNEL = (
    (1 / 4, 0, 0),
    (-1 / 6, -1 / 6, -1 / 6),
    (-1 / 6, 1 / 6, -1 / 6),
    (1 / 24, 1 / 12, 1 / 6),
    (1 / 24, -1 / 12, 1 / 6),
    (0, 0, 1),
)
_OUTPUT = (
    (1, 1, 1, 1, 1, 0),
    (0, 1, -1, 2, -2, 0),
    (0, 1, 1, 4, 4, 0),
    (0, 1, -1, 8, -8, 1),
)


@functools.cache
def _constants(dtype: torch.dtype, device: torch.device) -> dict[str, Tensor]:
    """The transform matrices, built once per dtype and device (read only: shared by every call)."""

    def matrix(rows: tuple[tuple[float, ...], ...]) -> Tensor:
        return torch.tensor(rows, dtype=torch.float64).to(device=device, dtype=dtype)

    kernel = matrix(_KERNEL)
    return {
        "input": matrix(_INPUT),
        "input_t": matrix(_INPUT).T.contiguous(),
        "output": matrix(_OUTPUT),
        "output_t": matrix(_OUTPUT).T.contiguous(),
        "kernel": torch.kron(kernel, kernel),  # (36, 9): G g G^T of a flattened 3x3 kernel
    }


def _matrix(name: str, like: Tensor) -> Tensor:
    return _constants(like.dtype, like.device)[name]


#: scratch tensors reused by every call, the largest size seen kept per name (see :func:`_scratch`)
_SCRATCH: dict[tuple[str, torch.dtype, torch.device], Tensor] = {}
#: a scratch tensor's smallest allocation: above glibc's largest dynamic mmap threshold (32 MiB)
SCRATCH_MIN_BYTES = 64 * 2**20


def _scratch(name: str, shape: tuple[int, ...], like: Tensor) -> Tensor:
    """A reused tensor of ``shape`` for an intermediate (its values are garbage).

    Freeing tens of MiB of intermediates at every call makes glibc raise its mmap
    threshold above the activations' size; the activations then share the heap with
    the churn and fragment it (the peak RSS of a PredRNN step grew by 37%). Reused
    intermediates keep the allocation pattern of ``conv2d``. Every buffer is at least
    :data:`SCRATCH_MIN_BYTES`: glibc serves such sizes by mmap and leaves its threshold
    alone when one is freed (as a buffer is when it grows); pages never touched cost no
    memory. Calls must not overlap (autograd runs one node at a time per device).
    """
    key = (name, like.dtype, like.device)
    numel = math.prod(shape)
    buffer = _SCRATCH.get(key)
    if buffer is None or buffer.numel() < numel:
        smallest = SCRATCH_MIN_BYTES // like.element_size()
        del buffer  # with the dict's entry, the last reference: freed before the new allocation
        _SCRATCH.pop(key, None)
        buffer = _SCRATCH[key] = torch.empty(
            max(numel, smallest), dtype=like.dtype, device=like.device
        )
    return buffer[:numel].view(shape)


def _both_axes(matrix: Tensor, tiles: Tensor, middle: str, out: str) -> Tensor:
    """``matrix`` applied along both tile axes of ``tiles`` ``(k * k, ...)`` -> ``(r * r, ...)``.

    Two passes of ``k`` multiplies per element instead of one of ``k * k`` (the Kronecker
    product); the results land in the scratch tensors ``middle`` and then ``out``.
    """
    rows, k = matrix.shape
    rest = tiles.numel() // (k * k)
    once = torch.mm(matrix, tiles.reshape(k, -1), out=_scratch(middle, (rows, k * rest), tiles))
    result = _scratch(out, (rows, rows, rest), tiles)
    torch.bmm(matrix.expand(rows, rows, k), once.view(rows, k, rest), out=result)
    return result.view(rows * rows, *tiles.shape[1:])


def _transform_inputs(inputs: tuple[Tensor, ...]) -> Tensor:
    """The inputs' overlapping 6x6 tiles (zero padding 1) in the Winograd domain: ``(36, C, B * tiles)``.

    Lands in the scratch tensor ``"b"`` (and uses ``"x"`` and ``"a"``). The inputs are
    copied side by side into a zero-bordered buffer, and the tiles are one strided view of
    it, gathered by one copy: three times faster than ``im2col`` and a permuting copy.
    """
    x = inputs[0]
    batch, height, width = x.shape[0], *x.shape[2:]
    channels = sum(t.shape[1] for t in inputs)
    padded = _scratch("x", (batch, channels, height + 2, width + 2), x)
    for border in (padded[:, :, 0], padded[:, :, -1], padded[:, :, :, 0], padded[:, :, :, -1]):
        border.zero_()
    first = 0
    for t in inputs:
        padded[:, first : first + t.shape[1], 1:-1, 1:-1].copy_(t)
        first += t.shape[1]
    tiles = _scratch("b", (SPAN, SPAN, channels, batch, height // TILE, width // TILE), x)
    tiles.copy_(_tile_view(padded))
    tiles = tiles.view(SPAN * SPAN, channels, batch, -1)
    return _both_axes(_matrix("input", x), tiles, "a", "b").view(SPAN * SPAN, channels, -1)


def _tile_view(padded: Tensor) -> Tensor:
    """The 6x6 tiles at stride 4 of ``padded`` ``(B, C, H + 2, W + 2)`` as a view ``(6, 6, C, B, H/4, W/4)``."""
    batch, channels, rows, cols = padded.shape
    return padded.as_strided(
        (SPAN, SPAN, channels, batch, (rows - 2) // TILE, (cols - 2) // TILE),
        (cols, 1, rows * cols, channels * rows * cols, TILE * cols, TILE),
        padded.storage_offset(),
    )


def _transform_weight(weight: Tensor) -> Tensor:
    """``G g G^T`` of every 3x3 kernel: ``(36, out, in)`` (in the scratch tensor ``"u"``)."""
    out = _scratch("u", (SPAN * SPAN, weight.shape[0] * weight.shape[1]), weight)
    torch.mm(_matrix("kernel", weight), weight.reshape(-1, 9).T, out=out)
    return out.view(SPAN * SPAN, *weight.shape[:2])


class _WinogradConv(torch.autograd.Function):
    """``sum_i conv3x3(inputs[i], weight[:, slice_i]) + bias``, padding 1, in the Winograd domain."""

    @staticmethod
    def forward(ctx: FunctionCtx, weight: Tensor, bias: Tensor | None, *inputs: Tensor) -> Tensor:
        batch, _, height, width = inputs[0].shape
        out = weight.shape[0]
        tiles = _transform_inputs(inputs)
        products = _scratch("m", (SPAN * SPAN, out, tiles.shape[-1]), weight)
        torch.bmm(_transform_weight(weight), tiles, out=products)
        # "a" (the input transform's middle) is free again and takes this one's
        y = _both_axes(_matrix("output", weight), products, "a", "m")
        y = y.view(TILE, TILE, out, batch, height // TILE, width // TILE)
        y = y.permute(3, 2, 4, 0, 5, 1).reshape(batch, out, height, width)
        if bias is not None:
            y.add_(bias.view(1, -1, 1, 1))
        ctx.has_bias = bias is not None
        # the inputs, not their 2.25x larger transforms: backward recomputes those (same memory as conv2d)
        ctx.save_for_backward(weight, *inputs)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad: Tensor) -> tuple[Tensor | None, ...]:
        weight, *inputs = ctx.saved_tensors
        batch, _, height, width = inputs[0].shape
        out, channels = weight.shape[:2]
        tiles = _scratch("m", (TILE, TILE, out, batch, height // TILE, width // TILE), grad)
        tiles.copy_(
            grad.view(batch, out, height // TILE, TILE, width // TILE, TILE).permute(
                3, 5, 1, 0, 2, 4
            )
        )
        grad_products = _both_axes(_matrix("output_t", grad), tiles.view(TILE * TILE, -1), "a", "m")
        grad_products = grad_products.view(SPAN * SPAN, out, -1)
        input_tiles = _transform_inputs(tuple(inputs))  # in "b"; "a" and "x" are free again
        grad_weight_t = _scratch("a", (SPAN * SPAN, out, channels), grad)
        torch.bmm(grad_products, input_tiles.transpose(1, 2), out=grad_weight_t)
        grad_weight = (_matrix("kernel", weight).T @ grad_weight_t.view(SPAN * SPAN, -1)).T
        grad_tiles_t = _scratch("a", (SPAN * SPAN, channels, grad_products.shape[-1]), grad)
        torch.bmm(_transform_weight(weight).transpose(1, 2), grad_products, out=grad_tiles_t)
        grad_tiles = _both_axes(_matrix("input_t", grad), grad_tiles_t, "b", "a").view(
            SPAN * SPAN, channels, batch, -1
        )
        grad_bias = grad.sum((0, 2, 3)) if ctx.has_bias else None
        return grad_weight.reshape(weight.shape), grad_bias, *_fold_inputs(grad_tiles, inputs)


def _fold_inputs(grad_tiles: Tensor, inputs: list[Tensor]) -> list[Tensor]:
    """Each input's gradient from the tiles' gradients ``(36, C, B, tiles)``, summed where tiles overlap.

    One fold per input into its own tensor of the input's size, as conv2d gives: one fold of
    all inputs then a split would hold a second copy (a split view keeps the others alive).
    """
    batch, _, height, width = inputs[0].shape
    count = grad_tiles.shape[-1]
    columns = _scratch("b", (grad_tiles.numel(),), grad_tiles)
    grads, start, first = [], 0, 0
    for x in inputs:
        channels = x.shape[1]
        part = columns[start : start + batch * channels * SPAN * SPAN * count]
        part = part.view(batch, channels, SPAN * SPAN, count)
        part.copy_(grad_tiles[:, first : first + channels].permute(2, 1, 0, 3))
        # col2im with ``out``: F.fold's result would keep its input's 2.25x larger storage
        folded = x.new_empty(x.shape)
        columns_2d = part.view(batch, channels * SPAN * SPAN, count)
        torch._C._nn.col2im(
            columns_2d, (height, width), (SPAN,) * 2, (1, 1), (1, 1), (TILE,) * 2, out=folded
        )
        grads.append(folded)
        start, first = start + part.numel(), first + channels
    return grads


def winograd_conv3x3(weight: Tensor, bias: Tensor | None, *inputs: Tensor) -> Tensor:
    """``sum_i conv2d(inputs[i], weight[:, slice_i], padding=1) + bias`` by Winograd F(4x4, 3x3).

    ``weight`` ``(out, sum C_i, 3, 3)``; every input ``(B, C_i, H, W)`` with H and W multiples of 4.
    """
    if weight.shape[-2:] != (3, 3):
        raise ValueError(f"winograd_conv3x3 needs 3x3 kernels, got {tuple(weight.shape[-2:])}")
    height, width = inputs[0].shape[-2:]
    if height % TILE or width % TILE:
        raise ValueError(
            f"winograd_conv3x3 needs H and W divisible by {TILE}, got {height}x{width}"
        )
    return _WinogradConv.apply(weight, bias, *inputs)


def winograd_applies(weight: Tensor, inputs: tuple[Tensor, ...]) -> bool:
    """Whether Winograd is the faster way to train this convolution (measured; see the module doc).

    Float32 3x3 kernels on a CPU with a graph to build, NCHW inputs whose sizes are
    multiples of 4 and at least :data:`MIN_TILES` tiles, outside autocast and tracing.
    """
    x = inputs[0]
    batch, _, height, width = x.shape
    return (
        torch.is_grad_enabled()
        and weight.shape[-2:] == (3, 3)
        and x.device.type == "cpu"
        and weight.dtype == torch.float32
        and all(t.dtype == torch.float32 and t.is_contiguous() for t in inputs)
        and height % TILE == 0
        and width % TILE == 0
        and batch * (height // TILE) * (width // TILE) >= MIN_TILES
        and not torch.is_autocast_enabled("cpu")
        and not exporting()
    )
