"""Several series of different lengths (events): found, windowed one by one, split by series or by time.

A **series set** is

* a **folder of series**: a folder of array files (``.npy``/``.npz``/HDF5/Zarr) with no
  ``train.*`` file and no ``train/`` folder in it (a folder of NetCDF files is one
  series concatenated along time instead); each file is one series, every sequence
  of an ``N...`` file one series, in name order; other files are listed and skipped;
* a **list** of array files (``root=[a.npy, b.npy]``, YAML ``data.root: [...]``) or a
  **glob** (``"events/*.npy"``);
* a **ragged container**: ``key=`` with glob characters (``"*"``, ``"event_*"``) or
  naming an HDF5 group picks several arrays of one ``.npz``/HDF5/Zarr file, each one
  series;
* any array file when ``split_by=`` is given (the sequences of an ``N...`` file are
  its series).

In a **folder of split files**, ``train``, ``val`` and ``test`` may each be a file or
a folder of series (``train/``, ``val/``, ``test/``).

Each series is windowed on its own, so no window crosses two series (nor a gap of
a NetCDF time axis). A series set is split by ``split_by=``

* ``"series"`` (default): whole series in name order, the first for training, then
  validation, the last for test; ``splits`` fractions count series (at least one
  per split with a non-zero fraction) and ``split_at=(val_start, test_start)`` are
  series indices;
* ``"time"``: every series cut in time at the ``splits`` fractions (the first 80 %
  of each series trains, the next 10 % validate, the last 10 % test); no window
  crosses a cut, so no validation or test frame is ever trained on.

The normalisation is fitted on the training frames only. Every series must have
frames of the same (C, H, W) (the same C with ``size=``, which resizes).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from convrnn.data.array_sources import array_keys
from convrnn.data.array_splits import (
    SPLIT_FILES,
    ArrayFormat,
    SplitPlan,
    Track,
    TrackFit,
    Windowing,
    array_kind_or_none,
    no_window_error,
    open_array,
    split_fractions,
    tracks_of,
    windows_of,
)
from convrnn.data.errors import DatasetError, MissingDataError
from convrnn.data.netcdf import is_netcdf
from convrnn.errors import ConfigError, check_choice

SPLIT_BY = ("series", "time")
GLOB = "*?["
_LISTED = 50  # series listed one by one in the notes (data check, train's summary)


@dataclass(frozen=True)
class Series:
    """One series: its name and its gap-free runs of frames (one, unless a time axis has gaps)."""

    name: str
    tracks: tuple[Track, ...]

    @property
    def frames(self) -> int:
        """Frames of the series."""
        return sum(t.frames for t in self.tracks)

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of its frames (from the array's shape, nothing read)."""
        track = self.tracks[0]
        shape = track.source.shape[2:] if track.layout.startswith("N") else track.source.shape[1:]
        layout = track.layout.removeprefix("N")
        if layout == "THW":
            return (1, *shape)
        if layout == "THWC":
            return (shape[2], shape[0], shape[1])
        return tuple(shape)


def container_keys(path: Path, key: str | None) -> list[str] | None:
    """The arrays ``key`` picks as series (a glob, or an HDF5 group), or None for one array."""
    if key is None or is_netcdf(path) or array_kind_or_none(path) is None:
        return None
    keys = array_keys(path)
    if key in keys:
        return None
    if any(c in key for c in GLOB):
        chosen = fnmatch.filter(keys, key)
    else:
        chosen = [k for k in keys if k.startswith(key.rstrip("/") + "/")]
        if not chosen:
            return None  # not a group: ArraySource names the missing array
    if not chosen:
        raise DatasetError(f"{path}: no array matches key={key!r}; it holds {keys[:10]}")
    return sorted(chosen)


def open_series(path: Path, fmt: ArrayFormat) -> list[Series]:
    """The series of one file (one, one per sequence of ``N...``, or one per array ``key`` picks)."""
    keys = container_keys(path, fmt.key)
    out: list[Series] = []
    for key in keys if keys is not None else [fmt.key]:
        source, layout = open_array(path, replace(fmt, key=key))
        label = path.name + (f":{key}" if keys is not None else "")
        if layout.startswith("N"):
            out += [
                Series(f"{label}[{n}]", (Track(source, layout, n, 0, source.shape[1]),))
                for n in range(source.shape[0])
            ]
        else:
            out.append(Series(label, tuple(tracks_of(source, layout, 0, source.shape[0]))))
    return out


def folder_entries(folder: Path) -> tuple[list[Path], list[str]]:
    """The array files and Zarr stores of a folder (name order), and the other entries' names."""
    arrays: list[Path] = []
    other: list[str] = []
    for p in sorted(folder.iterdir()):
        if not p.name.startswith("."):
            (arrays if array_kind_or_none(p) is not None else other).append(p)
    return arrays, [p.name for p in other]


def open_set(paths: Sequence[Path], fmt: ArrayFormat, resized: bool = False) -> list[Series]:
    """Every series of ``paths``, checked to have frames of one shape."""
    series = [s for p in paths for s in open_series(p, fmt)]
    first = series[0] if series else None
    for s in series[1:]:
        a, b = first.frame_shape, s.frame_shape
        if a != b and not (resized and a[0] == b[0]):
            raise DatasetError(
                f"series {s.name} has frames {b} (C, H, W) but {first.name} has {a}: every "
                "series needs frames of one size (or set size= to resize; channels must agree)"
            )
    return series


def series_notes(series: Sequence[Series], where: str, parts: Sequence[str]) -> list[str]:
    lines = [f"{len(series)} series from {where} (each windowed on its own):"]
    for i, (s, part) in enumerate(zip(series, parts, strict=True)):
        if i == _LISTED:
            rest = [x.frames for x in series[i:]]
            lines.append(f"  ... and {len(rest)} more series of {min(rest)}..{max(rest)} frames")
            break
        lines.append(f"  {s.name}: {s.frames} frames{part}")
    return lines


def _clip(series: Series, lo: int, hi: int) -> list[Track]:
    """The series' tracks cut to frames ``[lo, hi)`` (empty ones dropped)."""
    cut = [replace(t, start=max(t.start, lo), stop=min(t.stop, hi)) for t in series.tracks]
    return [t for t in cut if t.stop > t.start]


def _series_counts(
    n: int, splits: Sequence[float], split_at: Sequence[int] | None
) -> tuple[int, int]:
    """The first validation and the first test series of ``n`` series in name order."""
    if split_at is not None:
        a, b = (int(v) for v in split_at)
    else:
        fr = split_fractions(splits)
        n_val, n_test = (max(1, round(n * f)) if f > 0 else 0 for f in fr[1:])
        a, b = n - n_val - n_test, n - n_test
    if not 0 < a <= b <= n:
        raise DatasetError(
            f"{n} series cannot be split into train, validation and test by whole series "
            f"(first validation series {a}, first test series {b}): add series, set "
            "split_by='time' to cut every series in time, or give splits/split_at that fit"
        )
    return a, b


def plan_series(
    series: list[Series],
    split: str,
    w: Windowing,
    where: str,
    splits: Sequence[float] = (0.8, 0.1, 0.1),
    split_at: Sequence[int] | None = None,
    split_by: str | None = None,
) -> SplitPlan:
    """``split`` of one series set, by whole series or by time within each series."""
    split_by = check_choice("split_by", split_by or "series", SPLIT_BY)
    if not series:
        raise MissingDataError(f"{where}: no series found")
    if split_by == "series":
        a, b = _series_counts(len(series), splits, split_at)
        names = ["train"] * a + ["val"] * (b - a) + ["test"] * (len(series) - b)
        parts = {
            s: [(x, 0, 1 << 62) for x, n in zip(series, names, strict=True) if n == s]
            for s in SPLIT_FILES
        }
        shown = [f" ({n})" for n in names]
        counts = ", ".join(
            f"{s} {names.count(s)} series ({sum(x.frames for x, *_ in parts[s])} frames)"
            for s in SPLIT_FILES
        )
        how = f"split by whole series in name order: {counts}"
    else:
        if split_at is not None:
            raise ConfigError("split_at counts series; with split_by='time' give splits fractions")
        fr = np.asarray(splits, dtype=np.float64)
        fr = fr / fr.sum()
        parts = {s: [] for s in SPLIT_FILES}
        shown = []
        for x in series:
            first, last = min(t.start for t in x.tracks), max(t.stop for t in x.tracks)
            a = first + round((last - first) * fr[0])
            b = a + round((last - first) * fr[1])
            for s, lo, hi in (("train", first, a), ("val", a, b), ("test", b, last)):
                parts[s].append((x, lo, hi))
            shown.append(f" (train [{first}, {a}), val [{a}, {b}), test [{b}, {last}))")
        how = "split by time within each series: " + "/".join(f"{f:.0%}" for f in fr)
    tracks = [t for x, lo, hi in parts[split] for t in _clip(x, lo, hi)]
    fit = [TrackFit(t, t.stop) for x, lo, hi in parts["train"] for t in _clip(x, lo, hi)]
    windows = windows_of(tracks, w)
    if not windows:
        raise no_window_error(where, split, tracks, w)
    return SplitPlan(tracks, windows, fit, [*series_notes(series, where, shown), how])
