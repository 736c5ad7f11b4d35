"""Frame losses: L2, L1, L1+L2, the HKO-7 balanced B-MSE/B-MAE and weighted W-MSE/W-MAE, summed per frame or averaged."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from convrnn.config import BALANCED_LOSSES, LOSSES, WEIGHTED_LOSSES
from convrnn.config import LOSS_REDUCTIONS as REDUCTIONS
from convrnn.errors import ChoiceError, ConfigError, InputError
from convrnn.metrics.nowcast import HKO7_BALANCING_WEIGHTS


def balanced_weights(
    target: Tensor,
    pixel_thresholds: Sequence[float],
    weights: Sequence[float] = HKO7_BALANCING_WEIGHTS,
) -> Tensor:
    """HKO-7 weights of normalised targets: ``weights[0]`` below the first threshold, ``weights[i+1]`` from the i-th."""
    if len(weights) != len(pixel_thresholds) + 1:
        raise InputError(
            f"need one more weight than thresholds, got {len(weights)} and {len(pixel_thresholds)}"
        )
    w = torch.full_like(target, float(weights[0]))
    for i, thr in enumerate(pixel_thresholds):
        w = w + (float(weights[i + 1]) - float(weights[i])) * (target >= thr).to(target.dtype)
    return w


def frame_loss(
    pred: Tensor,
    target: Tensor,
    kind: str = "l1+l2",
    reduction: str = "frame-sum",
    observed: Tensor | None = None,
    pixel_thresholds: Sequence[float] | None = None,
    weight_max: float = 10.0,
) -> Tensor:
    """Loss between ``(B, T, C, H, W)`` predictions and targets.

    ``frame-sum``: per frame the sum over C*H*W of the error, then the mean over
    (B, T) (MS-RNN ``loss.py``; the CMS-LSTM trainer's sum differs only by a
    constant factor). ``mean``: the mean over every element (``nn.MSELoss()``).
    ``observed`` (boolean, broadcast to the targets) limits the loss to the
    pixels that were observed: the sums skip the others, the mean is over the
    observed ones; the targets may hold NaN where it is False.
    ``b-mse``/``b-mae``/``b-mse+b-mae`` (HKO-7) weight each pixel's error by the
    truth's rain rate (1, 1, 2, 5, 10, 30 from 0.5, 2, 5, 10, 30 mm/h), given as
    ``pixel_thresholds``: those rates in the normalised pixel space of the data.
    ``w-mse``/``w-mae``/``w-mse+w-mae`` weight each pixel's error by ``1 + (weight_max - 1)
    * truth`` (the truth's normalised value clamped to [0, 1]): dry or dark pixels 1, the
    strongest ``weight_max``; for any data, radar or not.
    """
    if kind not in LOSSES:
        raise ChoiceError(f"loss={kind!r} is not one of {LOSSES}")
    if reduction not in REDUCTIONS:
        raise ChoiceError(f"loss_reduction={reduction!r} is not one of {REDUCTIONS}")
    if pred.shape != target.shape:
        raise InputError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    if kind in BALANCED_LOSSES and pixel_thresholds is None:
        raise ConfigError(
            f"loss={kind!r} needs the rain thresholds in pixels (pixel_thresholds); "
            "it is for radar data (data.options.normalize=rain or dbz)"
        )
    if observed is not None:
        # fill before subtracting: a NaN target would give NaN gradients even where masked
        target = torch.where(observed, target, pred.detach())
    diff = pred - target
    err = 0
    if kind in ("l2", "l1+l2", "b-mse", "b-mse+b-mae", "w-mse", "w-mse+w-mae"):
        err = err + diff.square()
    if kind in ("l1", "l1+l2", "b-mae", "b-mse+b-mae", "w-mae", "w-mse+w-mae"):
        err = err + diff.abs()
    if kind in BALANCED_LOSSES:
        err = err * balanced_weights(target.detach(), pixel_thresholds)
    if kind in WEIGHTED_LOSSES:
        err = err * (1 + (weight_max - 1) * target.detach().clamp(0, 1))
    if reduction == "mean":
        if observed is not None:
            return err.sum() / observed.expand_as(err).sum().clamp_min(1)
        return err.mean()
    return err.flatten(2).sum(-1).mean()
