"""Scores of ``rain``/``dbz`` runs in the data's own units, per lead time (pysteps' definitions).

Forecasts and observations are mapped back to physical units with the run's
normaliser (the values ``predict`` writes to ``forecast_raw.npy``) and scored on
the pixels observed in every frame of the window: MAE, RMSE and mean error
(:class:`~convrnn.metrics.continuous.ContinuousScores`) and CSI/HSS/POD/FAR at
thresholds in those units (:class:`~convrnn.metrics.ContingencyTable`, event
``>=``; pysteps' ``det_cat_fct`` uses ``>``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from torch import Tensor

from convrnn.data import Normalizer
from convrnn.metrics import ContingencyTable
from convrnn.metrics.continuous import ContinuousScores

#: event thresholds per unit kind: rain rates (mm/h) and reflectivity (dBZ)
THRESHOLDS = {"rain": (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0), "dbz": (10.0, 20.0, 30.0, 40.0, 50.0)}


def lead_times(frames: int, step_minutes: float | None, first: int = 1) -> list[float | None]:
    """Lead time in minutes of each scored frame (``first``, ``first + 1``, ... steps ahead)."""
    return [None if step_minutes is None else step_minutes * (first + k) for k in range(frames)]


class PhysicalScores:
    """Continuous and categorical scores of several forecasters, in the normaliser's raw units."""

    def __init__(self, normalizer: Normalizer, names: Sequence[str]) -> None:
        self.normalizer = normalizer
        self.thresholds = THRESHOLDS[normalizer.kind]
        self.continuous = {name: ContinuousScores() for name in names}
        self.categorical = {name: ContingencyTable(self.thresholds) for name in names}

    def update(self, name: str, pred: Tensor, truth: Tensor, mask: Any) -> None:
        """Add ``(N, T, C, H, W)`` [0, 1] forecasts and truths of ``name`` (``mask``: True = scored)."""
        p = np.asarray(self.normalizer.inverse(pred.clamp(0, 1).cpu().numpy()), dtype=np.float64)
        t = np.asarray(self.normalizer.inverse(truth.cpu().numpy()), dtype=np.float64)
        self.continuous[name].update(p, t, mask)
        self.categorical[name].update(p, t, mask)

    def compute(self, step_minutes: float | None, first_lead: int = 1) -> dict[str, Any]:
        """Per forecaster: continuous and categorical scores, with lead times and units."""
        out: dict[str, Any] = {
            "units": self.normalizer.units,
            "thresholds": list(self.thresholds),
            "event": ">= threshold (pysteps' det_cat_fct: > threshold)",
            "scored_pixels": "observed in every frame of the window",
        }
        for name, continuous in self.continuous.items():
            scores = continuous.compute()
            scores.update(self.categorical[name].compute())
            scores.pop("counts", None)
            scores.pop("event", None)
            out[name] = scores
        frames = next(iter(self.continuous.values())).frames
        out["lead_time_minutes"] = lead_times(frames, step_minutes, first_lead)
        return out


def per_frame_columns(physical: dict[str, Any], names: Sequence[str]) -> dict[str, list[Any]]:
    """CSV columns of the physical scores: ``<name>_<score>_<units>`` and CSI... per threshold."""
    units = physical["units"].replace("/", "_per_")
    columns: dict[str, list[Any]] = {"lead_time_min": physical["lead_time_minutes"]}
    for name in names:
        scores = physical[name]
        for score in ("mae", "rmse", "me"):
            columns[f"{name}_{score}_{units}"] = scores[f"{score}_per_frame"]
        for score in ("csi", "hss", "pod", "far"):
            for thr, values in scores[f"{score}_per_frame"].items():
                columns[f"{name}_{score}_{thr:g}"] = values
    return columns
