"""HKO-7 radar echoes: 480x480 PNG frames every 6 minutes, named by timestamp.

Two layouts are read:

* the **HKO-7 release**: ``radarPNG/YYYY/MM/DD/RADyymmddHHMM00.png`` (``root``
  may be the folder holding ``radarPNG`` or ``radarPNG`` itself), optional masks
  ``radarPNG_mask/YYYY/MM/DD/RADyymmddHHMM00.mask`` (zlib-compressed booleans,
  True = valid pixel), and the rainy-day lists
  ``hko7_rainy_{train,valid,test}_days.txt`` (in ``root`` or ``root/hko_data``;
  one day per line, ``YYYYMMDD`` or ``YYYY-MM-DD`` first): 812 / 50 / 131 days;
* **split folders** (MS-RNN): ``{train,valid,test}/<timestamp>.png`` with
  ``YYYYMMDDHHMM[SS]`` or ``RADyymmddHHMMSS`` names. Without a ``valid`` (or
  ``val``) folder, validation is the last ``val_fraction`` of the training
  windows (overlapping training windows dropped).

Timestamps must fall on a whole minute (seconds ``00``, as in every HKO-7
name): a name with other seconds is an error naming the file, never rounded
or truncated (which would silently move the frame onto the 6-minute grid).

Pixels: ``x = p / 255`` and ``dBZ = 70 x - 10`` (the HKO-7 mapping); rain rate
with ``Z = 58.53 R^1.56``. Windows hold ``seq_len`` frames spaced
``sample_every`` frames (1 = 6 minutes, the MS-RNN paper's 2022 code; 6 = 36
minutes, its later code) and **never cross a gap in time**: a window needs
every timestamp at exactly 6-minute steps. ``stride`` defaults to a whole
window (non-overlapping chunks, as the official loader). Frames are resized
bilinearly to ``size`` (88 in the MS-RNN paper) and rounded to 8 bits like
``cv2.resize``. ``masked=True`` zeroes the invalid pixels of each frame before
resizing; :meth:`HKO7.masks` gives the masks themselves for masked scores.
"""

from __future__ import annotations

import os
import re
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from convrnn.data.errors import DatasetError, MissingDataError
from convrnn.data.images import parse_size, read_png_grey, resize_frames
from convrnn.data.info import DatasetInfo, RadarSpec
from convrnn.data.normalize import Normalizer
from convrnn.data.radar_frames import gap_free_windows, minutes, parse_timestamp
from convrnn.data.spec import register_dataset_class
from convrnn.data.windows import Window, WindowDataset, carve_validation, check_split
from convrnn.units import HKO7_ZR

INTERVAL_MINUTES = 6
DAY_LIST = "hko7_rainy_{}_days.txt"
LIST_SPLIT = {"train": "train", "val": "valid", "test": "test"}
_DAY = re.compile(r"^\s*(\d{4})-?(\d{2})-?(\d{2})")


def read_day_list(path: Path) -> list[tuple[int, int, int]]:
    """Days ``(year, month, day)`` of a rainy-day list; errors name the file and line."""
    days = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        m = _DAY.match(line)
        if not m:
            raise DatasetError(
                f"{path}:{lineno}: expected a day YYYYMMDD or YYYY-MM-DD, got {line!r}"
            )
        days.append((int(m.group(1)), int(m.group(2)), int(m.group(3))))
    if not days:
        raise DatasetError(f"{path}: empty day list")
    return days


def read_mask(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """An HKO-7 ``.mask`` file: zlib-compressed booleans (True = valid) of ``shape``."""
    try:
        raw = zlib.decompress(path.read_bytes())
    except FileNotFoundError as e:
        raise MissingDataError(f"{path}: mask file is missing") from e
    except zlib.error as e:
        raise DatasetError(f"{path}: corrupt mask file ({e})") from e
    if len(raw) != shape[0] * shape[1]:
        raise DatasetError(f"{path}: mask holds {len(raw)} values, frame has {shape[0]}x{shape[1]}")
    return np.frombuffer(raw, dtype=bool).reshape(shape)


def _scan_pngs(folder: Path) -> list[tuple[int, Path]]:
    out = []
    for entry in os.scandir(folder):
        if entry.name.lower().endswith(".png"):
            t = parse_timestamp(entry.name)
            if t is None:
                raise DatasetError(
                    f"{Path(folder) / entry.name}: no timestamp in the name (expected "
                    "RADyymmddHHMMSS.png or YYYYMMDDHHMM[SS].png)"
                )
            out.append((minutes(t, Path(entry.path)), Path(entry.path)))
    return out


class HKO7(WindowDataset):
    """HKO-7 windows ``(seq_len, 1, size, size)`` in [0, 1] (HKO-7 pixel units)."""

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        *,
        seq_len: int = 20,
        stride: int | None = None,
        sample_every: int = 1,
        size: int | tuple[int, int] | None = 88,
        masked: bool = False,
        val_fraction: float = 0.1,
    ) -> None:
        split = check_split(split)
        self.root = Path(root) if root is not None else None
        if self.root is None or not self.root.is_dir():
            raise MissingDataError(f"HKO-7 root {root!r} is not a directory")
        self.size = parse_size(size)
        self.masked = masked
        stride = stride if stride is not None else seq_len * sample_every
        notes: list[str] = []
        png_root = self._png_root()
        if png_root is not None:
            frames = self._release_frames(png_root, split, notes)
        else:
            frames = self._folder_frames(split, notes)
        frames.sort(key=lambda f: f[0])
        times = np.asarray([t for t, _ in frames], dtype=np.int64)
        dup = np.flatnonzero(np.diff(times) == 0)
        if len(dup):
            raise DatasetError(
                f"two frames share the time of {frames[dup[0]][1]} and {frames[dup[0] + 1][1]}"
            )
        self.paths = [p for _, p in frames]
        self.times = times
        windows, runs = gap_free_windows(times, INTERVAL_MINUTES, seq_len, stride, sample_every)
        notes.append(f"{len(frames)} frames in {runs} gap-free runs of 6-minute frames")
        if self._carve:
            kept, val = carve_validation(windows, fraction=val_fraction, length=seq_len)
            notes.append(f"validation: last {len(val)} training windows ({val_fraction:.0%})")
            windows = val if split == "val" else kept
        if not windows:
            raise DatasetError(f"HKO-7 {split}: no gap-free window of {seq_len} frames")
        info = hko7_info(seq_len=seq_len, size=self.size)
        pixel = Normalizer.fixed_range(
            0,
            255,
            fitted_on="8-bit PNG value / 255 (HKO-7 pixel)",
            units="8-bit HKO-7 pixel value (0-255)",
        )
        super().__init__(split, windows, info, pixel)
        self.notes = notes
        self.frame_shape: tuple[int, int] | None = None

    def _png_root(self) -> Path | None:
        for candidate in (self.root / "radarPNG", self.root):
            if any(p.is_dir() for p in candidate.glob("[12][0-9][0-9][0-9]")):
                return candidate
        return None

    def _release_frames(
        self, png_root: Path, split: str, notes: list[str]
    ) -> list[tuple[int, Path]]:
        self._carve = False
        name = DAY_LIST.format(LIST_SPLIT[split])
        candidates = [self.root / name, self.root / "hko_data" / name, png_root.parent / name]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise MissingDataError(f"HKO-7 day list {name} not found in {self.root} or hko_data/")
        days = read_day_list(path)
        frames: list[tuple[int, Path]] = []
        missing = []
        for y, m, d in days:
            folder = png_root / f"{y:04d}" / f"{m:02d}" / f"{d:02d}"
            if not folder.is_dir():
                missing.append(str(folder))
                continue
            day_frames = _scan_pngs(folder)
            if not day_frames:
                missing.append(str(folder) + " (empty)")
            frames += day_frames
        if missing:
            raise MissingDataError(
                f"{len(missing)} of the {len(days)} days of {path.name} have no frames: "
                + ", ".join(missing[:5])
            )
        self.png_root = png_root
        self.mask_root = png_root.parent / "radarPNG_mask"
        notes.append(f"{path}: {len(days)} days")
        return frames

    def _folder_frames(self, split: str, notes: list[str]) -> list[tuple[int, Path]]:
        names = {"train": ["train"], "val": ["valid", "val"], "test": ["test"]}
        folder = next((self.root / n for n in names[split] if (self.root / n).is_dir()), None)
        self._carve = False
        if folder is None and split == "val":
            folder = self.root / "train"
            self._carve = True
        elif folder is not None and split == "train":
            self._carve = not any((self.root / n).is_dir() for n in names["val"])
        if folder is None or not folder.is_dir():
            raise MissingDataError(
                f"{self.root}: neither radarPNG/YYYY/MM/DD/ (HKO-7 release) nor a "
                f"{'/'.join(names[split])}/ folder of PNG frames"
            )
        frames = _scan_pngs(folder)
        if not frames:
            raise MissingDataError(f"{folder}: no PNG frames")
        self.mask_root = None
        notes.append(f"{folder}: {len(frames)} PNG frames")
        return frames

    def _mask_path(self, png: Path) -> Path:
        if self.mask_root is None:
            raise MissingDataError("masks need the HKO-7 release layout (radarPNG_mask/)")
        return (self.mask_root / png.relative_to(self.png_root)).with_suffix(".mask")

    def _raw(self, path: Path) -> np.ndarray:
        frame = read_png_grey(path)
        if self.frame_shape is None:
            self.frame_shape = frame.shape
        elif frame.shape != self.frame_shape:
            raise DatasetError(
                f"{path}: frame is {frame.shape}, earlier frames are {self.frame_shape}"
            )
        return frame

    def read_window(self, window: Window) -> np.ndarray:
        raw = np.stack([self._raw(self.paths[i]) for i in window.indices()]).astype(np.float32)
        if self.masked:
            raw *= self.masks_raw(window)
        x = resize_frames(raw[:, None], self.size)
        return np.clip(np.rint(x), 0, 255).astype(np.float32) / 255.0

    def masks_raw(self, window: Window) -> np.ndarray:
        """Full-resolution boolean masks ``(T, H, W)`` of a window."""
        shape = self.frame_shape or read_png_grey(self.paths[window.start]).shape
        return np.stack(
            [read_mask(self._mask_path(self.paths[i]), shape) for i in window.indices()]
        )

    def masks(self, index: int) -> np.ndarray:
        """Boolean masks ``(T, 1, size, size)`` of window ``index`` (True = valid pixel)."""
        m = self.masks_raw(self.windows[index]).astype(np.float32)[:, None]
        return resize_frames(m, self.size) >= 0.5


def hko7_info(seq_len: int = 20, size: int | tuple[int, int] | None = 88, **_: Any) -> DatasetInfo:
    """HKO-7 metadata."""
    return DatasetInfo(
        name="hko7",
        description="HKO-7 radar echoes (Hong Kong, CAPPI 2 km, 6 minutes, 480x480 PNG)",
        input_length=seq_len // 2,
        output_length=seq_len - seq_len // 2,
        frame_size=parse_size(size) or (480, 480),
        channels=1,
        interval="6 min",
        splits="rainy days: 812 train / 50 valid / 131 test (hko7_rainy_*_days.txt)",
        radar=RadarSpec(HKO7_ZR, reported_thresholds=(0.5, 5.0, 30.0)),
        papers={
            "ms-rnn": {
                "size": 88,
                "in_out": "10 -> 10",
                "sampling": "consecutive 6-minute frames, non-overlapping 20-frame windows (2022 code)",
                "epochs": 30,
                "batch": 4,
                "optimizer": "Adam 3e-4, L1+L2",
                "thresholds": "CSI/HSS at 0.5, 5, 30 mm/h",
                "source": "MS-RNN paper IV-A/IV-E; official-ms-rnn.md 2.1, 3, 4",
            },
        },
        options={"seq_len": seq_len, "size": list(parse_size(size) or (480, 480))},
    )


register_dataset_class("hko7", HKO7, info=hko7_info, lengths="seq_len")
