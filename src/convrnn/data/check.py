"""``check_dataset``: validate a user's copy of a dataset and say what was found or what is missing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from convrnn.data.registry import dataset_info, get_dataset
from convrnn.data.windows import SPLITS

_EXPECTED = (ValueError, OSError, KeyError, ImportError, RuntimeError, IndexError)


@dataclass
class SplitReport:
    """What one split holds, or why it could not be built."""

    split: str
    windows: int = 0
    shape: tuple[int, ...] | None = None
    value_range: tuple[float, float] | None = None
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
        out = [head]
        shown: set[str] = set()
        for s in self.splits.values():
            if s.error:
                out.append(f"  [{s.split}] ERROR: {s.error}")
                continue
            lo, hi = s.value_range or (float("nan"), float("nan"))
            out.append(
                f"  [{s.split}] {s.windows} windows, each {tuple(s.shape or ())} (T, C, H, W), "
                f"values in [{lo:.3f}, {hi:.3f}]"
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
        return "\n".join(out)


def _read(ds, index: int) -> np.ndarray:
    return np.asarray(ds[index], dtype=np.float32)


def check_dataset(
    name: str,
    root: Any,
    splits: tuple[str, ...] = SPLITS,
    deep: bool = False,
    **options: Any,
) -> DatasetReport:
    """Build every split of ``name`` under ``root``, read windows, and report.

    Reads the first and last window of each split (``deep=True``: every
    window, which checks every file); errors are caught and reported with the
    loader's message (which names the missing or broken file).
    """
    report = DatasetReport(name, str(root))
    train_normalizer = None
    for split in splits:
        sr = SplitReport(split)
        report.splits[split] = sr
        opts = dict(options)
        if name == "arrays" and train_normalizer is not None and "normalizer" not in opts:
            opts["normalizer"] = train_normalizer
        try:
            ds = get_dataset(name, root, split, **opts)
            sr.windows = len(ds)
            sr.lines = list(ds.summary()) if hasattr(ds, "summary") else []
            indices = range(len(ds)) if deep else sorted({0, len(ds) - 1})
            lo, hi = np.inf, -np.inf
            for i in indices:
                x = _read(ds, i)
                if sr.shape is None:
                    sr.shape = tuple(x.shape)
                elif tuple(x.shape) != sr.shape:
                    raise ValueError(f"window {i} has shape {x.shape}, window 0 has {sr.shape}")
                if not np.isfinite(x).all() or x.min() < 0 or x.max() > 1:
                    raise ValueError(f"window {i} has values outside [0, 1] or NaN")
                lo, hi = min(lo, float(x.min())), max(hi, float(x.max()))
            sr.value_range = (lo, hi)
            norm = getattr(ds, "normalizer", None)
            if norm is not None:
                if split == "train":
                    train_normalizer = norm
                report.normalizer = norm.to_dict()
            ds_info = getattr(ds, "info", None)
            if ds_info is not None and report.info is None:
                report.info = ds_info.to_dict()
        except _EXPECTED as e:
            sr.error = str(e) if str(e) else type(e).__name__
    if report.info is None:
        try:
            report.info = dataset_info(name, **options).to_dict()
        except (*_EXPECTED, TypeError):
            pass
    return report
