"""Shared pieces of the radar loaders: timestamps in names, time-gap-free windows, the radar info."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import numpy as np

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


def minutes(t: datetime) -> int:
    """Whole minutes since 1970 (seconds must be 0)."""
    return int((t - EPOCH) / timedelta(minutes=1))


def gap_free_windows(
    times_min: np.ndarray, interval: int, length: int, stride: int, step: int, source: int = 0
) -> tuple[list[Window], int]:
    """Windows over sorted frame times (minutes) that never cross a gap; also the number of runs."""
    runs = contiguous_runs(times_min, interval)
    windows: list[Window] = []
    for i0, i1 in runs:
        windows += sliding_windows(source, i0, i1, length, stride, step)
    return windows, len(runs)
