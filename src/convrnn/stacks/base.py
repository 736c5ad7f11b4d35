"""The stack: cells in layers, with per-layer scales and input sources. Flat and MultiScale specialise it."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from convrnn.cells.base import Cell, CellFactory, LayerSpec, State
from convrnn.errors import ConfigError

#: (per-layer horizontal states, zig-zag memory leaving the top layer)
StackState = tuple[tuple[State, ...], Tensor | None]


def resample(x: Tensor, size: Sequence[int]) -> Tensor:
    """Bring ``x`` to spatial ``size``: max-pool to shrink, bilinear to grow, identity if equal."""
    h, w = x.shape[-2:]
    th, tw = int(size[0]), int(size[1])
    if (h, w) == (th, tw):
        return x
    if h >= th and w >= tw:
        if h % th or w % tw:
            raise ValueError(f"cannot max-pool {h}x{w} to {th}x{tw}: not an integer factor")
        return F.max_pool2d(x, kernel_size=(h // th, w // tw))
    if h <= th and w <= tw:
        return F.interpolate(x, size=(th, tw), mode="bilinear", align_corners=False)
    raise ValueError(f"cannot resample {h}x{w} to {th}x{tw}: mixed up- and down-sampling")


class Stack(nn.Module):
    """``depth`` cells; layer ``j`` works at 1/2**scales[j] of the input size.

    The input of layer ``j > 0`` is the sum of the outputs of layers
    ``sources[j]`` at this time step, each resampled to layer ``j``'s size. The
    zig-zag memory ``m`` goes from layer to layer (resampled, never skipped) and
    from the top layer at ``t`` to the bottom layer at ``t + 1``. A cell with
    ``takes_below`` also gets ``below=``, layer ``j - 1``'s output resampled to its size.
    """

    def __init__(
        self,
        cell_factory: CellFactory,
        depth: int,
        channels: int,
        scales: Sequence[int],
        sources: Sequence[Sequence[int]],
        image_size: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        if depth < 2:
            raise ConfigError(
                f"a stack needs at least 2 layers, got num_layers={depth}; pass num_layers >= 2"
            )
        if len(scales) != depth or len(sources) != depth:
            raise ValueError("scales and sources need one entry per layer")
        self.depth = depth
        self.channels = channels
        self.scales = tuple(int(s) for s in scales)
        self.sources = tuple(tuple(int(i) for i in src) for src in sources)
        for j, src in enumerate(self.sources[1:], start=1):
            if not src or any(not 0 <= i < j for i in src):
                raise ValueError(f"layer {j} must take input from earlier layers, got {src}")
        cells = []
        for j, s in enumerate(self.scales):
            h = w = None
            if image_size is not None:
                h, w = image_size[0] >> s, image_size[1] >> s
            spec = LayerSpec(
                index=j,
                depth=depth,
                in_channels=channels,
                hidden_channels=channels,
                height=h,
                width=w,
                scale=s,
            )
            cells.append(cell_factory(spec))
        self.cells = nn.ModuleList(cells)
        for cell_type in dict.fromkeys(type(c) for c in cells):
            if issubclass(cell_type, Cell):
                cell_type.link_layers([c for c in cells if type(c) is cell_type])

    @property
    def divisor(self) -> int:
        """Frame height and width entering the stack must be multiples of this."""
        return max(
            2**s * getattr(c, "size_multiple", 1)
            for s, c in zip(self.scales, self.cells, strict=True)
        )

    def layer_sizes(self, height: int, width: int) -> list[tuple[int, int]]:
        """The spatial size of every layer for an input of ``height`` x ``width``."""
        d = self.divisor
        if height % d or width % d:
            raise ValueError(
                f"the stack pools {max(self.scales)} times (and its cells need multiples of "
                f"{max(getattr(c, 'size_multiple', 1) for c in self.cells)}), so its input size must be "
                f"divisible by {d}; got {height}x{width}"
            )
        return [(height >> s, width >> s) for s in self.scales]

    def init_state(
        self, batch: int, height: int, width: int, device: torch.device, dtype: torch.dtype
    ) -> StackState:
        """Zero states for every layer at its own size; no zig-zag memory yet."""
        sizes = self.layer_sizes(height, width)
        states = tuple(
            cell.init_state(batch, h, w, device, dtype)
            for cell, (h, w) in zip(self.cells, sizes, strict=True)
        )
        return states, None

    def forward(self, x: Tensor, state: StackState) -> tuple[list[Tensor], StackState]:
        """One time step; returns every layer's output (top last) and the new state."""
        layer_states, m = state
        outputs: list[Tensor] = []
        new_states = []
        height, width = x.shape[-2:]
        for j, cell in enumerate(self.cells):
            size = (height >> self.scales[j], width >> self.scales[j])
            if j == 0:
                inp = x
            else:
                inp = resample(outputs[self.sources[j][0]], size)
                for i in self.sources[j][1:]:
                    inp = inp + resample(outputs[i], size)
            if m is not None:
                m = resample(m, size)
            if getattr(cell, "takes_below", False):  # the layer below without skips (Cell doc)
                below = (
                    inp if j == 0 or self.sources[j] == (j - 1,) else resample(outputs[j - 1], size)
                )
                h, st, m = cell(inp, layer_states[j], m, below=below)
            else:
                h, st, m = cell(inp, layer_states[j], m)
            outputs.append(h)
            new_states.append(st)
        return outputs, (tuple(new_states), m)

    def pop_aux_loss(self) -> Tensor | None:
        """Sum of the cells' auxiliary losses since the last call, or ``None``."""
        total = None
        for cell in self.cells:
            if isinstance(cell, Cell):
                aux = cell.pop_aux_loss()
                if aux is not None:
                    total = aux if total is None else total + aux
        return total
