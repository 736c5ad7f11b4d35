"""Frame losses: L2, L1 or L1+L2, summed over each frame's pixels (the papers' code) or averaged."""

from __future__ import annotations

import torch
from torch import Tensor

from convrnn.config import LOSS_REDUCTIONS as REDUCTIONS
from convrnn.config import LOSSES
from convrnn.errors import ChoiceError, InputError


def frame_loss(
    pred: Tensor,
    target: Tensor,
    kind: str = "l1+l2",
    reduction: str = "frame-sum",
    observed: Tensor | None = None,
) -> Tensor:
    """Loss between ``(B, T, C, H, W)`` predictions and targets.

    ``frame-sum``: per frame the sum over C*H*W of the error, then the mean over
    (B, T) (MS-RNN ``loss.py``; the CMS-LSTM trainer's sum differs only by a
    constant factor). ``mean``: the mean over every element (``nn.MSELoss()``).
    ``observed`` (boolean, broadcast to the targets) limits the loss to the
    pixels that were observed: the sums skip the others, the mean is over the
    observed ones; the targets may hold NaN where it is False.
    """
    if kind not in LOSSES:
        raise ChoiceError(f"loss={kind!r} is not one of {LOSSES}")
    if reduction not in REDUCTIONS:
        raise ChoiceError(f"loss_reduction={reduction!r} is not one of {REDUCTIONS}")
    if pred.shape != target.shape:
        raise InputError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    if observed is not None:
        # fill before subtracting: a NaN target would give NaN gradients even where masked
        target = torch.where(observed, target, pred.detach())
    diff = pred - target
    err = 0
    if kind in ("l2", "l1+l2"):
        err = err + diff.square()
    if kind in ("l1", "l1+l2"):
        err = err + diff.abs()
    if reduction == "mean":
        if observed is not None:
            return err.sum() / observed.expand_as(err).sum().clamp_min(1)
        return err.mean()
    return err.flatten(2).sum(-1).mean()
