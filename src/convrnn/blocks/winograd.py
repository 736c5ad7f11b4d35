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

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

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


def _matrix(rows: tuple[tuple[float, ...], ...], like: Tensor) -> Tensor:
    return torch.tensor(rows, dtype=torch.float64).to(device=like.device, dtype=like.dtype)


def _both_axes(matrix: Tensor, tiles: Tensor) -> Tensor:
    """``matrix`` applied along both tile axes of ``tiles`` ``(k * k, ...)`` -> ``(r * r, ...)``.

    Two passes of ``k`` multiplies per element instead of one of ``k * k`` (the Kronecker product).
    """
    rows, k = matrix.shape
    once = (matrix @ tiles.reshape(k, -1)).view(rows, k, -1)
    return torch.matmul(matrix, once).view(rows * rows, *tiles.shape[1:])


def _transform_inputs(inputs: tuple[Tensor, ...]) -> Tensor:
    """The inputs' overlapping 6x6 tiles (zero padding 1) in the Winograd domain: ``(36, C, B * tiles)``."""
    batch = inputs[0].shape[0]
    columns = [F.unfold(x, SPAN, padding=1, stride=TILE) for x in inputs]  # (B, C_i * 36, tiles)
    tiles = torch.cat(columns, 1) if len(columns) > 1 else columns[0]
    tiles = tiles.view(batch, -1, SPAN * SPAN, tiles.shape[-1]).permute(2, 1, 0, 3)
    channels = tiles.shape[1]
    return _both_axes(_matrix(_INPUT, tiles), tiles.reshape(SPAN * SPAN, -1)).view(
        SPAN * SPAN, channels, -1
    )


def _transform_weight(weight: Tensor) -> Tensor:
    """``G g G^T`` of every 3x3 kernel: ``(36, out, in)``."""
    g = _matrix(_KERNEL, weight)
    return (torch.kron(g, g) @ weight.reshape(-1, 9).T).view(SPAN * SPAN, *weight.shape[:2])


def _outputs(products: Tensor, batch: int, height: int, width: int) -> Tensor:
    """``A^T m A`` of every tile, laid out as the ``(B, out, H, W)`` frame."""
    out = products.shape[1]
    tiles = _both_axes(_matrix(_OUTPUT, products), products.view(SPAN * SPAN, -1))
    tiles = tiles.view(TILE, TILE, out, batch, height // TILE, width // TILE)
    return tiles.permute(3, 2, 4, 0, 5, 1).reshape(batch, out, height, width)


class _WinogradConv(torch.autograd.Function):
    """``sum_i conv3x3(inputs[i], weight[:, slice_i]) + bias``, padding 1, in the Winograd domain."""

    @staticmethod
    def forward(ctx: FunctionCtx, weight: Tensor, bias: Tensor | None, *inputs: Tensor) -> Tensor:
        batch, _, height, width = inputs[0].shape
        products = torch.bmm(_transform_weight(weight), _transform_inputs(inputs))
        y = _outputs(products, batch, height, width)
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
        output_t = _matrix(_OUTPUT, grad).T.contiguous()
        tiles = grad.reshape(batch, out, height // TILE, TILE, width // TILE, TILE)
        tiles = tiles.permute(3, 5, 1, 0, 2, 4).reshape(TILE * TILE, -1)
        grad_products = _both_axes(output_t, tiles).view(SPAN * SPAN, out, -1)
        grad_weight_t = torch.bmm(grad_products, _transform_inputs(tuple(inputs)).transpose(1, 2))
        grad_tiles_t = torch.bmm(_transform_weight(weight).transpose(1, 2), grad_products)
        g = _matrix(_KERNEL, weight)
        grad_weight = (torch.kron(g, g).T @ grad_weight_t.view(SPAN * SPAN, -1)).T
        input_t = _matrix(_INPUT, grad).T.contiguous()
        grad_tiles = _both_axes(input_t, grad_tiles_t).view(SPAN * SPAN, channels, batch, -1)
        grad_tiles = grad_tiles.permute(2, 1, 0, 3).reshape(batch, channels * SPAN * SPAN, -1)
        grad_input = F.fold(grad_tiles, (height, width), SPAN, padding=1, stride=TILE)
        grad_inputs = grad_input.split([x.shape[1] for x in inputs], 1)
        grad_bias = grad.sum((0, 2, 3)) if ctx.has_bias else None
        return grad_weight.reshape(weight.shape), grad_bias, *grad_inputs


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
        and not torch.compiler.is_compiling()
        and not torch.jit.is_tracing()
    )
