"""Advice where the data say so: heavy-tailed, mostly-zero data (rain) under min-max scaling."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: share of observed pixels at the minimum above which data count as "mostly zero"
MOSTLY_AT_MINIMUM = 0.5
#: the 99th percentile, as a share of the maximum, below which data count as heavy-tailed
HEAVY_TAIL = 0.1
#: windows of the training split read for the advice (spread over the split)
WINDOWS_READ = 8


def sample_windows(
    dataset: Any, count: int = WINDOWS_READ, indices: Sequence[int] | None = None
) -> np.ndarray:
    """Up to ``count`` windows spread over ``dataset`` (or those of ``indices``), ``(n, T, C, H, W)``."""
    n = len(dataset)
    picks = indices
    if picks is None:
        picks = sorted({round(i * (n - 1) / max(count - 1, 1)) for i in range(min(count, n))})
    return np.stack([np.asarray(dataset[i], dtype=np.float32) for i in picks])


def scaling_advice(frames: np.ndarray, normalizer: Any) -> str | None:
    """A line of advice if ``frames`` (normalised, NaN = not observed) look like rain under min-max.

    Heavy-tailed and mostly zero: most observed pixels at the minimum and the 99th
    percentile far below the maximum. Min-max scaling then squeezes almost every
    rainy pixel into a few grey levels near 0, and a model trained on it learns to
    predict nothing.
    """
    if normalizer is None or getattr(normalizer, "kind", None) != "affine":
        return None
    values = frames[np.isfinite(frames)]
    if values.size == 0:
        return None
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return None
    at_min = float(np.mean(values <= lo + 1e-6 * (hi - lo)))
    p99 = float(np.percentile(values, 99))
    if at_min < MOSTLY_AT_MINIMUM or (p99 - lo) > HEAVY_TAIL * (hi - lo):
        return None
    return (
        f"advice: the data are mostly at their minimum ({100 * at_min:.0f}% of observed pixels) "
        f"with a heavy tail (99th percentile at {100 * (p99 - lo) / (hi - lo):.1f}% of the range), "
        "which min-max scaling squeezes into a few grey levels: models trained on it tend to "
        "predict nothing. For rain rates (mm/h) set normalize=rain, for reflectivity (dBZ) "
        "normalize=dbz (as a run option: data.options.normalize=...)"
    )


def dataset_advice(dataset: Any, indices: Sequence[int] | None = None) -> str | None:
    """:func:`scaling_advice` for a training split (None when all is well).

    Reads a few windows spread over the split, or only those of ``indices`` (a quick
    ``data check`` reads no window beyond the ones it checked).
    """
    normalizer = getattr(dataset, "normalizer", None)
    if normalizer is None or getattr(normalizer, "kind", None) != "affine" or not len(dataset):
        return None
    return scaling_advice(sample_windows(dataset, indices=indices), normalizer)
