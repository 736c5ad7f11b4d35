"""``check_dataset``: validate a user's copy of a dataset and say what was found or what is missing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from convrnn.data.advice import dataset_advice
from convrnn.data.registry import dataset_info, dataset_spec, get_dataset
from convrnn.data.windows import SPLITS

_EXPECTED = (ValueError, OSError, KeyError, ImportError, RuntimeError, IndexError)


@dataclass
class SplitReport:
    """What one split holds, or why it could not be built."""

    split: str
    windows: int = 0
    read: int = 0
    shape: tuple[int, ...] | None = None
    value_range: tuple[float, float] | None = None
    #: pixels read, and how many of them were NaN (not observed, e.g. outside radar coverage)
    pixels: int = 0
    unobserved: int = 0
    lines: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class DatasetReport:
    """Result of :func:`check_dataset`; ``str(report)`` is the text ``convrnn data check`` prints."""

    name: str
    root: str
    splits: dict[str, SplitReport] = field(default_factory=dict)
    normalizer: dict[str, Any] | None = None
    info: dict[str, Any] | None = None
    deep: bool = False
    #: advice on the data (e.g. a better normalisation), one line each
    advice: list[str] = field(default_factory=list)

    @property
    def checked(self) -> str:
        """What was read, in words (the report's ``checked:`` line)."""
        if self.deep:
            return (
                "built every split and read every window of each split (every frame that any "
                "window uses)"
            )
        return (
            "built every split and read only the first and last window of each split (files "
            "in between were not opened); --deep (Python: deep=True) reads every window"
        )

    @property
    def problems(self) -> list[str]:
        """One line per split that failed."""
        return [f"{s.split}: {s.error}" for s in self.splits.values() if s.error]

    @property
    def ok(self) -> bool:
        """True when every split was built and read."""
        return not self.problems

    def __str__(self) -> str:
        head = f"dataset {self.name} at {self.root}: {'OK' if self.ok else 'PROBLEMS FOUND'}"
        out = [head, f"  checked: {self.checked}"]
        shown: set[str] = set()
        for s in self.splits.values():
            if s.error:
                out.append(f"  [{s.split}] ERROR: {s.error}")
                continue
            lo, hi = s.value_range or (float("nan"), float("nan"))
            coverage = ""
            if s.unobserved:
                coverage = (
                    f", {100 * s.unobserved / s.pixels:.1f}% of pixels not observed (NaN: "
                    "filled for the model, left out of the loss and the scores)"
                )
            out.append(
                f"  [{s.split}] {s.windows} windows ({s.read} read), each "
                f"{tuple(s.shape or ())} (T, C, H, W), "
                f"values in [{lo:.3f}, {hi:.3f}]{coverage}"
            )
            for line in s.lines:
                if line not in shown and not line.startswith(f"{s.split}: "):
                    out.append(f"      {line}")
                    shown.add(line)
        if self.normalizer is not None:
            out.append(
                f"  normalisation: {self.normalizer.get('fitted_on') or self.normalizer['kind']}"
            )
        if self.info is not None:
            i = self.info
            out.append(
                f"  defaults: {i['input_length']} -> {i['output_length']} frames "
                f"(test -> {i['test_output_length']}), interval {i['interval']}"
            )
            if i.get("radar"):
                r = i["radar"]
                out.append(
                    f"  radar: {r['pixel_mapping']}; Z = {r['law']['a']} R^{r['law']['b']}; "
                    f"thresholds {r['thresholds']} mm/h"
                )
        out.extend(f"  {line}" for line in self.advice)
        return "\n".join(out)


def _read(ds, index: int) -> np.ndarray:
    return np.asarray(ds[index], dtype=np.float32)


_MAX_LISTED = 5  # distinct read problems listed per split in a deep check


def _read_windows(ds, sr: SplitReport, indices: range | list[int], deep: bool) -> None:
    """Read ``indices`` of ``ds`` into ``sr`` (shape, value range, count); problems go to ``sr.error``.

    A quick check stops at the first bad window; a deep one reads on and lists
    the distinct problems (each names its window and the loader's message,
    which names the file).
    """
    lo, hi = np.inf, -np.inf
    problems: dict[str, int] = {}  # message without the window -> first window
    bad = 0
    for i in indices:
        try:
            x = _read(ds, i)
            if sr.shape is None:
                sr.shape = tuple(x.shape)
            elif tuple(x.shape) != sr.shape:
                raise ValueError(
                    f"shape {tuple(x.shape)}, but the first window read has {sr.shape}"
                )
            nan = int(np.isnan(x).sum())
            if nan == x.size:
                raise ValueError("no observed value: every pixel of the window is NaN")
            if np.isinf(x).any() or np.nanmin(x) < 0 or np.nanmax(x) > 1:
                raise ValueError("values outside [0, 1] or infinite")
        except _EXPECTED as e:
            bad += 1
            problems.setdefault(str(e) or type(e).__name__, i)
            if not deep:
                break
            continue
        sr.read += 1
        sr.pixels += x.size
        sr.unobserved += nan
        lo, hi = min(lo, float(np.nanmin(x))), max(hi, float(np.nanmax(x)))
    if sr.read:
        sr.value_range = (lo, hi)
    if problems:
        listed = [f"window {i}: {msg}" for msg, i in list(problems.items())[:_MAX_LISTED]]
        if not deep:
            sr.error = listed[0]
            return
        more = len(problems) - len(listed)
        kinds = f" ({len(problems)} distinct problems)" if len(problems) > 1 else ""
        sr.error = (
            f"{bad} of {len(indices)} windows could not be read{kinds}: "
            + "; ".join(listed)
            + (f"; and {more} more" if more else "")
        )


def _check_frames_agree(report: DatasetReport) -> None:
    """A split whose frames (C, H, W) differ from the training split's is a problem (a model trained
    on one cannot be tested on the other)."""
    train = report.splits.get("train")
    if train is None or train.shape is None:
        return
    for sr in report.splits.values():
        if (
            sr is not train
            and sr.shape is not None
            and not sr.error
            and sr.shape[1:] != train.shape[1:]
        ):
            sr.error = (
                f"frames are {sr.shape[1:]} (C, H, W) but the training split's are "
                f"{train.shape[1:]}; a model trained on one cannot run on the other: make the "
                "split files the same size (or set size= to resize every split)"
            )


def _lengths(options: dict[str, Any]) -> str:
    """`` of N frames (input_length + output_length = a + b)`` from the options, where given."""
    if "seq_len" in options:
        return f" of seq_len = {options['seq_len']} frames"
    if "input_length" in options or "output_length" in options:
        i, o = options.get("input_length", "default"), options.get("output_length", "default")
        return f" of input_length + output_length = {i} + {o} frames"
    return " (windows of the dataset's default input_length + output_length)"


def check_dataset(
    name: str,
    root: Any,
    splits: tuple[str, ...] = SPLITS,
    deep: bool = False,
    **options: Any,
) -> DatasetReport:
    """Build every split of ``name`` under ``root``, read windows, and report.

    Args:
        name: a registered dataset name (``convrnn.data.list_datasets()``).
        root: the folder (or file) of the user's copy.
        splits: the splits to build (default train, val, test).
        deep: ``False`` (default, quick): read only the first and last window of
            each split, so a file used only by the windows in between is not
            opened and can still be broken. ``True``: read **every** window of
            every split (every frame file any window uses; slow on big copies,
            and overlapping windows read a frame more than once); each bad
            window is reported with the loader's message, which names the
            file, and reading goes on so the report lists the distinct
            problems (the first few).
        **options: the dataset's options, as for ``get_dataset``.

    Returns a :class:`DatasetReport`; ``report.ok`` is False if any split
    failed, and ``str(report)`` (what ``convrnn data check`` prints) says
    what was checked. Errors are caught and reported with the loader's
    message (which names the missing or broken file); an unknown dataset
    name (:class:`~convrnn.errors.ChoiceError`) or option
    (:class:`~convrnn.errors.ConfigError`) raises before anything is read.
    """
    if not isinstance(deep, (bool, np.bool_)):
        raise TypeError(f"deep must be True or False, got {deep!r}")
    deep = bool(deep)
    spec = dataset_spec(name)
    spec.check_options(options)
    report = DatasetReport(name, str(root), deep=deep)
    train_normalizer = None
    for split in splits:
        sr = SplitReport(split)
        report.splits[split] = sr
        opts = dict(options)
        if spec.takes_normalizer and train_normalizer is not None and "normalizer" not in opts:
            opts["normalizer"] = train_normalizer
        try:
            ds = get_dataset(name, root, split, **opts)
            sr.windows = len(ds)
            sr.lines = list(ds.summary()) if hasattr(ds, "summary") else []
            if not len(ds):
                raise ValueError(f"the split has no windows{_lengths(options)}")
            indices = range(len(ds)) if deep else sorted({0, len(ds) - 1})
            _read_windows(ds, sr, indices, deep)
            norm = getattr(ds, "normalizer", None)
            if norm is not None:
                if split == "train":
                    train_normalizer = norm
                    # only windows the check read without a problem
                    advice = None if sr.error else dataset_advice(ds, list(indices)[:8])
                    if advice:
                        report.advice.append(advice)
                report.normalizer = norm.to_dict()
            ds_info = getattr(ds, "info", None)
            if ds_info is not None and report.info is None:
                report.info = ds_info.to_dict()
        except _EXPECTED as e:
            sr.error = str(e) if str(e) else type(e).__name__
    _check_frames_agree(report)
    if report.info is None:
        try:
            report.info = dataset_info(name, **options).to_dict()
        except (*_EXPECTED, TypeError):
            pass
    return report
