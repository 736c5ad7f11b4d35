"""TaxiBJ crowd flows: the ST-ResNet ``BJ13..BJ16_M32x32_T30_InOut.h5`` files or OpenSTL's ``dataset.npz``.

**HDF5 files** (``reference/official-cms-modernn-sa.md`` 6.2, ``official-ms-rnn.md`` 3;
the MIM loader ``src/data_provider/taxibj.py``, copied by MS-RNN):

* each file holds ``data`` ``(T, 2, 32, 32)`` (inflow, outflow) and ``date``
  (``b"YYYYMMDDSS"``, slot ``SS`` = 01..48 of 30 minutes);
* days without all 48 slots are dropped, negative flows are set to 0;
* min-max over **both flows** of every frame but the last 1,344 of the
  concatenated years (the training part; ``len_test = 48*7*4``), applied to all
  frames and clipped to [0, 1];
* windows of ``seq_len`` (8 = 4 -> 4) consecutive 30-minute slots inside a year
  file, stride 1, **in time order** (the official loader stacks each window
  most-recent-first, an unintended reversal we do not copy); as in ST-ResNet's
  ``STMatrix``, a window also needs the slot after it, which is how the
  official window set (the papers' 19,560 / 1,344) is formed;
* the last 1,344 windows are the test set, the rest training (``test_windows``
  changes both 1,344s, e.g. for small test fixtures);
* ``flows="inflow"`` keeps channel 0 (MS-RNN, MS-LSTM); ``"both"`` keeps both
  (SA-ConvLSTM, MIM);
* ``quantize=True`` stores frames as ``uint8(x * 255) / 255`` like MS-RNN.

**Validation** (the papers validate on the test set): the last ``val_windows``
(default 1,344, four weeks) training windows; the 7 training windows that
overlap them are dropped. ``val_windows=0`` keeps the official 19,560-window
training set (and has no validation split).

**dataset.npz** (OpenSTL/SimVP): ``X_train, Y_train, X_test, Y_test`` of shape
``(N, 4, 2, 32, 32)`` in [-1, 1]; a sequence is ``X`` followed by ``Y``, mapped
by ``(x + 1) / 2``. Validation: the last ``val_windows`` training sequences,
dropping the ``seq_len - 1`` before them (the file's windows are consecutive
stride-1 slots).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from convrnn.data.array_sources import ArraySource
from convrnn.data.errors import DatasetError, MissingDataError
from convrnn.data.info import DatasetInfo
from convrnn.data.normalize import Normalizer
from convrnn.data.spec import register_dataset_class
from convrnn.data.windows import (
    Window,
    WindowDataset,
    carve_validation,
    check_split,
    contiguous_runs,
    sliding_windows,
)
from convrnn.errors import ConfigError

YEARS = (13, 14, 15, 16)
FILE_PATTERN = "BJ{:02d}_M32x32_T30_InOut.h5"
SLOTS_PER_DAY = 48
SLOT_MINUTES = 30
LEN_TEST = 48 * 7 * 4
FRAME_SHAPE = (2, 32, 32)
FLOWS = {"inflow": (0,), "outflow": (1,), "both": (0, 1)}
EPOCH = datetime(1970, 1, 1)


def _flows(flows: str) -> tuple[int, ...]:
    if flows not in FLOWS:
        raise ConfigError(f"flows={flows!r}; choose one of {sorted(FLOWS)}")
    return FLOWS[flows]


def read_year(path: Path) -> tuple[np.ndarray, list[str]]:
    """``data`` (float32, negatives kept) and ``date`` strings of one year file; errors name the file."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise DatasetError(
            f"{path}: unreadable HDF5 ({e}); the file may be truncated — download it again"
        ) from e
    with f:
        missing = [k for k in ("data", "date") if k not in f]
        if missing:
            raise DatasetError(f"{path}: missing dataset(s) {missing}; expected 'data' and 'date'")
        try:
            data = np.asarray(f["data"][...], dtype=np.float32)
            dates = [d.decode() if isinstance(d, bytes) else str(d) for d in f["date"][...]]
        except OSError as e:
            raise DatasetError(f"{path}: cannot read ({e}); the file may be truncated") from e
    if data.ndim != 4 or data.shape[1:] != FRAME_SHAPE:
        raise DatasetError(f"{path}: 'data' has shape {data.shape}, expected (T, 2, 32, 32)")
    if len(dates) != len(data):
        raise DatasetError(f"{path}: {len(dates)} dates for {len(data)} frames")
    for i, d in enumerate(dates):
        if len(d) != 10 or not d.isdigit() or not 1 <= int(d[8:]) <= SLOTS_PER_DAY:
            raise DatasetError(
                f"{path}: date {i} is {d!r}, expected 'YYYYMMDDSS' with SS in 01..48"
            )
    return data, dates


def complete_days(dates: list[str]) -> tuple[np.ndarray, list[str]]:
    """Indices of frames on days with all 48 slots (each once, in order), and the dropped days."""
    by_day: dict[str, list[int]] = {}
    for i, d in enumerate(dates):
        by_day.setdefault(d[:8], []).append(i)
    keep: list[int] = []
    dropped = []
    expected = [f"{s:02d}" for s in range(1, SLOTS_PER_DAY + 1)]
    for day, idx in by_day.items():
        if [dates[i][8:] for i in idx] == expected:
            keep += idx
        else:
            dropped.append(day)
    return np.asarray(sorted(keep), dtype=np.int64), dropped


def slot_minutes(date: str) -> int:
    """Minutes since 1970 of a ``YYYYMMDDSS`` slot."""
    day = datetime(int(date[:4]), int(date[4:6]), int(date[6:8]))
    return int((day - EPOCH) / timedelta(minutes=1)) + (int(date[8:]) - 1) * SLOT_MINUTES


class TaxiBJ(WindowDataset):
    """TaxiBJ windows ``(seq_len, C, 32, 32)`` (C = 1 inflow, or 2 flows)."""

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        *,
        flows: str = "inflow",
        seq_len: int = 8,
        val_windows: int = LEN_TEST,
        test_windows: int = LEN_TEST,
        years: tuple[int, ...] | list[int] = YEARS,
        quantize: bool = False,
        source: str = "auto",
    ) -> None:
        split = check_split(split)
        self.channels = _flows(flows)
        self.quantize = quantize
        self._npz = False
        if split == "val" and val_windows <= 0:
            raise ConfigError("no validation split: val_windows=0 keeps every training window")
        root_path = Path(root) if root is not None else None
        if root_path is None or not root_path.exists():
            raise MissingDataError(f"TaxiBJ root {root!r} does not exist")
        kind = _detect(root_path, years) if source == "auto" else source
        info = taxibj_info(flows=flows, seq_len=seq_len)
        if kind == "h5":
            windows, normalizer, notes = self._from_h5(root_path, years, seq_len, test_windows)
        elif kind == "npz":
            windows, normalizer, notes = self._from_npz(root_path, seq_len)
        else:
            raise ConfigError(f"source={source!r}; choose auto, h5 or npz")
        train, test = windows
        if split == "test":
            chosen = test
        elif val_windows > 0:
            kept, val = carve_validation(train, count=val_windows, length=seq_len)
            notes.append(
                f"validation: last {len(val)} training windows; {len(train) - len(kept) - len(val)} "
                "overlapping training windows dropped"
            )
            chosen = val if split == "val" else kept
        else:
            chosen = train
        super().__init__(split, chosen, info, normalizer)
        self.notes = notes

    def _from_h5(self, root: Path, years, seq_len: int, n_test: int):
        paths = [root / FILE_PATTERN.format(y) for y in years]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise MissingDataError("TaxiBJ files missing: " + ", ".join(missing))
        notes = []
        self.frames: list[np.ndarray] = []
        raw_all = []
        for path in paths:
            data, dates = read_year(path)
            keep, dropped = complete_days(dates)
            data = np.maximum(data[keep], 0.0)
            kept_dates = [dates[i] for i in keep]
            times = np.asarray([slot_minutes(d) for d in kept_dates], dtype=np.int64)
            order = np.argsort(times, kind="stable")
            raw_all.append((path, data[order], times[order], len(dropped)))
            notes.append(
                f"{path.name}: {len(dates)} slots, {len(dropped)} incomplete days dropped, "
                f"{len(keep)} slots kept"
            )
        total = sum(len(d) for _, d, _, _ in raw_all)
        if total <= n_test:
            raise DatasetError(f"TaxiBJ: only {total} complete slots, need more than {n_test}")
        lo, hi, seen = np.inf, -np.inf, 0
        for _, data, _, _ in raw_all:  # min-max over the first total - 1,344 frames, both flows
            part = data[: max(0, min(len(data), total - n_test - seen))]
            seen += len(data)
            if len(part):
                lo, hi = min(lo, float(part.min())), max(hi, float(part.max()))
        normalizer = Normalizer.fixed_range(
            lo,
            hi,
            fitted_on=f"min-max over the first {total - n_test} complete slots (both flows)",
            units="vehicles per 30-minute slot (the .h5 values)",
        )
        windows: list[Window] = []
        for source, (path, data, times, _) in enumerate(raw_all):
            self.frames.append(self._prepare(normalizer.transform(data)))
            for i0, i1 in contiguous_runs(times, SLOT_MINUTES, where=path):
                windows += sliding_windows(
                    source, i0, i1 - 1, seq_len, 1
                )  # the next slot must exist
        if len(windows) <= n_test:
            raise DatasetError(
                f"TaxiBJ: only {len(windows)} windows of seq_len = {seq_len} slots, need more "
                f"than {n_test}"
            )
        notes.insert(0, f"{len(windows)} windows: {len(windows) - n_test} train+val, {n_test} test")
        return (windows[:-n_test], windows[-n_test:]), normalizer, notes

    def _from_npz(self, root: Path, seq_len: int):
        path = _npz_path(root)
        parts = {k: ArraySource(path, k) for k in ("X_train", "Y_train", "X_test", "Y_test")}
        for k, src in parts.items():
            if len(src.shape) != 5 or src.shape[2:] != FRAME_SHAPE:
                raise DatasetError(f"{path}: {k} has shape {src.shape}, expected (N, T, 2, 32, 32)")
        normalizer = Normalizer.fixed_range(
            -1.0,
            1.0,
            fitted_on="fixed [-1, 1] -> [0, 1] of dataset.npz",
            units="dataset.npz values in [-1, 1]",
        )
        self.frames = []
        windows = []
        for source, name in enumerate(("train", "test")):
            x, y = parts[f"X_{name}"], parts[f"Y_{name}"]
            if x.shape[0] != y.shape[0]:
                raise DatasetError(f"{path}: X_{name} and Y_{name} hold different counts")
            if x.shape[1] + y.shape[1] != seq_len:
                raise DatasetError(
                    f"{path}: X_{name} + Y_{name} give {x.shape[1] + y.shape[1]} frames, seq_len={seq_len}"
                )
            seqs = np.concatenate(
                [x[:, :, list(self.channels)], y[:, :, list(self.channels)]], axis=1
            )
            self.frames.append(self._prepare(normalizer.transform(seqs), select=False))
            # one window per sequence; ``start`` counts sequences, spaced like stride-1 slots
            windows.append([Window(source, i, seq_len) for i in range(len(seqs))])
        self._npz = True
        notes = [f"{path}: {len(windows[0])} train+val and {len(windows[1])} test sequences"]
        return (windows[0], windows[1]), normalizer, notes

    def _prepare(self, frames: np.ndarray, select: bool = True) -> np.ndarray:
        out = frames[..., list(self.channels), :, :] if select else frames
        if self.quantize:
            out = np.floor(out * 255.0) / 255.0
        return np.ascontiguousarray(out, dtype=np.float32)

    def read_window(self, window: Window) -> np.ndarray:
        frames = self.frames[window.source]
        if getattr(self, "_npz", False):
            return frames[window.start]
        return frames[window.start : window.stop]


def _npz_path(root: Path) -> Path:
    if root.is_file():
        return root
    for p in (root / "dataset.npz", root / "taxibj" / "dataset.npz"):
        if p.is_file():
            return p
    raise MissingDataError(f"{root}: no dataset.npz (or taxibj/dataset.npz)")


def _detect(root: Path, years) -> str:
    if root.is_file() and root.suffix == ".npz":
        return "npz"
    if any((root / FILE_PATTERN.format(y)).exists() for y in years):
        return "h5"
    if (root / "dataset.npz").is_file() or (root / "taxibj" / "dataset.npz").is_file():
        return "npz"
    raise MissingDataError(
        f"{root}: no TaxiBJ data; expected "
        + ", ".join(FILE_PATTERN.format(y) for y in years)
        + " (ST-ResNet HDF5) or dataset.npz (OpenSTL)"
    )


def taxibj_info(flows: str = "inflow", seq_len: int = 8, **_: Any) -> DatasetInfo:
    """TaxiBJ metadata."""
    channels = len(_flows(flows))
    return DatasetInfo(
        name="taxibj",
        description=f"TaxiBJ crowd flows (Beijing taxis), 32x32, {flows}",
        input_length=seq_len // 2,
        output_length=seq_len - seq_len // 2,
        frame_size=(32, 32),
        channels=channels,
        interval="30 min",
        splits="last 1,344 windows test; last 1,344 of the rest validation; remainder train",
        papers={
            "ms-rnn": {
                "size": 32,
                "in_out": "4 -> 4",
                "flows": "inflow",
                "windows": "19,560 train / 1,344 test",
                "epochs": 20,
                "batch": 4,
                "optimizer": "Adam 3e-4, L1+L2",
                "source": "MS-RNN paper IV-C; official-ms-rnn.md 2.1, 3",
            },
            "ms-lstm": {
                "size": 32,
                "in_out": "4 -> 4",
                "flows": "inflow",
                "epochs": 15,
                "batch": 4,
                "optimizer": "Adam 3e-4, L1+L2",
                "source": "MS-LSTM paper 5.1/5.3",
            },
            "sa-convlstm": {
                "size": 32,
                "in_out": "4 -> 4",
                "flows": "both",
                "iterations": 80000,
                "batch": 8,
                "optimizer": "Adam 1e-3, L2",
                "source": "SA-ConvLSTM paper 4.1; official-cms-modernn-sa.md 6.2",
            },
        },
        options={"flows": flows, "seq_len": seq_len},
    )


register_dataset_class("taxibj", TaxiBJ, info=taxibj_info, lengths="seq_len")
