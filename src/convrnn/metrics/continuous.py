"""Continuous scores in the data's own units (mm/h, dBZ, ...): MAE, RMSE and mean error per lead time.

The definitions are pysteps' ``verification.det_cont_fct`` on the vector of
valid pixels: ``ME = mean(f - o)``, ``MAE = mean |f - o|``, ``RMSE = sqrt(mean (f - o)^2)``,
each pooled over every sequence's valid pixels of one lead time (frame). The
score over all lead times is the mean of the per-frame scores, as for the
other metrics. Pixels where ``mask`` is False (not observed) are left out, and
may be NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from convrnn.metrics.inputs import as_array, as_mask, check_finite, check_same_shape
from convrnn.metrics.state import SummedMetric

CONTINUOUS_SCORES = ("mae", "rmse", "me")


class ContinuousScores(SummedMetric):
    """Streaming MAE/RMSE/ME per lead time of ``(N, T, C, H, W)`` forecasts in physical units.

    A ``torchmetrics.Metric``: per-frame error sums and valid-pixel counts are
    summed across processes.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_frame_state("sums", (3,), (), torch.float64)  # sum |e|, sum e^2, sum e
        self.add_frame_state("pixels", (), (), torch.int64)

    def update(self, pred: Any, true: Any, mask: Any = None) -> None:
        """Add a batch of forecasts and observations in the same units (True in ``mask`` = valid)."""
        p = as_array(pred, "pred").astype(np.float64)
        t = as_array(true, "true").astype(np.float64)
        check_same_shape(p, t)
        m = as_mask(mask, t.shape)
        valid = np.ones(t.shape, dtype=bool) if m is None else m
        check_finite(p, "pred", valid)
        check_finite(t, "true", valid)
        err = np.where(valid, p - t, 0.0)
        axes = (0, 2, 3, 4)
        sums = np.stack([np.abs(err).sum(axis=axes), (err**2).sum(axis=axes), err.sum(axis=axes)])
        self.size_frames(p.shape[1])
        self.sums += torch.from_numpy(sums).to(self.sums.device)
        self.pixels += torch.from_numpy(valid.sum(axis=axes)).to(self.pixels.device)

    def compute(self) -> dict[str, Any]:
        """``mae``/``rmse``/``me`` (mean over lead times) and their ``*_per_frame`` lists."""
        self.check_updated()
        sums = self.sums.cpu().numpy()
        count = self.pixels.cpu().numpy().astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):  # a lead time without valid pixels
            per_frame = {
                "mae": sums[0] / count,
                "rmse": np.sqrt(sums[1] / count),
                "me": sums[2] / count,
            }
        out: dict[str, Any] = {}
        for name in CONTINUOUS_SCORES:
            out[name] = float(per_frame[name].mean())
            out[f"{name}_per_frame"] = [float(v) for v in per_frame[name]]
        out["valid_pixels_per_frame"] = [int(v) for v in count]
        return out
