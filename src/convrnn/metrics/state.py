"""The base of the streaming metrics: ``torchmetrics.Metric`` states that are sums per predicted frame.

Every state is a sum (or a count) and is reduced across processes by summing,
so a score computed under DDP equals the one-process score exactly (sums and
counts, never means of means), whatever the number of processes and however
unevenly the sequences are sharded.

The number of frames is known only from the first batch: a per-frame state is
registered with a frame axis of length 0 and sized by :meth:`SummedMetric.size_frames`.
A process that scored no sequence keeps the empty state; :func:`gather_padded`
treats it as zeros when the processes' states are summed.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities.distributed import gather_all_tensors

from convrnn.errors import InputError


def gather_padded(result: Tensor, group: Any = None) -> list[Tensor]:
    """Every process's ``result``; the empty per-frame states of processes without data as zeros."""
    gathered = gather_all_tensors(result, group=group)
    shapes = {tuple(g.shape) for g in gathered if g.numel()}
    if len(shapes) > 1:
        raise InputError(
            f"the processes scored different numbers of frames (states {sorted(shapes)}); "
            "give every process sequences of the same length"
        )
    if not shapes:
        return gathered
    shape = shapes.pop()
    return [g if g.numel() else g.new_zeros(shape) for g in gathered]


class SummedMetric(Metric):
    """A ``torchmetrics.Metric`` whose states are per-frame sums and counts, summed across processes."""

    full_state_update = False
    is_differentiable = False

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("dist_sync_fn", gather_padded)
        kwargs.setdefault("compute_with_cache", False)  # callers may add to the returned dict
        super().__init__(**kwargs)
        self._frame_axes: dict[str, int] = {}

    def _wrap_compute(self, compute: Callable) -> Callable:
        wrapped = super()._wrap_compute(compute)

        @functools.wraps(compute)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if self.update_called:
                return wrapped(*args, **kwargs)
            if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
                raise InputError("no data: call update() before compute()")
            with warnings.catch_warnings():  # a process without sequences still takes part
                warnings.filterwarnings("ignore", "The ``compute`` method of metric")
                return wrapped(*args, **kwargs)

        return checked

    def add_frame_state(
        self, name: str, before: tuple[int, ...], after: tuple[int, ...], dtype: torch.dtype
    ) -> None:
        """A summed state of shape ``(*before, frames, *after)``, sized by the first batch."""
        default = torch.zeros((*before, 0, *after), dtype=dtype)
        self.add_state(name, default=default, dist_reduce_fx="sum")
        self._frame_axes[name] = len(before)

    def add_count(self, name: str) -> None:
        """A summed integer count (e.g. of sequences)."""
        self.add_state(name, default=torch.zeros((), dtype=torch.int64), dist_reduce_fx="sum")

    @property
    def frames(self) -> int:
        """Frames per sequence seen so far (0 before the first batch)."""
        name, axis = next(iter(self._frame_axes.items()))
        return int(getattr(self, name).shape[axis])

    def size_frames(self, frames: int) -> None:
        """Size the per-frame states for ``frames`` frames, or check that earlier batches had as many."""
        seen = self.frames
        if seen == frames:
            return
        if seen:
            raise InputError(f"batch has {frames} frames, earlier batches had {seen}")
        for name, axis in self._frame_axes.items():
            state = getattr(self, name)
            shape = list(state.shape)
            shape[axis] = frames
            setattr(self, name, state.new_zeros(shape))

    def check_updated(self) -> None:
        """Raise :class:`InputError` when no batch was added (on any process)."""
        if self.frames == 0:
            raise InputError("no data: call update() before compute()")
