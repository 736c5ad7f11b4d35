"""Your own arrays: ``.npy``/``.npz``/HDF5/Zarr sequences, read lazily, windowed, split and normalised.

``root`` is either

* **one array file** (``key=`` picks the array in an ``.npz``/HDF5/Zarr holding
  several), split by ``splits`` fractions (train, val, test; default
  0.8/0.1/0.1) or ``split_at=(val_start, test_start)`` indices, in order: along
  time for a single series (``T...`` layouts; no window crosses a split
  boundary), along sequences for ``N...`` layouts; or
* **a folder of split files** ``train.*``, ``val.*`` (or ``valid.*``) and
  ``test.*``; without a validation file, validation is the last
  ``val_fraction`` of the training windows (overlapping training windows are
  dropped).

Layouts: ``THW``, ``TCHW``, ``THWC`` (one long series) and ``NTHW``,
``NTCHW``, ``NTHWC`` (independent sequences); by default 3-D arrays are
``THW``, 4-D ``TCHW`` and 5-D ``NTCHW`` (pass ``layout=`` for anything else).
Windows hold ``seq_len = input_length + output_length`` frames, ``sample_every``
apart, one every ``stride`` frames.

Nothing is loaded whole: ``.npy`` and uncompressed ``.npz`` are memory-mapped,
HDF5 and Zarr are read slice by slice, and fitting the normalisation streams
over the training split in chunks of about ``chunk_bytes``.

Normalisation (``normalize=``), fitted on the training split only and stored
as ``dataset.normalizer`` (``to_dict()``/``from_dict()``; pass it back with
``normalizer=`` for the other splits or at prediction time):

* ``"minmax"`` (default): min and max of the training split (``per_channel``);
* ``"range"``: ``value_range=(low, high)`` fixed;
* ``"none"``: values already in [0, 1] (checked on every window);
* ``"dbz"``: reflectivity in dBZ -> HKO-7 pixel ``(dBZ + 10) / 70``;
* ``"rain"``: rain rate in mm/h -> dBZ with the Z-R law ``zr`` -> pixel.

With ``dbz``/``rain`` the dataset's ``info.radar`` carries the conversion, so
CSI/HSS can be scored at mm/h thresholds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from convrnn.data.array_sources import ARRAY_SUFFIXES, DEFAULT_MAX_IN_MEMORY, ArraySource
from convrnn.data.errors import DatasetError, MissingDataError
from convrnn.data.images import parse_size, resize_frames
from convrnn.data.info import DatasetInfo, RadarSpec
from convrnn.data.normalize import Normalizer, fit_minmax
from convrnn.data.spec import keyword_options, register_dataset
from convrnn.data.windows import (
    Window,
    WindowDataset,
    carve_validation,
    check_split,
    sliding_windows,
)
from convrnn.units import zr_law

LAYOUTS = ("THW", "TCHW", "THWC", "NTHW", "NTCHW", "NTHWC")
DEFAULT_LAYOUT = {3: "THW", 4: "TCHW", 5: "NTCHW"}
NORMALIZE = ("minmax", "range", "none", "dbz", "rain")
SPLIT_FILES = {"train": ("train",), "val": ("val", "valid"), "test": ("test",)}
CHUNK_BYTES = 64 * 1024**2


def _find_split_file(folder: Path, split: str) -> Path | None:
    for stem in SPLIT_FILES[split]:
        for suffix in ARRAY_SUFFIXES:
            p = folder / f"{stem}{suffix}"
            if p.exists():
                return p
    return None


class Track:
    """One series of frames: a whole ``T...`` array or one sequence of an ``N...`` array."""

    def __init__(self, source: ArraySource, layout: str, sequence: int | None = None) -> None:
        self.source = source
        self.layout = layout
        self.sequence = sequence

    def read(self, start: int, stop: int, step: int = 1) -> np.ndarray:
        """Frames ``start:stop:step`` as ``(n, C, H, W)`` in the file's dtype."""
        index = (
            (slice(start, stop, step),)
            if self.sequence is None
            else (self.sequence, slice(start, stop, step))
        )
        return to_tchw(self.source[index], self.layout.removeprefix("N"))


def to_tchw(x: np.ndarray, layout: str) -> np.ndarray:
    """Frames in ``THW``/``TCHW``/``THWC`` layout -> ``(T, C, H, W)``."""
    if layout == "THW":
        return x[:, None]
    if layout == "THWC":
        return np.moveaxis(x, -1, 1)
    return x


class ArraySequences(WindowDataset):
    """Windows ``(seq_len, C, H, W)`` in [0, 1] over user arrays (see the module docstring)."""

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        *,
        key: str | None = None,
        layout: str | None = None,
        input_length: int = 10,
        output_length: int = 10,
        seq_len: int | None = None,
        stride: int = 1,
        sample_every: int = 1,
        splits: tuple[float, float, float] | list[float] = (0.8, 0.1, 0.1),
        split_at: tuple[int, int] | list[int] | None = None,
        val_fraction: float = 0.1,
        normalize: str = "minmax",
        value_range: tuple[float, float] | list[float] | None = None,
        per_channel: bool = False,
        zr: str | dict = "marshall-palmer",
        normalizer: Normalizer | dict | None = None,
        size: int | tuple[int, int] | None = None,
        max_in_memory_bytes: int = DEFAULT_MAX_IN_MEMORY,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        split = check_split(split)
        if normalize not in NORMALIZE:
            raise ValueError(f"normalize={normalize!r}; choose one of {NORMALIZE}")
        self.root = Path(root) if root is not None else None
        if self.root is None or not self.root.exists():
            raise MissingDataError(f"array root {root!r} does not exist")
        self.size = parse_size(size)
        self.normalize = normalize
        length = seq_len if seq_len is not None else input_length + output_length
        self.chunk_bytes = chunk_bytes
        notes: list[str] = []
        if self.root.is_dir() and array_kind_or_none(self.root) is None:
            tracks, windows, train_tracks = self._from_folder(
                split,
                key,
                layout,
                length,
                stride,
                sample_every,
                val_fraction,
                max_in_memory_bytes,
                notes,
            )
        else:
            tracks, windows, train_tracks = self._from_file(
                split,
                key,
                layout,
                length,
                stride,
                sample_every,
                splits,
                split_at,
                max_in_memory_bytes,
                notes,
            )
        self.tracks = tracks
        if not windows:
            raise DatasetError(f"{self.root}: the {split} split holds no window of {length} frames")
        if normalizer is not None:
            norm = (
                normalizer
                if isinstance(normalizer, Normalizer)
                else Normalizer.from_dict(normalizer)
            )
        else:
            norm = self._make_normalizer(normalize, value_range, per_channel, zr, train_tracks)
        notes.append(f"normalisation: {norm.fitted_on or norm.kind}")
        first = tracks[windows[0].source]
        c, h, w = first.read(0, 1).shape[1:]
        hw = self.size or (h, w)
        law = norm.law if norm.law is not None else zr_law(zr)
        radar = (
            RadarSpec(law, reported_thresholds=(0.5, 2.0, 5.0))
            if norm.kind in ("dbz", "rain")
            else None
        )
        info = DatasetInfo(
            name="arrays",
            description=f"user arrays under {self.root}",
            input_length=input_length if seq_len is None else seq_len // 2,
            output_length=output_length if seq_len is None else seq_len - seq_len // 2,
            frame_size=(int(hw[0]), int(hw[1])),
            channels=int(c),
            interval="1 frame" if sample_every == 1 else f"{sample_every} frames",
            splits="; ".join(n for n in notes if n.startswith("split")) or "user split",
            radar=radar,
            options={"normalize": normalize},
        )
        super().__init__(split, windows, info, norm)
        self.notes = notes

    # -- building -------------------------------------------------------------------------

    def _open(self, path: Path, key, layout, max_bytes) -> tuple[ArraySource, str]:
        source = ArraySource(path, key, max_in_memory_bytes=max_bytes)
        chosen = layout or DEFAULT_LAYOUT.get(len(source.shape))
        if chosen not in LAYOUTS:
            raise DatasetError(
                f"{source.describe()}: cannot infer the layout of a {len(source.shape)}-D array; "
                f"pass layout= one of {LAYOUTS}"
            )
        if len(chosen) != len(source.shape):
            raise DatasetError(
                f"{source.describe()}: layout {chosen} needs a {len(chosen)}-D array"
            )
        return source, chosen

    def _tracks(self, source: ArraySource, layout: str, lo: int, hi: int) -> list[Track]:
        if layout.startswith("N"):
            return [Track(source, layout, n) for n in range(lo, hi)]
        return [Track(source, layout)]

    def _windows(self, tracks, layout, lo, hi, length, stride, step) -> list[Window]:
        if not layout.startswith("N"):
            return sliding_windows(0, lo, hi, length, stride, step)
        if not tracks:
            return []
        t = tracks[0].source.shape[1]
        return [
            w for i in range(len(tracks)) for w in sliding_windows(i, 0, t, length, stride, step)
        ]

    def _from_file(
        self, split, key, layout, length, stride, step, splits, split_at, max_bytes, notes
    ):
        source, layout = self._open(self.root, key, layout, max_bytes)
        n = source.shape[0]
        if split_at is not None:
            a, b = (int(v) for v in split_at)
        else:
            fr = np.asarray(splits, dtype=np.float64)
            if fr.shape != (3,) or (fr < 0).any() or fr.sum() <= 0:
                raise ValueError(f"splits must be three non-negative fractions, got {splits}")
            fr = fr / fr.sum()
            a = round(n * fr[0])
            b = a + round(n * fr[1])
        if not 0 < a <= b <= n:
            raise ValueError(
                f"split boundaries {a}, {b} do not fit {n} {'sequences' if layout.startswith('N') else 'frames'}"
            )
        bounds = {"train": (0, a), "val": (a, b), "test": (b, n)}
        lo, hi = bounds[split]
        unit = "sequences" if layout.startswith("N") else "frames"
        notes.insert(0, f"{source.describe()} as {layout}")
        notes.append(f"split of {n} {unit}: train [0, {a}), val [{a}, {b}), test [{b}, {n})")
        if hi <= lo:
            raise DatasetError(
                f"{self.root}: the {split} split is empty (boundaries {a}, {b} of {n})"
            )
        if layout.startswith("N"):
            tracks = self._tracks(source, layout, lo, hi)
            windows = self._windows(tracks, layout, 0, 0, length, stride, step)
        else:
            tracks = [Track(source, layout)]
            windows = self._windows(tracks, layout, lo, hi, length, stride, step)
        return tracks, windows, [(source, layout, 0, a)]

    def _from_folder(
        self, split, key, layout, length, stride, step, val_fraction, max_bytes, notes
    ):
        files = {s: _find_split_file(self.root, s) for s in SPLIT_FILES}
        if files["train"] is None or (split == "test" and files["test"] is None):
            wanted = "train and test" if files["train"] is None else "test"
            raise MissingDataError(
                f"{self.root}: no {wanted} array file (train.npy, test.h5, ... with suffix in {ARRAY_SUFFIXES})"
            )
        carve = files["val"] is None and split in ("train", "val")
        name = "train" if carve else split
        source, lay = self._open(files[name], key, layout, max_bytes)
        notes.insert(0, f"{source.describe()} as {lay} ({name} file)")
        tracks = self._tracks(source, lay, 0, source.shape[0])
        windows = self._windows(tracks, lay, 0, source.shape[0], length, stride, step)
        if carve:
            kept, val = carve_validation(windows, fraction=val_fraction)
            notes.append(
                f"split: validation = last {len(val)} training windows ({val_fraction:.0%})"
            )
            windows = val if split == "val" else kept
        if split == "train" or carve:
            train_source, train_layout = source, lay
        else:
            train_source, train_layout = self._open(files["train"], key, layout, max_bytes)
        fit_stop = train_source.shape[0]
        if files["val"] is None:
            # validation is carved from the training file: fit only on what is trained on,
            # the frames (or sequences) before the first validation window
            train_tracks = self._tracks(train_source, train_layout, 0, fit_stop)
            every = self._windows(train_tracks, train_layout, 0, fit_stop, length, stride, step)
            _, val = carve_validation(every, fraction=val_fraction)
            first = min(w.source if train_layout.startswith("N") else w.start for w in val)
            fit_stop = first if first > 0 else fit_stop
        return tracks, windows, [(train_source, train_layout, 0, fit_stop)]

    def _make_normalizer(self, normalize, value_range, per_channel, zr, train_tracks) -> Normalizer:
        if normalize == "none":
            return Normalizer.identity()
        if normalize == "dbz":
            return Normalizer.dbz()
        if normalize == "rain":
            return Normalizer.rain(zr)
        if normalize == "range":
            if value_range is None:
                raise ValueError("normalize='range' needs value_range=(low, high)")
            return Normalizer.fixed_range(*value_range)
        return fit_minmax(self._train_chunks(train_tracks), per_channel=per_channel)

    def _train_chunks(self, train_ranges):
        """Training frames ``(n, C, H, W)`` in chunks of about ``chunk_bytes`` along the first axis."""
        for source, layout, lo, hi in train_ranges:
            row_bytes = int(np.prod(source.shape[1:])) * source.dtype.itemsize
            rows = max(1, self.chunk_bytes // max(1, row_bytes))
            for start in range(lo, hi, rows):
                block = source[slice(start, min(hi, start + rows))]
                if layout.startswith("N"):
                    block = block.reshape(-1, *block.shape[2:])
                yield to_tchw(block, layout.removeprefix("N"))

    # -- reading --------------------------------------------------------------------------

    def read_window(self, window: Window) -> np.ndarray:
        raw = self.tracks[window.source].read(window.start, window.stop, window.step)
        where = f"{self.tracks[window.source].source.describe()} frames {window.start}..{window.stop - 1}"
        raw = raw.astype(np.float32, copy=False)
        if not np.isfinite(raw).all() and self.normalizer.kind not in ("rain",):
            raise DatasetError(f"{where}: NaN/inf values; clean the data or use normalize='rain'")
        if self.normalizer.kind == "identity" and (raw.min() < 0.0 or raw.max() > 1.0):
            raise DatasetError(
                f"{where}: values in [{raw.min()}, {raw.max()}] but normalize='none' needs [0, 1]; "
                "use normalize='minmax' or 'range'"
            )
        x = self.normalizer.transform(raw)
        return resize_frames(x, self.size)


def array_kind_or_none(path: Path) -> str | None:
    """The array kind of ``path`` if it is an array file or Zarr store, else None."""
    from convrnn.data.array_sources import array_kind

    try:
        return array_kind(path)
    except DatasetError:
        return None


def arrays_info(
    input_length: int = 10,
    output_length: int = 10,
    normalize: str = "minmax",
    zr: str | dict = "marshall-palmer",
    size: int | tuple[int, int] | None = None,
    **_: Any,
) -> DatasetInfo:
    """Metadata of user arrays (frame size and channels depend on the file: see ``dataset.info``)."""
    radar = (
        RadarSpec(zr_law(zr), reported_thresholds=(0.5, 2.0, 5.0))
        if normalize in ("dbz", "rain")
        else None
    )
    return DatasetInfo(
        name="arrays",
        description="user arrays (.npy/.npz/HDF5/Zarr)",
        input_length=input_length,
        output_length=output_length,
        frame_size=parse_size(size),
        channels=None,
        interval="1 frame",
        splits="fractions (0.8/0.1/0.1) or split_at indices, or train/val/test files",
        radar=radar,
        options={"normalize": normalize},
    )


@register_dataset(
    "arrays",
    info=arrays_info,
    options=keyword_options(ArraySequences),
    lengths="input_output",
    takes_normalizer=True,
    reads_paths=True,
)
def _arrays_loader(split: str, root: Any = None, **options: Any) -> ArraySequences:
    """Registry entry: ``get_dataset("arrays", path, split, layout=..., normalize=..., ...)``."""
    return ArraySequences(root, split, **options)
