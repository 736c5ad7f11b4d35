"""Nowcasting verification: contingency tables, CSI/HSS/POD/FAR, B-MSE/B-MAE (HKO-7 conventions).

Conventions (HKO-7 ``nowcasting/hko_evaluation.py``; MS-RNN ``util/evaluation.py``
computes the same, see ``reference/official-ms-rnn.md`` section 4):

* an **event** is ``value >= threshold``, for the prediction and for the truth
  alike. pysteps' ``det_cat_fct`` uses a strict ``value > threshold`` instead,
  so its scores differ wherever values sit exactly on a threshold;
* hits (event predicted and observed), misses (observed, not predicted), false
  alarms (predicted, not observed) and correct negatives are **summed over the
  whole test set**, separately for each threshold and each lead time (frame);
* per frame: ``POD = a/(a+c)``, ``FAR = b/(a+b)``, ``CSI = a/(a+b+c)``,
  ``HSS = 2(ad - bc) / ((a+c)(c+d) + (a+b)(b+d))`` with a hits, b false alarms,
  c misses, d correct negatives; the reported score is the **mean over frames**;
* **NaN -> 0**: a score whose denominator is 0 (e.g. CSI at a threshold that is
  never reached in a frame) is reported as 0, as the MS-RNN code does with
  ``np.nan_to_num``; the raw counts are returned too so other policies can be
  applied;
* an optional mask (True = valid pixel, e.g. the HKO-7 noise masks) restricts
  every count and error to the valid pixels;
* B-MSE / B-MAE: the weight of a pixel comes from the **ground truth** rain
  rate, ``w = 1, 1, 2, 5, 10, 30`` below 0.5, in [0.5, 2), [2, 5), [5, 10),
  [10, 30) and from 30 mm/h; ``sum_{C,H,W} w (pred - true)^2`` (resp. ``|.|``)
  on normalised pixels per frame, averaged over sequences; mean over frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from convrnn.errors import InputError
from convrnn.metrics.inputs import as_array, as_mask, check_finite, check_same_shape
from convrnn.metrics.state import SummedMetric
from convrnn.units import HKO7_ZR, ZRLaw, rain_to_pixel, zr_law

EVENT_TEST = ">="
HKO7_THRESHOLDS = (0.5, 2.0, 5.0, 10.0, 30.0)
HKO7_BALANCING_WEIGHTS = (1.0, 1.0, 2.0, 5.0, 10.0, 30.0)
CATEGORICAL_SCORES = ("csi", "hss", "pod", "far")
COUNT_NAMES = ("hits", "misses", "false_alarms", "correct_negatives")


def contingency_counts(
    pred: Any, true: Any, thresholds: Sequence[float], mask: Any = None
) -> np.ndarray:
    """Counts ``(len(thresholds), T, 4)`` of (hits, misses, false alarms, correct negatives).

    ``pred`` and ``true`` are ``(N, T, C, H, W)`` in the units of ``thresholds``;
    an event is ``value >= threshold``; counts are summed over N, C, H, W, of the
    pixels where ``mask`` (True = valid) is True; both may be NaN where it is False.
    """
    p = as_array(pred, "pred")
    t = as_array(true, "true")
    check_same_shape(p, t)
    m = as_mask(mask, p.shape)
    valid = m if m is not None else np.True_
    check_finite(p, "pred", valid)  # NaN is allowed where the mask is False
    check_finite(t, "true", valid)
    axes = (0, 2, 3, 4)
    out = np.zeros((len(thresholds), p.shape[1], 4), dtype=np.int64)
    for k, thr in enumerate(thresholds):
        pe = p >= thr
        te = t >= thr
        out[k, :, 0] = np.count_nonzero(pe & te & valid, axis=axes)
        out[k, :, 1] = np.count_nonzero(~pe & te & valid, axis=axes)
        out[k, :, 2] = np.count_nonzero(pe & ~te & valid, axis=axes)
        out[k, :, 3] = np.count_nonzero(~pe & ~te & valid, axis=axes)
    return out


def categorical_scores(counts: np.ndarray) -> dict[str, np.ndarray]:
    """CSI, HSS, POD, FAR from counts ``(..., 4)``; undefined scores (0/0) become 0."""
    c = np.asarray(counts, dtype=np.float64)
    a, miss, b, d = c[..., 0], c[..., 1], c[..., 2], c[..., 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = {
            "csi": a / (a + b + miss),
            "pod": a / (a + miss),
            "far": b / (a + b),
            "hss": 2.0 * (a * d - b * miss) / ((a + miss) * (miss + d) + (a + b) * (b + d)),
        }
    return {k: np.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0) for k, v in scores.items()}


def _scores_dict(counts: np.ndarray, thresholds: Sequence[float]) -> dict[str, Any]:
    scores = categorical_scores(counts)
    out: dict[str, Any] = {}
    for name in CATEGORICAL_SCORES:
        per_frame = scores[name]
        out[name] = {float(t): float(per_frame[k].mean()) for k, t in enumerate(thresholds)}
        out[f"{name}_per_frame"] = {
            float(t): [float(v) for v in per_frame[k]] for k, t in enumerate(thresholds)
        }
    out["counts"] = {
        float(t): {n: [int(v) for v in counts[k, :, j]] for j, n in enumerate(COUNT_NAMES)}
        for k, t in enumerate(thresholds)
    }
    out["event"] = EVENT_TEST
    return out


def _counts_state(metric: SummedMetric, thresholds: int) -> None:
    metric.add_frame_state("counts", (thresholds,), (len(COUNT_NAMES),), torch.int64)


class ContingencyTable(SummedMetric):
    """Streaming contingency counts per threshold and lead time over a whole test set.

    A ``torchmetrics.Metric``: ``counts`` ``(thresholds, T, 4)`` is summed across processes.
    """

    def __init__(self, thresholds: Sequence[float], **kwargs: Any) -> None:
        if len(thresholds) == 0:
            raise InputError("need at least one threshold")
        super().__init__(**kwargs)
        self.thresholds = tuple(float(t) for t in thresholds)
        _counts_state(self, len(self.thresholds))

    def update(self, pred: Any, true: Any, mask: Any = None) -> None:
        """Add a batch of ``(N, T, C, H, W)`` predictions and truths (units of the thresholds)."""
        c = contingency_counts(pred, true, self.thresholds, mask)
        self.size_frames(c.shape[1])
        self.counts += torch.from_numpy(c).to(self.counts.device)

    def compute(self) -> dict[str, Any]:
        """``csi``/``hss``/``pod``/``far`` (threshold -> mean over frames), ``*_per_frame``, ``counts``."""
        self.check_updated()
        return _scores_dict(self.counts.cpu().numpy(), self.thresholds)


def nowcast_scores(
    pred: Any, true: Any, thresholds: Sequence[float], mask: Any = None
) -> dict[str, Any]:
    """CSI, HSS, POD, FAR of ``(N, T, C, H, W)`` forecasts, thresholds in the units of the data.

    Returns ``{"csi": {thr: mean over frames}, "csi_per_frame": {thr: [...]}, ...}``
    for csi, hss, pod and far, plus ``counts`` and ``event`` (">="). Convert
    pixels to rain rates first (``convrnn.units``) to use mm/h thresholds.
    """
    table = ContingencyTable(thresholds)
    table.update(pred, true, mask)
    return table.compute()


def balancing_weights(
    true: np.ndarray,
    thresholds: Sequence[float] = HKO7_THRESHOLDS,
    weights: Sequence[float] = HKO7_BALANCING_WEIGHTS,
) -> np.ndarray:
    """HKO-7 weights of the truth: ``weights[0]`` below ``thresholds[0]``, ``weights[i+1]`` from ``thresholds[i]``."""
    if len(weights) != len(thresholds) + 1:
        raise InputError(f"need len(weights) == len(thresholds) + 1, got {len(weights)}")
    w = np.full(true.shape, float(weights[0]), dtype=np.float64)
    for i, thr in enumerate(thresholds):
        w += (float(weights[i + 1]) - float(weights[i])) * (true >= thr)
    return w


class NowcastMetrics(SummedMetric):
    """Streaming radar verification of normalised pixel forecasts, thresholds in mm/h.

    ``pred``/``true`` are ``(N, T, C, H, W)`` in [0, 1] with the HKO-7 pixel
    mapping (``dBZ = 70 x - 10``); the mm/h thresholds are turned into pixel
    thresholds with the Z-R ``law`` (as the MS-RNN code does); predictions are
    clipped to [0, 1] first. Gives CSI/HSS/POD/FAR per threshold and B-MSE/B-MAE.
    A ``torchmetrics.Metric``: contingency counts, balanced-error sums and the
    number of sequences are summed across processes.
    """

    def __init__(
        self,
        thresholds: Sequence[float] = HKO7_THRESHOLDS,
        law: str | ZRLaw = HKO7_ZR,
        weights: Sequence[float] = HKO7_BALANCING_WEIGHTS,
        weight_thresholds: Sequence[float] = HKO7_THRESHOLDS,
        **kwargs: Any,
    ) -> None:
        if len(thresholds) == 0:
            raise InputError("need at least one threshold")
        super().__init__(**kwargs)
        self.law = zr_law(law)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.pixel_thresholds = tuple(float(rain_to_pixel(t, self.law)) for t in self.thresholds)
        self.weights = tuple(float(w) for w in weights)
        self.weight_pixel_thresholds = tuple(
            float(rain_to_pixel(t, self.law)) for t in weight_thresholds
        )
        if len(self.weights) != len(self.weight_pixel_thresholds) + 1:
            raise InputError("need len(weights) == len(weight_thresholds) + 1")
        _counts_state(self, len(self.thresholds))
        self.add_frame_state("b_sums", (2,), (), torch.float64)  # B-MSE, B-MAE
        self.add_count("num_sequences")

    def update(self, pred: Any, true: Any, mask: Any = None) -> None:
        """Add a batch of ``(N, T, C, H, W)`` pixel forecasts and truths in [0, 1]."""
        p = np.clip(as_array(pred, "pred").astype(np.float64), 0.0, 1.0)
        t = as_array(true, "true").astype(np.float64)
        c = contingency_counts(p, t, self.pixel_thresholds, mask)
        w = balancing_weights(t, self.weight_pixel_thresholds, self.weights)
        m = as_mask(mask, t.shape)
        diff = p - t
        if m is not None:
            w = w * m
            diff = np.where(m, diff, 0.0)  # NaN truth outside the mask adds nothing
        sums = np.stack(
            [(w * diff**2).sum(axis=(0, 2, 3, 4)), (w * np.abs(diff)).sum(axis=(0, 2, 3, 4))]
        )
        self.size_frames(p.shape[1])
        self.counts += torch.from_numpy(c).to(self.counts.device)
        self.b_sums += torch.from_numpy(sums).to(self.b_sums.device)
        self.num_sequences += p.shape[0]

    def compute(self) -> dict[str, Any]:
        """Categorical scores keyed by mm/h threshold, ``b_mse``/``b_mae`` and their per-frame lists."""
        self.check_updated()
        out = _scores_dict(self.counts.cpu().numpy(), self.thresholds)
        count = int(self.num_sequences)
        b_sums = self.b_sums.cpu().numpy()
        for j, name in enumerate(("b_mse", "b_mae")):
            per_frame = b_sums[j] / count
            out[name] = float(per_frame.mean())
            out[f"{name}_per_frame"] = [float(v) for v in per_frame]
        out["thresholds_mm_h"] = list(self.thresholds)
        out["thresholds_pixel"] = list(self.pixel_thresholds)
        out["zr_law"] = self.law.to_dict()
        out["num_sequences"] = count
        return out
