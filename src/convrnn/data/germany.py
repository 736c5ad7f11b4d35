"""Germany radar (DWD RY product as packaged by RainNet): ``RYDL.hdf5``, one dataset per timestamp.

Format (``reference/official-ms-rnn.md`` section 3, MS-RNN ``util/load_DWD.py``):
one HDF5 dataset per 5-minute timestamp, named ``YYYYMMDDHHMM``, holding a
900x900 rain field in **mm per 5 minutes**. The key list may also come from
``RYDL_keys.txt`` (a Python list literal, read with ``ast.literal_eval``),
which saves listing a file with a million keys.

Preprocessing as the official code: ``R = 12 x`` (mm/h), ``Z = 256 R^1.42``,
``dBZ = 10 log10 Z``, pixel ``clip((dBZ + 10) / 70, 0, 1)``; no-rain, negative
and non-finite values give 0. Frames are then resized bilinearly to ``size``
(180 in the MS-LSTM paper, from 900).

Sampling (MS-LSTM paper 5.5): one frame every 30 minutes (``sample_every=6``),
4 -> 4 (``seq_len=8``); a window spans 8 x 30 minutes of **gap-free** 5-minute
keys, and windows do not overlap by default (``stride`` = the span, 48 keys),
as the official loader's consecutive chunks. Years: 2006-2014 train, 2015
validation, 2016-2017 test (the code's split; the paper tests on 2015-2017,
``test_years=(2015, 2016, 2017)`` with ``val_years=(2014,)`` and
``train_years=range(2006, 2014)`` gives a variant of that). No year may be in
two splits (any pair of ``train_years``, ``val_years``, ``test_years``).
Keys must be on whole minutes and each timestamp must occur once: a key with
non-zero seconds or a repeated timestamp is an error naming the key(s).
"""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import Any

import numpy as np

from convrnn.data.array_sources import _open_h5
from convrnn.data.errors import DatasetError, MissingDataError
from convrnn.data.images import parse_size, resize_frames
from convrnn.data.info import DatasetInfo, RadarSpec
from convrnn.data.normalize import Normalizer
from convrnn.data.radar_frames import gap_free_windows, minutes, parse_timestamp
from convrnn.data.spec import register_dataset_class
from convrnn.data.windows import Window, WindowDataset, check_split
from convrnn.errors import ConfigError
from convrnn.units import GERMANY_ZR, rain_to_pixel

INTERVAL_MINUTES = 5
FILE_NAME = "RYDL.hdf5"
KEYS_FILE = "RYDL_keys.txt"
YEARS = {"train": tuple(range(2006, 2015)), "val": (2015,), "test": (2016, 2017)}


def mm5_to_pixel(x: np.ndarray) -> np.ndarray:
    """mm per 5 minutes -> mm/h -> dBZ (Z = 256 R^1.42) -> pixel in [0, 1]; no data -> 0."""
    r = np.nan_to_num(np.asarray(x, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0) * 12.0
    return np.asarray(rain_to_pixel(np.maximum(r, 0.0), GERMANY_ZR), dtype=np.float32)


def read_keys(path: Path) -> list[str]:
    """The key list of ``RYDL_keys.txt`` (a Python list literal of strings)."""
    try:
        keys = ast.literal_eval(path.read_text())
    except (ValueError, SyntaxError) as e:
        raise DatasetError(f"{path}: not a Python list of key strings ({e})") from e
    if not isinstance(keys, (list, tuple)) or not all(isinstance(k, str) for k in keys):
        raise DatasetError(f"{path}: expected a list of key strings")
    return list(keys)


def check_disjoint_years(years: dict[str, tuple[int, ...]]) -> None:
    """Raise ``ValueError`` if any year is in two of the splits (train, val, test)."""
    names = list(years)
    for a, name_a in enumerate(names):
        for name_b in names[a + 1 :]:
            shared = set(years[name_a]) & set(years[name_b])
            if shared:
                raise ConfigError(
                    f"years {sorted(shared)} are in both {name_a}_years and {name_b}_years; "
                    "each year may be in one split only"
                )


class Germany(WindowDataset):
    """Germany radar windows ``(seq_len, 1, size, size)`` in [0, 1] (HKO-7 pixel mapping)."""

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        *,
        seq_len: int = 8,
        sample_every: int = 6,
        stride: int | None = None,
        size: int | tuple[int, int] | None = 180,
        train_years: Any = YEARS["train"],
        val_years: Any = YEARS["val"],
        test_years: Any = YEARS["test"],
        keys_file: str | os.PathLike | None = None,
    ) -> None:
        split = check_split(split)
        root_path = Path(root) if root is not None else None
        if root_path is None or not root_path.exists():
            raise MissingDataError(f"Germany root {root!r} does not exist")
        self.path = root_path if root_path.is_file() else root_path / FILE_NAME
        if not self.path.is_file():
            raise MissingDataError(f"{self.path}: RainNet RYDL.hdf5 not found")
        self.size = parse_size(size)
        years = {"train": tuple(train_years), "val": tuple(val_years), "test": tuple(test_years)}
        check_disjoint_years(years)
        keys_path = Path(keys_file) if keys_file is not None else self.path.parent / KEYS_FILE
        keys_source = self.path
        with _open_h5(self.path) as f:
            if keys_path.is_file():
                keys_source = keys_path
                keys = read_keys(keys_path)
                absent = [k for k in keys[:1] + keys[-1:] if k not in f]
                if absent:
                    raise DatasetError(f"{keys_path}: keys {absent} are not in {self.path}")
            else:
                keys = list(f.keys())
        stamped = []
        for k in keys:
            t = parse_timestamp(k)
            if t is None:
                raise DatasetError(f"{self.path}: key {k!r} has no YYYYMMDDHHMM timestamp")
            if t.year in years[split]:
                stamped.append((minutes(t, f"{keys_source}: key {k!r}"), k))
        if not stamped:
            raise DatasetError(f"{self.path}: no timestamps in years {years[split]} for {split}")
        stamped.sort()
        self.keys = [k for _, k in stamped]
        times = np.asarray([t for t, _ in stamped], dtype=np.int64)
        stride = stride if stride is not None else seq_len * sample_every
        windows, runs = gap_free_windows(
            times,
            INTERVAL_MINUTES,
            seq_len,
            stride,
            sample_every,
            names=self.keys,
            where=keys_source,
        )
        if not windows:
            raise DatasetError(
                f"Germany {split}: no gap-free window of {seq_len} x {sample_every} keys"
            )
        rain = Normalizer.rain(
            GERMANY_ZR, units="mm/h (RYDL.hdf5 holds mm per 5 min: multiply by 12)"
        )
        super().__init__(split, windows, germany_info(seq_len=seq_len, size=self.size), rain)
        self.notes = [
            f"{self.path}: {len(keys)} keys; {len(stamped)} in years {years[split]} "
            f"({runs} gap-free runs of 5-minute keys)",
            f"sampling every {sample_every * INTERVAL_MINUTES} min, stride {stride} keys",
        ]
        self.frame_shape: tuple[int, ...] | None = None
        self._file = None
        self._pid: int | None = None

    def _h5(self):
        if self._file is None or self._pid != os.getpid():
            self._file = _open_h5(self.path)
            self._pid = os.getpid()
        return self._file

    def _frame(self, key: str) -> np.ndarray:
        try:
            x = np.asarray(self._h5()[key][...])
        except (OSError, KeyError) as e:
            raise DatasetError(
                f"{self.path}: cannot read dataset {key!r} ({e}); truncated file?"
            ) from e
        if x.ndim != 2:
            raise DatasetError(f"{self.path}: dataset {key!r} has shape {x.shape}, expected (H, W)")
        if self.frame_shape is None:
            self.frame_shape = x.shape
        elif x.shape != self.frame_shape:
            raise DatasetError(
                f"{self.path}: dataset {key!r} is {x.shape}, others are {self.frame_shape}"
            )
        return x

    def read_window(self, window: Window) -> np.ndarray:
        frames = np.stack([mm5_to_pixel(self._frame(self.keys[i])) for i in window.indices()])
        return resize_frames(frames[:, None], self.size)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_file"] = state["_pid"] = None
        return state


def germany_info(
    seq_len: int = 8, size: int | tuple[int, int] | None = 180, **_: Any
) -> DatasetInfo:
    """Germany radar metadata."""
    hw = parse_size(size) or (900, 900)
    return DatasetInfo(
        name="germany",
        description="Germany radar (DWD RY via RainNet RYDL.hdf5), 5-minute rain in mm, sampled every 30 min",
        input_length=seq_len // 2,
        output_length=seq_len - seq_len // 2,
        frame_size=hw,
        channels=1,
        interval="30 min (every 6th 5-minute key)",
        splits="2006-2014 train, 2015 validation, 2016-2017 test (MS-RNN code)",
        radar=RadarSpec(GERMANY_ZR, reported_thresholds=(0.5, 2.0, 5.0)),
        papers={
            "ms-lstm": {
                "size": 180,
                "in_out": "4 -> 4 at 30-minute spacing",
                "years": "2006-2014 train, 2015-2017 test (paper); code: 2015 valid, 2016-17 test",
                "epochs": 20,
                "batch": 4,
                "optimizer": "Adam 3e-4, L1+L2",
                "thresholds": "CSI/HSS at 0.5, 2, 5 mm/h",
                "source": "MS-LSTM paper 5.1/5.5; official-ms-rnn.md 2.1, 3, 4",
            },
        },
        options={"seq_len": seq_len, "size": list(hw)},
    )


register_dataset_class("germany", Germany, info=germany_info, lengths="seq_len")
