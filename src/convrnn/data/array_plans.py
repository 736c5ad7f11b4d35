"""Which plan a root of user arrays gets: one file, a folder of split files, or a series set.

The rules are in :mod:`convrnn.data.arrays` (the whole picture) and
:mod:`convrnn.data.array_series` (series sets). A folder is a **folder of split
files** when it holds a ``train.*`` file or a ``train/`` folder; otherwise a folder
of NetCDF files is one series concatenated along time, and any other folder is a
**folder of series** (each array file one series).
"""

from __future__ import annotations

import glob as globlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from convrnn.data.array_series import (
    GLOB,
    container_keys,
    folder_entries,
    open_set,
    plan_series,
    series_notes,
)
from convrnn.data.array_sources import ARRAY_SUFFIXES
from convrnn.data.array_splits import (
    SPLIT_FILES,
    ArrayFormat,
    SplitPlan,
    Track,
    TrackFit,
    Windowing,
    array_kind_or_none,
    find_split_file,
    no_window_error,
    plan_file,
    time_notes,
    windows_of,
)
from convrnn.data.errors import DatasetError, MissingDataError
from convrnn.data.netcdf import is_netcdf
from convrnn.data.windows import carve_validation
from convrnn.errors import ConfigError


def _split_series(split_path: Path, fmt: ArrayFormat, resized: bool) -> list:
    """The series of one entry of a folder of split files (a file, or a folder of series)."""
    if split_path.is_dir() and array_kind_or_none(split_path) is None:
        paths, _ = folder_entries(split_path)
        if not paths:
            raise MissingDataError(f"{split_path}: a folder of series without array files")
        return open_set(paths, fmt, resized)
    return open_set([split_path], fmt, resized)


def _carve_fit(
    tracks: list[Track], w: Windowing, val_fraction: float, where: str
) -> tuple[list, list]:
    """(train windows, validation windows) carved from ``tracks``, with the lengths in any error."""
    windows = windows_of(tracks, w)
    if not windows:
        raise no_window_error(where, "train", tracks, w)
    try:
        return carve_validation(windows, fraction=val_fraction, length=w.length)
    except ConfigError as e:
        longest = max(t.frames for t in tracks)
        raise DatasetError(
            f"{where}: {e}; the longest training series has {longest} frames and {w.needs()}: "
            "add a val.* file, or shorten data.input_length/output_length"
        ) from None


def plan_folder(
    folder: Path,
    split: str,
    fmt: ArrayFormat,
    w: Windowing,
    val_fraction: float = 0.1,
    resized: bool = False,
) -> SplitPlan:
    """``split`` of a folder of split files or folders; without a validation one, it is carved."""
    files = {s: find_split_file(folder, s) for s in SPLIT_FILES}
    if files["train"] is None or (split == "test" and files["test"] is None):
        wanted = "train and test" if files["train"] is None else "test"
        raise MissingDataError(
            f"{folder}: no {wanted} array file or folder (train.npy, test.h5, test/, ... with "
            f"suffix in {ARRAY_SUFFIXES})"
        )
    carve = files["val"] is None and split in ("train", "val")
    name = "train" if carve else split
    series = _split_series(files[name], fmt, resized)
    tracks = [t for s in series for t in s.tracks]
    notes = [
        f"{s.tracks[0].source.describe()} as {s.tracks[0].layout} ({name})" for s in series[:1]
    ]
    notes += time_notes(series[0].tracks[0].source) if series else []
    if len({id(s.tracks[0].source) for s in series if s.tracks}) > 1:  # several files or arrays
        notes += series_notes(series, str(files[name]), [""] * len(series))
    if carve:
        kept, val = _carve_fit(tracks, w, val_fraction, str(files["train"]))
        notes.append(f"split: validation = last {len(val)} training windows ({val_fraction:.0%})")
        windows = val if split == "val" else kept
    else:
        windows = windows_of(tracks, w)
        if not windows:
            raise no_window_error(str(files[name]), split, tracks, w)
    train = (
        tracks
        if name == "train"
        else [t for s in _split_series(files["train"], fmt, resized) for t in s.tracks]
    )
    first_val: dict[int, int] = {}
    if files["val"] is None:  # fit only on what is trained on: each track up to its first val frame
        _, val = _carve_fit(train, w, val_fraction, str(files["train"]))
        for v in val:
            first_val[v.source] = min(first_val.get(v.source, v.start), v.start)
    fit = [TrackFit(t, first_val.get(i, t.stop)) for i, t in enumerate(train)]
    return SplitPlan(tracks, windows, [f for f in fit if f.stop > f.track.start], notes)


def plan_arrays(
    root: Any,
    split: str,
    fmt: ArrayFormat,
    w: Windowing,
    splits: Sequence[float] = (0.8, 0.1, 0.1),
    split_at: Sequence[int] | None = None,
    val_fraction: float = 0.1,
    split_by: str | None = None,
    resized: bool = False,
) -> SplitPlan:
    """``split`` of whatever ``root`` is: a file, a folder of split files, or a series set."""
    if isinstance(root, (list, tuple)):
        paths = [Path(p) for p in root]
        for p in paths:
            if not p.exists():
                raise MissingDataError(f"array file {p} (in the list of series) does not exist")
        return plan_series(
            open_set(paths, fmt, resized),
            split,
            w,
            f"{len(paths)} files",
            splits,
            split_at,
            split_by,
        )
    text = str(root)
    if any(c in text for c in GLOB) and not Path(text).exists() and not is_netcdf(text):
        paths = sorted(Path(p) for p in globlib.glob(text))
        if not paths:
            raise MissingDataError(f"no array file matches {text!r}")
        return plan_series(
            open_set(paths, fmt, resized), split, w, text, splits, split_at, split_by
        )
    path = Path(root)
    if not path.exists() and not is_netcdf(text):
        raise MissingDataError(f"array root {text!r} does not exist")
    if path.is_dir() and array_kind_or_none(path) is None:
        if find_split_file(path, "train") is not None:
            if split_by is not None:
                raise ConfigError(f"{path} holds split files: they are the split; drop split_by=")
            return plan_folder(path, split, fmt, w, val_fraction, resized)
        if not is_netcdf(path):
            paths, other = folder_entries(path)
            if not paths:
                raise MissingDataError(
                    f"{path}: no train.* file or train/ folder, and no array files (series) "
                    f"with suffix in {ARRAY_SUFFIXES}"
                )
            plan = plan_series(
                open_set(paths, fmt, resized), split, w, str(path), splits, split_at, split_by
            )
            if other:
                plan.notes.append(f"not arrays, skipped: {', '.join(other[:10])}")
            return plan
    elif split_by is not None or container_keys(path, fmt.key) is not None:
        return plan_series(
            open_set([path], fmt, resized), split, w, str(path), splits, split_at, split_by
        )
    plan = plan_file(path, split, fmt, w, splits, split_at)
    if not plan.windows:
        raise no_window_error(str(path), split, plan.tracks, w)
    return plan
