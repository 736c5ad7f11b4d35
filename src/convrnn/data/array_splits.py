"""How user arrays become splits: layouts, tracks (series of frames), windows and the fitting range.

A :class:`SplitPlan` says, for one split, which tracks are read, which windows of
them are served, and which training frames the normalisation is fitted on. It is
made from one array file split by fractions or indices (:func:`plan_file`), or from
several series or a folder of ``train.*``/``val.*``/``test.*`` files
(:mod:`convrnn.data.array_series`); see :mod:`convrnn.data.arrays` for the rules.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from convrnn.data.array_sources import ARRAY_SUFFIXES, DEFAULT_MAX_IN_MEMORY, ArraySource
from convrnn.data.errors import DatasetError
from convrnn.data.netcdf import NETCDF_SUFFIXES, NetCDFSource, is_netcdf, time_runs
from convrnn.data.windows import Window, sliding_windows
from convrnn.errors import ConfigError

LAYOUTS = ("THW", "TCHW", "THWC", "NTHW", "NTCHW", "NTHWC")
DEFAULT_LAYOUT = {3: "THW", 4: "TCHW", 5: "NTCHW"}
SPLIT_FILES = {"train": ("train",), "val": ("val", "valid"), "test": ("test",)}


@dataclass(frozen=True)
class ArrayFormat:
    """How to open the user's files: which array (``key``), its ``layout``, the in-memory limit."""

    key: str | None = None
    layout: str | None = None
    max_in_memory_bytes: int = DEFAULT_MAX_IN_MEMORY


@dataclass(frozen=True)
class Windowing:
    """Windows of ``length`` frames, ``step`` apart, one every ``stride`` frames.

    ``named`` says where ``length`` came from (``"input_length + output_length = 4 + 12"``),
    for the messages of window errors.
    """

    length: int
    stride: int = 1
    step: int = 1
    named: str = "seq_len"

    @property
    def span(self) -> int:
        """Frames from a window's first to its last frame (``length`` unless ``step`` > 1)."""
        return (self.length - 1) * self.step + 1

    def needs(self) -> str:
        """``"input_length + output_length = 10 + 10 = 20 needs 20 frames"`` (with the spacing)."""
        apart = f" ({self.length} frames {self.step} apart)" if self.step > 1 else ""
        return f"{self.named} = {self.length} needs {self.span} frames{apart}"


def to_tchw(x: np.ndarray, layout: str) -> np.ndarray:
    """Frames in ``THW``/``TCHW``/``THWC`` layout -> ``(T, C, H, W)`` (leading axes such as N kept)."""
    if layout.endswith("THW"):
        return x[..., None, :, :]
    if layout.endswith("THWC"):
        return np.moveaxis(x, -1, -3)
    return x


def resolve_layout(ndim: int, layout: str | None = None) -> str:
    """``layout`` checked against an ``ndim``-D array, or the default layout of ``ndim`` axes."""
    chosen = layout or DEFAULT_LAYOUT.get(ndim)
    if chosen not in LAYOUTS:
        what = (
            f"layout {layout!r} is unknown"
            if layout
            else f"cannot infer the layout of a {ndim}-D array"
        )
        raise DatasetError(f"{what}; pass layout= one of {', '.join(LAYOUTS)}")
    if len(chosen) != ndim:
        raise DatasetError(f"layout {chosen} needs a {len(chosen)}-D array, got {ndim}-D")
    return chosen


def to_ntchw(x: np.ndarray, layout: str | None = None) -> np.ndarray:
    """An array in ``layout`` (default: by its number of axes) -> ``(N, T, C, H, W)``."""
    chosen = resolve_layout(x.ndim, layout)
    frames = to_tchw(x, chosen)
    return frames if chosen.startswith("N") else frames[None]


@dataclass(frozen=True)
class Track:
    """One series of frames ``[start, stop)``: a whole ``T...`` array or one sequence of an ``N...`` one."""

    source: ArraySource
    layout: str
    sequence: int | None = None
    start: int = 0
    stop: int = 0

    def read(self, start: int, stop: int, step: int = 1) -> np.ndarray:
        """Frames ``start:stop:step`` as ``(n, C, H, W)`` in the file's dtype."""
        frames = slice(start, stop, step)
        index = (frames,) if self.sequence is None else (self.sequence, frames)
        return to_tchw(self.source[index], self.layout.removeprefix("N"))

    @property
    def frames(self) -> int:
        """Frames of the track."""
        return self.stop - self.start

    def chunks(self, chunk_bytes: int, stop: int | None = None) -> Iterator[np.ndarray]:
        """Frames ``start .. stop-1`` (default: all) as ``(n, C, H, W)``, about ``chunk_bytes`` at a time."""
        stop = self.stop if stop is None else stop
        frame = self.source.shape[2:] if self.layout.startswith("N") else self.source.shape[1:]
        frame_bytes = int(np.prod(frame)) * self.source.dtype.itemsize
        rows = max(1, chunk_bytes // max(1, frame_bytes))
        for start in range(self.start, stop, rows):
            yield self.read(start, min(stop, start + rows))


@dataclass(frozen=True)
class TrackFit:
    """Frames ``[track.start, stop)`` of a track to fit the normalisation on."""

    track: Track
    stop: int

    def chunks(self, chunk_bytes: int) -> Iterator[np.ndarray]:
        """The frames as ``(n, C, H, W)``, about ``chunk_bytes`` at a time."""
        return self.track.chunks(chunk_bytes, self.stop)


@dataclass(frozen=True)
class FitRange:
    """Rows ``[start, stop)`` (frames, or sequences of an ``N...`` layout) to fit the normalisation on."""

    source: ArraySource
    layout: str
    start: int
    stop: int

    def chunks(self, chunk_bytes: int) -> Iterator[np.ndarray]:
        """The rows as ``(n, C, H, W)`` frames, about ``chunk_bytes`` at a time."""
        row_bytes = int(np.prod(self.source.shape[1:])) * self.source.dtype.itemsize
        rows = max(1, chunk_bytes // max(1, row_bytes))
        for start in range(self.start, self.stop, rows):
            block = self.source[slice(start, min(self.stop, start + rows))]
            if self.layout.startswith("N"):
                block = block.reshape(-1, *block.shape[2:])
            yield to_tchw(block, self.layout.removeprefix("N"))


@dataclass
class SplitPlan:
    """What one split reads: tracks, the windows served, the training rows to fit on, and notes."""

    tracks: list[Track]
    windows: list[Window]
    fit: list[FitRange | TrackFit]
    notes: list[str] = field(default_factory=list)


def find_split_file(folder: Path, split: str) -> Path | None:
    """``train.*``, ``val.*``/``valid.*`` or ``test.*`` (array or NetCDF suffix), or a
    ``train/``... folder of series; None if there is none."""
    for stem in SPLIT_FILES[split]:
        for suffix in (*ARRAY_SUFFIXES, *NETCDF_SUFFIXES):
            p = folder / f"{stem}{suffix}"
            if p.exists():
                return p
        if (folder / stem).is_dir():
            return folder / stem
    return None


def no_window_error(where: str, split: str, tracks: Sequence[Track], w: Windowing) -> DatasetError:
    """The error of a split without windows: the frames its series have and what a window needs."""
    longest = max((t.frames for t in tracks), default=0)
    many = "the longest series in it has" if len(tracks) > 1 else "its series has"
    return DatasetError(
        f"{where}: the {split} split holds no window: {many} {longest} frames and "
        f"{w.needs()}: set data.input_length/output_length (data check: --set "
        "input_length=N --set output_length=M), or sample_every, so that a window fits"
    )


def array_kind_or_none(path: Path) -> str | None:
    """The array kind of ``path`` if it is an array file or Zarr store, else None."""
    from convrnn.data.array_sources import array_kind

    try:
        return array_kind(path)
    except DatasetError:
        return None


def open_array(path: Path, fmt: ArrayFormat) -> tuple[ArraySource, str]:
    """The array at ``path`` and its layout (given, or the default for its number of axes)."""
    if is_netcdf(path):
        source: ArraySource | NetCDFSource = NetCDFSource(path, fmt.key)
    else:
        source = ArraySource(path, fmt.key, max_in_memory_bytes=fmt.max_in_memory_bytes)
    try:
        return source, resolve_layout(len(source.shape), fmt.layout)
    except DatasetError as e:
        raise DatasetError(f"{source.describe()}: {e}") from None


def tracks_of(source: ArraySource, layout: str, lo: int, hi: int) -> list[Track]:
    """Sequences ``lo..hi-1`` of an ``N...`` array (whole), or frames ``[lo, hi)`` of a series."""
    if layout.startswith("N"):
        return [Track(source, layout, n, 0, source.shape[1]) for n in range(lo, hi)]
    times = getattr(source, "times", None)
    if (
        times is not None and source.time_step is not None
    ):  # one track per gap-free run of the time axis: no window crosses a gap
        runs = time_runs(times, source.time_step)
        cut = [(max(a, lo), min(b, hi)) for a, b in runs]
        return [Track(source, layout, None, a, b) for a, b in cut if b > a]
    return [Track(source, layout, None, lo, hi)]


def time_notes(source: ArraySource | NetCDFSource) -> list[str]:
    """What the time axis of a NetCDF source says (step, gaps), for ``data check``."""
    times = getattr(source, "times", None)
    if times is None:
        return []
    step = source.time_step
    runs = time_runs(times, step)
    minutes = step / np.timedelta64(1, "m")
    return [
        f"time axis {times[0]} .. {times[-1]}, step {minutes:g} min, {len(runs)} gap-free run(s)"
    ]


def windows_of(tracks: Sequence[Track], w: Windowing) -> list[Window]:
    """Every window of every track (window ``source`` = the track's index)."""
    return [
        window
        for i, track in enumerate(tracks)
        for window in sliding_windows(i, track.start, track.stop, w.length, w.stride, w.step)
    ]


def split_fractions(splits: Sequence[float]) -> np.ndarray:
    """The (train, val, test) ``splits`` fractions, checked and scaled to sum to 1."""
    fr = np.asarray(splits, dtype=np.float64)
    if fr.shape != (3,) or (fr < 0).any() or fr.sum() <= 0:
        raise ConfigError(f"splits must be three non-negative fractions, got {splits}")
    return fr / fr.sum()


def plan_file(
    path: Path,
    split: str,
    fmt: ArrayFormat,
    w: Windowing,
    splits: Sequence[float] = (0.8, 0.1, 0.1),
    split_at: Sequence[int] | None = None,
) -> SplitPlan:
    """``split`` of one array cut in order by ``splits`` fractions or ``split_at`` indices."""
    source, layout = open_array(path, fmt)
    n = source.shape[0]
    if split_at is not None:
        a, b = (int(v) for v in split_at)
    else:
        fr = split_fractions(splits)
        a = round(n * fr[0])
        b = a + round(n * fr[1])
    unit = "sequences" if layout.startswith("N") else "frames"
    if not 0 < a <= b <= n:
        raise ConfigError(f"split boundaries {a}, {b} do not fit {n} {unit}")
    lo, hi = {"train": (0, a), "val": (a, b), "test": (b, n)}[split]
    notes = [
        f"{source.describe()} as {layout}",
        *time_notes(source),
        f"split of {n} {unit}: train [0, {a}), val [{a}, {b}), test [{b}, {n})",
    ]
    if hi <= lo:
        raise DatasetError(f"{path}: the {split} split is empty (boundaries {a}, {b} of {n})")
    tracks = tracks_of(source, layout, lo, hi)
    return SplitPlan(tracks, windows_of(tracks, w), [FitRange(source, layout, 0, a)], notes)
