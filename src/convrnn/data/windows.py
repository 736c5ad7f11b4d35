"""Windows of consecutive frames over frame sources, and the dataset base class built on them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from convrnn.data.errors import DatasetError
from convrnn.errors import ConfigError

SPLITS = ("train", "val", "test")


def check_split(split: str) -> str:
    """Validate a split name ("valid" is accepted for "val")."""
    split = "val" if split == "valid" else split
    if split not in SPLITS:
        raise ConfigError(f"split={split!r}; choose one of {SPLITS}")
    return split


class Window(NamedTuple):
    """Frames ``start, start + step, ...`` (``length`` of them) of source number ``source``."""

    source: int
    start: int
    length: int
    step: int = 1

    @property
    def stop(self) -> int:
        """One past the last frame index covered by the window."""
        return self.start + (self.length - 1) * self.step + 1

    def indices(self) -> range:
        """The frame indices of the window."""
        return range(self.start, self.stop, self.step)


def sliding_windows(
    source: int, first: int, end: int, length: int, stride: int, step: int = 1
) -> list[Window]:
    """Windows of ``length`` frames (spacing ``step``) inside frames ``[first, end)``, every ``stride``."""
    if length < 1 or stride < 1 or step < 1:
        raise ConfigError(f"need length, stride, step >= 1, got {length}, {stride}, {step}")
    span = (length - 1) * step + 1
    return [Window(source, s, length, step) for s in range(first, end - span + 1, stride)]


def contiguous_runs(
    times: Sequence[int] | np.ndarray,
    interval: int,
    names: Sequence[Any] | None = None,
    where: Any = None,
) -> list[tuple[int, int]]:
    """Index ranges ``[i0, i1)`` of sorted integer ``times`` spaced exactly ``interval`` apart.

    ``times`` must be strictly increasing; a repeated or out-of-order time
    raises :class:`~convrnn.data.errors.DatasetError` (a ``ValueError``)
    naming the two entries (by ``names[i]``, the file or key each time came
    from, when given) and ``where`` (the file or folder they were read from,
    when given).
    """
    t = np.asarray(times, dtype=np.int64)
    if names is not None and len(names) != len(t):
        raise DatasetError(f"{len(names)} names for {len(t)} times")
    if len(t) == 0:
        return []
    d = np.diff(t)
    if (d <= 0).any():
        i = int(np.argmax(d <= 0))
        what = "duplicate time" if d[i] == 0 else "time goes backwards"
        if names is not None:
            pair = f"{names[i]!r} (time {t[i]}) and {names[i + 1]!r} (time {t[i + 1]})"
        else:
            pair = f"times {t[i]} and {t[i + 1]}"
        dups = int((d == 0).sum())
        more = f"; {dups} duplicate(s) in all" if dups > 1 else ""
        prefix = f"{where}: " if where is not None else ""
        raise DatasetError(
            f"{prefix}times are not strictly increasing at position {i + 1}: {what}, "
            f"{pair}{more}; each time must occur once, in increasing order"
        )
    breaks = np.flatnonzero(d != interval) + 1
    edges = [0, *breaks.tolist(), len(t)]
    return [(edges[i], edges[i + 1]) for i in range(len(edges) - 1)]


def carve_validation(
    windows: Sequence[Window],
    count: int | None = None,
    fraction: float | None = None,
    length: int | None = None,
) -> tuple[list[Window], list[Window]]:
    """Split time-ordered ``windows`` into (train, val): val = the last ``count`` (or ``fraction``).

    Training windows that share frames with a validation window of the same
    source are dropped, so no validation frame is ever trained on. ``length``
    (frames per window) is named in the error when there are too few windows.
    """
    windows = list(windows)
    if count is None:
        if fraction is None or not 0.0 < fraction < 1.0:
            raise ConfigError(f"need a validation count or a fraction in (0, 1), got {fraction}")
        count = max(1, round(len(windows) * fraction))
    if not 0 < count < len(windows):
        length = length if length is not None else (windows[0].length if windows else None)
        of = f" of {length} frames" if length is not None else ""
        raise ConfigError(
            f"cannot carve {count} validation windows out of {len(windows)} training windows"
            f"{of}; shorten the windows (input_length + output_length) or add training frames"
        )
    train, val = windows[:-count], windows[-count:]
    first_val: dict[int, int] = {}
    for w in val:
        first_val[w.source] = min(first_val.get(w.source, w.start), w.start)
    kept = [w for w in train if w.source not in first_val or w.stop <= first_val[w.source]]
    return kept, val


class WindowDataset(Dataset):
    """Base class: a list of :class:`Window` over frame sources, served as ``(T, C, H, W)`` float32.

    Subclasses implement :meth:`read_window` (frames in [0, 1]) and may extend
    :meth:`summary`. Attributes: ``split``, ``windows``, ``info`` (a
    :class:`~convrnn.data.info.DatasetInfo`), ``normalizer`` (or None).
    """

    def __init__(self, split: str, windows: Sequence[Window], info: Any, normalizer=None) -> None:
        self.split = split
        self.windows = list(windows)
        self.info = info
        self.normalizer = normalizer
        self.notes: list[str] = []

    def __len__(self) -> int:
        return len(self.windows)

    def read_window(self, window: Window) -> np.ndarray:
        """The frames of ``window`` as ``(T, C, H, W)`` float32 in [0, 1]."""
        raise NotImplementedError

    def __getitem__(self, index: int) -> torch.Tensor:
        if not -len(self.windows) <= index < len(self.windows):
            raise IndexError(f"window {index} out of range [0, {len(self.windows)})")
        frames = self.read_window(self.windows[index])
        return torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32))

    @property
    def seq_len(self) -> int:
        """Frames per window (0 if there are no windows)."""
        return self.windows[0].length if self.windows else 0

    def summary(self) -> list[str]:
        """Human-readable lines: what was found and how the split was built."""
        return [f"{self.split}: {len(self)} windows of {self.seq_len} frames", *self.notes]
