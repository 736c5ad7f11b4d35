"""Typhoon (CEReS Himawari-8 observations, as in CMS-LSTM and MoDeRNN): user-prepared arrays.

No loader or preprocessed release exists (``reference/official-cms-modernn-sa.md``
6.1); the papers use hourly 64x64 grey frames in [0, 1], 12-frame sequences
(8 -> 4), 1,809 train / 603 test sequences. This loader reads arrays of shape
``(N, 12, 1, H, W)`` (``.npy``/``.npz``/HDF5/Zarr), float in [0, 1] or uint8
(divided by 255), with a **user-supplied split**:

* a folder with ``train.*`` and ``test.*`` (and optionally ``val.*``/``valid.*``);
  without a validation file, validation is the last ``val_fraction`` (10 %) of
  the training sequences; or
* one file with ``split_at=(val_start, test_start)`` sequence indices.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from convrnn.data.array_sources import ArraySource
from convrnn.data.array_splits import array_kind_or_none, find_split_file
from convrnn.data.arrays import ArraySequences
from convrnn.data.errors import DatasetError, MissingDataError
from convrnn.data.info import DatasetInfo
from convrnn.data.spec import register_dataset_class
from convrnn.errors import ConfigError

SEQ_LEN = 12


class Typhoon(ArraySequences):
    """Typhoon sequences ``(12, 1, H, W)`` in [0, 1]."""

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        *,
        key: str | None = None,
        split_at: tuple[int, int] | list[int] | None = None,
        val_fraction: float = 0.1,
    ) -> None:
        path = Path(root) if root is not None else None
        if path is None or not path.exists():
            raise MissingDataError(f"Typhoon root {root!r} does not exist")
        single = not path.is_dir() or array_kind_or_none(path) is not None
        if single and split_at is None:
            raise ConfigError(
                "Typhoon has no public split: pass split_at=(val_start, test_start) for a single "
                "file, or put train.npy and test.npy (and optionally val.npy) in a folder"
            )
        probe = path if single else find_split_file(path, "train")
        if probe is None:
            raise MissingDataError(f"{path}: no train.* array file (train.npy, train.h5, ...)")
        source = ArraySource(probe, key)
        if len(source.shape) != 5 or source.shape[1] != SEQ_LEN or source.shape[2] != 1:
            raise DatasetError(
                f"{source.describe()}: Typhoon arrays must have shape (N, 12, 1, H, W)"
            )
        integer = source.dtype.kind in "ui"
        super().__init__(
            path,
            split,
            key=key,
            layout="NTCHW",
            seq_len=SEQ_LEN,
            stride=SEQ_LEN,
            split_at=split_at,
            val_fraction=val_fraction,
            normalize="range" if integer else "none",
            value_range=(0, 255) if integer else None,
        )
        for track in {id(t.source): t.source for t in self.tracks}.values():
            if track.shape[1:3] != (SEQ_LEN, 1):
                raise DatasetError(f"{track.describe()}: Typhoon arrays must be (N, 12, 1, H, W)")
        self.info = typhoon_info(size=self.info.frame_size)


def typhoon_info(size: Any = (64, 64), **_: Any) -> DatasetInfo:
    """Typhoon metadata."""
    hw = (size, size) if isinstance(size, int) else tuple(size)
    return DatasetInfo(
        name="typhoon",
        description="Typhoon (CEReS Himawari-8), hourly grey frames in [0, 1]",
        input_length=8,
        output_length=4,
        frame_size=(int(hw[0]), int(hw[1])),
        channels=1,
        interval="1 h",
        splits="user-supplied: train/test files (+ val, else last 10% of train) or split_at",
        papers={
            "cms-lstm": {
                "size": 64,
                "in_out": "8 -> 4",
                "sequences": "1,809 train / 603 test",
                "iterations": 100000,
                "batch": 8,
                "optimizer": "AdamW 1e-3, L1+L2",
                "source": "CMS-LSTM paper section 4; official-cms-modernn-sa.md 6.1",
            },
            "modernn": {
                "size": 64,
                "in_out": "8 -> 4",
                "sequences": "1,809 train / 603 test",
                "iterations": 100000,
                "batch": 32,
                "optimizer": "AdamW 1e-3, L1+L2",
                "source": "MoDeRNN paper 3.2/3.4",
            },
        },
        options={"size": [int(hw[0]), int(hw[1])]},
    )


register_dataset_class("typhoon", Typhoon, info=typhoon_info)
