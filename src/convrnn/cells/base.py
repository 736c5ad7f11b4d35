"""The Cell protocol shared by every recurrent cell, and the layer description stacks pass to cell factories."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from convrnn.errors import check_choice

State = tuple[Tensor, ...]

#: ``compat=``: ``"paper"`` (the default) computes the papers' maths; ``"official"`` reproduces the
#: official MS-RNN code where convrnn deliberately fixed it (each affected model's notes say where)
COMPAT_MODES = ("paper", "official")


def check_compat(compat: str) -> str:
    """``compat`` if it is one of :data:`COMPAT_MODES`, else a ChoiceError listing them."""
    return check_choice("compat", compat, COMPAT_MODES)


@dataclass(frozen=True)
class LayerSpec:
    """Where a cell sits in its stack: what a factory needs to build it.

    ``height``/``width`` are the layer's own spatial size, or ``None`` when the
    model was built without an ``image_size`` (cells that need it, such as
    LayerNorm over [C, H, W], must then raise).
    """

    index: int
    depth: int
    in_channels: int
    hidden_channels: int
    height: int | None = None
    width: int | None = None
    scale: int = 0  # the layer works at 1 / 2**scale of the stack's input size
    compat: str = "paper"  # the model's compat= (see COMPAT_MODES), for cells that take it


CellFactory = Callable[[LayerSpec], "Cell"]


class Cell(nn.Module):
    """A recurrent cell: ``forward(x, state, m) -> (h, new_state, new_m)``.

    * ``x``: the input from the layer below, ``(B, in_channels, H, W)``.
    * ``state``: the horizontal state the cell keeps from ``t-1`` to ``t``.
    * ``m``: the zig-zag memory (PredRNN family); ``None`` for cells that do not
      use it, and ``None`` at the very first step, where a zig-zag cell starts
      from zeros.

    A cell with ``takes_below`` true is also called with ``below=``: the output
    of the layer directly below at this step, resampled to the cell's size,
    without skips (MIM's official diagonal input under ``compat="official"``).
    """

    in_channels: int
    hidden_channels: int
    uses_zigzag: bool = False
    #: the cell's own height and width must be multiples of this (e.g. 2 for a cell that pools inside)
    size_multiple: int = 1
    #: the stack also passes ``below=`` (the layer below's output, without skips)
    takes_below: bool = False

    #: constructor arguments filled in from the LayerSpec (compat: the model's), not cell options
    SPEC_ARGUMENTS = (
        "in_channels", "hidden_channels", "height", "width", "layer_index", "depth", "compat",
    )  # fmt: skip

    def __init__(self, in_channels: int | None = None, hidden_channels: int | None = None) -> None:
        super().__init__()
        # optional, so that cells written before this helper (setting them themselves) keep working
        if in_channels is not None:
            self.in_channels = in_channels
        if hidden_channels is not None:
            self.hidden_channels = hidden_channels

    @classmethod
    def _arguments(cls) -> tuple[str, ...]:
        """Every keyword the constructor accepts, following ``**options`` into the parent cell."""
        params = inspect.signature(cls).parameters.values()
        own = [p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
        parent = next((b for b in cls.__mro__[1:] if issubclass(b, Cell)), None)
        if parent is None or parent is Cell or all(p.kind != p.VAR_KEYWORD for p in params):
            return tuple(own)
        inherited = parent._arguments()
        return (*inherited, *(n for n in own if n not in inherited))

    @classmethod
    def from_spec(cls, spec: LayerSpec, **options: Any) -> Cell:
        """Build the cell for ``spec``; size and position are passed to constructors that take them."""
        accepted = cls._arguments()
        given = {
            "height": spec.height,
            "width": spec.width,
            "layer_index": spec.index,
            "depth": spec.depth,
            "compat": spec.compat,
        }
        kwargs = {k: v for k, v in given.items() if k in accepted}
        return cls(spec.in_channels, spec.hidden_channels, **kwargs, **options)

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """The user-settable keyword options of this cell (its constructor minus the spec arguments)."""
        return tuple(name for name in cls._arguments() if name not in cls.SPEC_ARGUMENTS)

    @classmethod
    def link_layers(cls, cells: list[Cell]) -> None:
        """Called once with all cells of this type in a stack, to share modules across layers.

        The default does nothing; PredRNN-V2 uses it for its single shared adapter.
        """

    def init_state(
        self, batch: int, height: int, width: int, device: torch.device, dtype: torch.dtype
    ) -> State:
        """Zero horizontal state; the default is ``(h, c)`` of ``hidden_channels`` each."""
        return self.zero_state(batch, height, width, device, dtype)

    def zero_state(
        self,
        batch: int,
        height: int,
        width: int,
        device: torch.device,
        dtype: torch.dtype,
        n: int = 2,
        channels: int | None = None,
    ) -> State:
        """``n`` zero tensors ``(batch, channels, height, width)``; ``channels`` defaults to the hidden ones."""
        shape = (batch, self.hidden_channels if channels is None else channels, height, width)
        return tuple(torch.zeros(shape, device=device, dtype=dtype) for _ in range(n))

    def forward(self, x: Tensor, state: State, m: Tensor | None = None):  # pragma: no cover
        raise NotImplementedError

    def pop_aux_loss(self) -> Tensor | None:
        """Auxiliary loss accumulated since the last call (e.g. PredRNN-V2's decoupling); ``None`` if none."""
        return None

    def zeros_like_memory(self, x: Tensor, channels: int | None = None) -> Tensor:
        """Zero zig-zag memory matching ``x``'s batch and size, for the first step."""
        c = self.hidden_channels if channels is None else channels
        return x.new_zeros(x.shape[0], c, x.shape[2], x.shape[3])
