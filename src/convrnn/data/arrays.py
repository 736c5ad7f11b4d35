"""Your own arrays: ``.npy``/``.npz``/HDF5/Zarr sequences, read lazily, windowed, split and normalised.

``root`` is one of

* **one array file** (``key=`` picks the array in an ``.npz``/HDF5/Zarr holding
  several), split by ``splits`` fractions (train, val, test; default
  0.8/0.1/0.1) or ``split_at=(val_start, test_start)`` indices, in order: along
  time for a single series (``T...`` layouts; no window crosses a split
  boundary), along sequences for ``N...`` layouts;
* **a folder of split files**: it holds a ``train.*`` file (or a ``train/``
  folder of series), ``val.*`` (or ``valid.*``, ``val/``) and ``test.*`` (or
  ``test/``); without a validation file, validation is the last
  ``val_fraction`` of the training windows (overlapping training windows are
  dropped);
* **several series of different lengths** (events): a folder of array files
  *without* a ``train.*`` file or ``train/`` folder (each file one series), a
  list of files or a glob, or a ragged container (``key="*"``, ``key="event_*"``
  or an HDF5 group: each array one series). Each series is windowed on its own
  (no window crosses two series) and the set is split by whole series in name
  order (``split_by="series"``, the default) or by time within every series
  (``split_by="time"``); see :mod:`convrnn.data.array_series`;
* **NetCDF**: a file, a folder of files or a glob, concatenated along time,
  windows never crossing a gap of the time axis (:mod:`convrnn.data.netcdf`).

Layouts: ``THW``, ``TCHW``, ``THWC`` (one long series) and ``NTHW``,
``NTCHW``, ``NTHWC`` (independent sequences); by default 3-D arrays are
``THW``, 4-D ``TCHW`` and 5-D ``NTCHW`` (pass ``layout=`` for anything else).
Windows hold ``seq_len = input_length + output_length`` frames, ``sample_every``
apart, one every ``stride`` frames. ``target_channels=[...]`` names the channels a
model predicts (its loss and scores cover only them); every channel stays an input.

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
* ``"rain"``: rain rate in mm/h -> dBZ with the Z-R law ``zr`` -> pixel; rates
  below ``rain_threshold`` (default 0.1 mm/h, pysteps' usual) are dry, and
  every forecast pixel below the threshold's pixel comes back as exactly 0 mm/h.

Augmentation for small archives (:mod:`convrnn.data.augment`, off by default):
``augment="flip"``, ``"rot90"`` or ``"flip+rot90"`` transforms whole training
windows (the same for every frame), and ``crop=(h, w)`` (or an int) cuts random
``h x w`` crops from larger training frames; validation and test windows are
never transformed, and with ``crop`` they are cut to the centre crop. Draws are
seeded by ``(augment_seed, epoch, window)``, so a resumed run sees the same ones.

With ``dbz``/``rain`` the dataset's ``info.radar`` carries the conversion, so
CSI/HSS can be scored at mm/h thresholds. How a file or folder becomes splits
(layouts, tracks, windows, the fitting range) is :mod:`convrnn.data.array_splits`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from convrnn.data.array_plans import plan_arrays
from convrnn.data.array_sources import DEFAULT_MAX_IN_MEMORY
from convrnn.data.array_splits import ArrayFormat, SplitPlan, Windowing
from convrnn.data.augment import Augmentation
from convrnn.data.errors import DatasetError, MissingDataError
from convrnn.data.images import parse_size, resize_frames
from convrnn.data.info import DatasetInfo, RadarSpec
from convrnn.data.normalize import Normalizer, fit_minmax
from convrnn.data.spec import register_dataset_class
from convrnn.data.windows import Window, WindowDataset, check_split
from convrnn.errors import ChoiceError, ConfigError, check_choice
from convrnn.units import zr_law

NORMALIZE = ("minmax", "range", "none", "dbz", "rain")
CHUNK_BYTES = 64 * 1024**2
#: rain rates below this (mm/h) are dry under normalize="rain" (pysteps' usual threshold)
DEFAULT_RAIN_THRESHOLD = 0.1


@dataclass(frozen=True)
class Normalization:
    """The ``normalize=`` settings of user arrays (see the module docstring)."""

    kind: str = "minmax"
    value_range: tuple[float, float] | list[float] | None = None
    per_channel: bool = False
    zr: str | dict = "marshall-palmer"
    rain_threshold: float = DEFAULT_RAIN_THRESHOLD

    def __post_init__(self) -> None:
        try:
            check_choice("normalize value", self.kind, NORMALIZE)
        except ChoiceError as e:
            raise ChoiceError(f"normalize={self.kind!r}: {e}") from None

    def build(self, training_frames: Callable[[], Iterator[np.ndarray]]) -> Normalizer:
        """The normaliser; ``minmax`` is fitted on ``training_frames()`` (streamed in chunks)."""
        if self.kind == "none":
            return Normalizer.identity()
        if self.kind == "dbz":
            return Normalizer.dbz()
        if self.kind == "rain":
            return Normalizer.rain(self.zr, threshold=self.rain_threshold)
        if self.kind == "range":
            if self.value_range is None:
                raise ConfigError("normalize='range' needs value_range=(low, high)")
            return Normalizer.fixed_range(*self.value_range)
        return fit_minmax(training_frames(), per_channel=self.per_channel)

    def radar(self) -> RadarSpec | None:
        """The pixel -> dBZ -> rain conversion of ``dbz``/``rain`` data, else None."""
        if self.kind not in ("dbz", "rain"):
            return None
        return RadarSpec(zr_law(self.zr), reported_thresholds=(0.5, 2.0, 5.0))


class ArraySequences(WindowDataset):
    """Windows ``(seq_len, C, H, W)`` in [0, 1] over user arrays (see the module docstring)."""

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        *,
        key: str | None = None,
        variable: str | None = None,
        layout: str | None = None,
        input_length: int = 10,
        output_length: int = 10,
        seq_len: int | None = None,
        stride: int = 1,
        sample_every: int = 1,
        splits: tuple[float, float, float] | list[float] = (0.8, 0.1, 0.1),
        split_at: tuple[int, int] | list[int] | None = None,
        split_by: str | None = None,
        val_fraction: float = 0.1,
        normalize: str = "minmax",
        value_range: tuple[float, float] | list[float] | None = None,
        per_channel: bool = False,
        zr: str | dict = "marshall-palmer",
        rain_threshold: float = DEFAULT_RAIN_THRESHOLD,
        normalizer: Normalizer | dict | None = None,
        size: int | tuple[int, int] | None = None,
        target_channels: list[int] | None = None,
        augment: str | None = None,
        crop: int | tuple[int, int] | list[int] | None = None,
        augment_seed: int = 0,
        max_in_memory_bytes: int = DEFAULT_MAX_IN_MEMORY,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        split = check_split(split)
        settings = Normalization(normalize, value_range, per_channel, zr, rain_threshold)
        if root is None:
            raise MissingDataError("the arrays dataset needs a root: a file, folder, list or glob")
        many = isinstance(root, (list, tuple))
        self.root: Path | list[Path] = [Path(p) for p in root] if many else Path(root)
        self.size = parse_size(size)
        self.augmentation = Augmentation.from_options(augment, crop, augment_seed)
        #: the training stream passes ``epoch * len + index`` (see ``__getitem__``)
        self.epoch_indexed = split == "train" and self.augmentation.active
        self.normalize = normalize
        self.chunk_bytes = chunk_bytes
        length = seq_len if seq_len is not None else input_length + output_length
        named = (
            "seq_len"
            if seq_len is not None
            else f"input_length + output_length = {input_length} + {output_length}"
        )
        if variable is not None and key is not None and variable != key:
            raise ConfigError(f"variable={variable!r} and key={key!r} differ; give one of them")
        fmt = ArrayFormat(variable or key, layout, max_in_memory_bytes)
        windowing = Windowing(length, stride, sample_every, named)
        plan = plan_arrays(
            root,
            split,
            fmt,
            windowing,
            splits,
            split_at,
            val_fraction,
            split_by,
            self.size is not None,
        )
        self.tracks = plan.tracks
        if normalizer is None:
            norm = settings.build(lambda: self._train_chunks(plan))
        else:
            norm = (
                normalizer
                if isinstance(normalizer, Normalizer)
                else Normalizer.from_dict(normalizer)
            )
        notes = [*plan.notes, f"normalisation: {norm.fitted_on or norm.kind}"]
        c, h, w = plan.tracks[plan.windows[0].source].read(0, 1).shape[1:]
        #: the channels a model predicts (None: all); the others are inputs only
        self.target_channels = _check_targets(target_channels, int(c))
        hw = self.augmentation.check_frames(*(self.size or (h, w)))
        if self.augmentation.active:
            notes.append(self.augmentation.describe())
        law = norm.law if norm.law is not None else zr_law(zr)
        info = DatasetInfo(
            name="arrays",
            description=f"user arrays under {self.root}",
            input_length=input_length if seq_len is None else seq_len // 2,
            output_length=output_length if seq_len is None else seq_len - seq_len // 2,
            frame_size=(int(hw[0]), int(hw[1])),
            channels=int(c),
            interval=_interval(plan.tracks[0].source, sample_every),
            splits="; ".join(n for n in notes if n.startswith("split")) or "user split",
            radar=RadarSpec(law, reported_thresholds=(0.5, 2.0, 5.0))
            if norm.kind in ("dbz", "rain")
            else None,
            options={
                "normalize": normalize,
                "target_channels": self.target_channels,
                "augment": self.augmentation.augment,
                "crop": list(self.augmentation.crop) if self.augmentation.crop else None,
            },
        )
        super().__init__(split, plan.windows, info, norm)
        self.notes = notes

    def _train_chunks(self, plan: SplitPlan) -> Iterator[np.ndarray]:
        """Training frames ``(n, C, H, W)`` in chunks of about ``chunk_bytes``."""
        for fit in plan.fit:
            yield from fit.chunks(self.chunk_bytes)

    def __getitem__(self, index: int) -> torch.Tensor:
        """Window ``index``; training indices past the end are later epochs' draws of ``index % len``."""
        n = len(self.windows)
        if self.split != "train" or not self.augmentation.active:
            frames = super().__getitem__(index).numpy()
            return torch.from_numpy(np.ascontiguousarray(self.augmentation.centre(frames)))
        if index < 0 or (index >= n and not self.epoch_indexed):
            raise IndexError(f"window {index} out of range [0, {n})")
        epoch, i = divmod(index, n)
        frames = self.augmentation.random(self.read_window(self.windows[i]), epoch, i)
        return torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32))

    def read_window(self, window: Window) -> np.ndarray:
        track = self.tracks[window.source]
        raw = track.read(window.start, window.stop, window.step).astype(np.float32, copy=False)
        where = f"{track.source.describe()} frames {window.start}..{window.stop - 1}"
        # NaN is "not observed" (kept, then filled and masked); infinity is a mistake
        if np.isinf(raw).any():
            raise DatasetError(
                f"{where}: infinite values; mark pixels nobody observed as NaN, or replace them"
            )
        if self.normalizer.kind == "identity" and (np.nanmin(raw) < 0.0 or np.nanmax(raw) > 1.0):
            raise DatasetError(
                f"{where}: values in [{np.nanmin(raw)}, {np.nanmax(raw)}] but normalize='none' "
                "needs [0, 1]; use normalize='minmax' or 'range'"
            )
        x = self.normalizer.transform(raw)
        return resize_frames(x, self.size)


def _check_targets(targets: Any, channels: int) -> list[int] | None:
    """``target_channels`` checked against the data's ``channels``: distinct valid indices."""
    if targets is None:
        return None
    values = [targets] if isinstance(targets, int) else list(targets)
    if (
        not values
        or len(set(values)) != len(values)
        or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v < channels for v in values
        )
    ):
        raise ConfigError(
            f"target_channels={targets!r}: give distinct channel indices in 0..{channels - 1} "
            f"(the data have {channels} channel(s)), e.g. [0]"
        )
    return values


def _interval(source: Any, sample_every: int) -> str:
    """The time between a window's frames: minutes from a NetCDF time axis, else frames."""
    step = getattr(source, "time_step", None)
    if step is not None:
        return f"{sample_every * step / np.timedelta64(1, 'm'):g} min"
    return "1 frame" if sample_every == 1 else f"{sample_every} frames"


def arrays_info(
    input_length: int = 10,
    output_length: int = 10,
    normalize: str = "minmax",
    zr: str | dict = "marshall-palmer",
    size: int | tuple[int, int] | None = None,
    **_: Any,
) -> DatasetInfo:
    """Metadata of user arrays (frame size and channels depend on the file: see ``dataset.info``)."""
    return DatasetInfo(
        name="arrays",
        description="user arrays (.npy/.npz/HDF5/Zarr)",
        input_length=input_length,
        output_length=output_length,
        frame_size=parse_size(size),
        channels=None,
        interval="1 frame",
        splits="fractions (0.8/0.1/0.1) or split_at indices, train/val/test files, or whole series",
        radar=Normalization(normalize, zr=zr).radar(),
        options={"normalize": normalize},
    )


register_dataset_class(
    "arrays",
    ArraySequences,
    info=arrays_info,
    lengths="input_output",
    takes_normalizer=True,
    reads_paths=True,
)
