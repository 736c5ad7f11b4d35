"""Frame losses: L2, L1 or L1+L2, summed over each frame's pixels (the papers' code) or averaged."""

from __future__ import annotations

from torch import Tensor

from convrnn.config import LOSS_REDUCTIONS as REDUCTIONS
from convrnn.config import LOSSES
from convrnn.errors import ChoiceError, InputError


def frame_loss(
    pred: Tensor, target: Tensor, kind: str = "l1+l2", reduction: str = "frame-sum"
) -> Tensor:
    """Loss between ``(B, T, C, H, W)`` predictions and targets.

    ``frame-sum``: per frame the sum over C*H*W of the error, then the mean over
    (B, T) (MS-RNN ``loss.py``; the CMS-LSTM trainer's sum differs only by a
    constant factor). ``mean``: the mean over every element (``nn.MSELoss()``).
    """
    if kind not in LOSSES:
        raise ChoiceError(f"loss={kind!r} is not one of {LOSSES}")
    if reduction not in REDUCTIONS:
        raise ChoiceError(f"loss_reduction={reduction!r} is not one of {REDUCTIONS}")
    if pred.shape != target.shape:
        raise InputError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    diff = pred - target
    err = 0
    if kind in ("l2", "l1+l2"):
        err = err + diff.square()
    if kind in ("l1", "l1+l2"):
        err = err + diff.abs()
    if reduction == "mean":
        return err.mean()
    return err.flatten(2).sum(-1).mean()
