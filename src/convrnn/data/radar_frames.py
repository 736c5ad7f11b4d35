"""Shared pieces of the radar loaders: timestamps in names, time-gap-free windows, the radar info."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from convrnn.data.errors import DatasetError
from convrnn.data.windows import Window, contiguous_runs, sliding_windows

EPOCH = datetime(1970, 1, 1)
_RAD = re.compile(r"RAD(\d{12})")
_DIGITS = re.compile(r"(?<!\d)(\d{14}|\d{12})(?!\d)")


def parse_timestamp(name: str) -> datetime | None:
    """Datetime in a file or key name: ``RADyymmddHHMMSS`` (HKO-7), ``YYYYMMDDHHMM[SS]``; else None."""
    m = _RAD.search(name)
    try:
        if m:
            d = m.group(1)
            return datetime(
                2000 + int(d[:2]),
                int(d[2:4]),
                int(d[4:6]),
                int(d[6:8]),
                int(d[8:10]),
                int(d[10:12]),
            )
        m = _DIGITS.search(name)
        if m:
            d = m.group(1)
            sec = int(d[12:14]) if len(d) == 14 else 0
            return datetime(int(d[:4]), int(d[4:6]), int(d[6:8]), int(d[8:10]), int(d[10:12]), sec)
    except ValueError:
        return None
    return None


def minutes(t: datetime, where: Any = None) -> int:
    """Whole minutes since 1970 of ``t``, which must fall on a whole minute.

    The radar loaders count time in minutes and need every frame on the
    6-minute (HKO-7) or 5-minute (Germany) grid, so a timestamp with
    non-zero seconds (or microseconds) is not rounded or truncated, which
    would silently move the frame: it raises
    :class:`~convrnn.data.errors.DatasetError` naming ``where`` (the file or
    key the time was read from).
    """
    if t.second or t.microsecond:
        name = f"{where}: " if where is not None else ""
        raise DatasetError(
            f"{name}timestamp {t:%Y-%m-%d %H:%M:%S} is not on a whole minute ({t.second} s past "
            f"{t:%H:%M}); radar frames must be named by their minute (seconds 00): rename the "
            "file or key, or remove it"
        )
    return int((t - EPOCH) / timedelta(minutes=1))


def gap_free_windows(
    times_min: np.ndarray,
    interval: int,
    length: int,
    stride: int,
    step: int,
    source: int = 0,
    names: Sequence[Any] | None = None,
    where: Any = None,
) -> tuple[list[Window], int]:
    """Windows over sorted frame times (minutes) that never cross a gap; also the number of runs.

    ``names`` (one per time: the file or key) and ``where`` (the file or folder
    they come from) name the culprits if two frames share a time.
    """
    runs = contiguous_runs(times_min, interval, names=names, where=where)
    windows: list[Window] = []
    for i0, i1 in runs:
        windows += sliding_windows(source, i0, i1, length, stride, step)
    return windows, len(runs)
