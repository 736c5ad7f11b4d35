"""Frame metrics with the papers' conventions: per-frame-sum MSE/MAE, uint8 PSNR and SSIM.

Conventions (PredRNN / CMS-LSTM / MIM code, ``reference/official-cms-modernn-sa.md`` 5.2):

* predictions are clipped to [0, 1] first;
* MSE / MAE of a frame: the **sum** over all C*H*W values of the squared /
  absolute error, averaged over sequences;
* PSNR / SSIM on 8-bit frames ``uint8(x * 255)`` (truncation, as the papers'
  code): PSNR = ``20 log10(255) - 10 log10(mean squared error)`` per image
  (``inf`` for identical images, so a mean over images that include one is
  ``inf`` as well); SSIM = scikit-image ``structural_similarity`` with
  ``data_range=255`` (7x7 uniform window, sample covariance), per image; both
  averaged over sequences;
* every metric per frame, and its mean over frames;
* a validity ``mask`` (True = observed, e.g. inside radar coverage) limits
  MSE/MAE sums and PSNR's mean squared error to the observed pixels; targets
  may be NaN where the mask is False. SSIM, a windowed statistic, is computed
  with unobserved pixels set to 0 in both images (they then agree there).

:class:`FrameMetrics` is a ``torchmetrics.Metric`` with summed states (see
:mod:`convrnn.metrics.state`): validation, ``convrnn test`` and
:func:`evaluate` all score through it, exactly under DDP.

Standard JSON has no ``inf`` or ``NaN``: :func:`json_ready` turns them into
``null`` and names the keys it changed (``convrnn test`` writes that list as
``non_finite`` in ``metrics.json``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from skimage.metrics import structural_similarity
from torch import Tensor

from convrnn.errors import InputError
from convrnn.metrics.inputs import (
    as_mask_tensor,
    as_tensor,
    check_float_dtype,
    check_same_shape,
    check_unit_values,
)
from convrnn.metrics.state import SummedMetric

FRAME_METRICS = ("mse", "mae", "psnr", "ssim")
PSNR_PEAK = 20.0 * math.log10(255.0)


def to_uint8(x: Tensor) -> Tensor:
    """``uint8(x * 255)`` by truncation, as the papers' metric code (x float32, already in [0, 1])."""
    return (x * 255.0).to(torch.uint8)


def psnr_uint8(pred_u8: Tensor, true_u8: Tensor, valid: Tensor | None = None) -> Tensor:
    """PSNR per image of uint8 tensors ``(..., C, H, W)``: ``20 log10 255 - 10 log10 mse``.

    With ``valid`` (boolean, same shape) the mean squared error is over the valid pixels only.
    """
    square = (pred_u8.double() - true_u8.double()).square()
    if valid is None:
        mse = square.mean(dim=(-3, -2, -1))
    else:  # pixels outside ``valid`` were zeroed in both images by the caller
        mse = square.sum(dim=(-3, -2, -1)) / valid.sum(dim=(-3, -2, -1))
    return PSNR_PEAK - 10.0 * torch.log10(mse)


def ssim_uint8(pred_u8: np.ndarray, true_u8: np.ndarray) -> float:
    """scikit-image SSIM (data_range 255, 7x7 uniform window) of one ``(C, H, W)`` uint8 image."""
    if pred_u8.shape[0] == 1:
        return float(structural_similarity(true_u8[0], pred_u8[0], data_range=255))
    return float(structural_similarity(true_u8, pred_u8, data_range=255, channel_axis=0))


class FrameMetrics(SummedMetric):
    """Streaming per-frame MSE/MAE/PSNR/SSIM: ``update`` with batches, ``compute`` at the end.

    A ``torchmetrics.Metric``: its states (per-frame sums in float64 and the
    number of sequences) live on the metric's device and are summed across
    processes, so the scores are exact under DDP. ``ssim=False`` /
    ``psnr=False`` leave those metrics out (validation scores MSE/MAE only).
    """

    def __init__(self, ssim: bool = True, psnr: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ssim = ssim
        self.psnr = psnr
        self.names = tuple(k for k in FRAME_METRICS if {"ssim": ssim, "psnr": psnr}.get(k, True))
        for k in self.names:
            self.add_frame_state(f"{k}_sum", (), (), torch.float64)
        self.add_count("num_sequences")

    def update(self, pred: Any, true: Any, mask: Any = None) -> None:
        """Add a batch of ``(N, T, C, H, W)`` predictions and targets in [0, 1].

        ``mask`` (boolean, broadcast to the targets; True = observed) scores observed pixels only.
        """
        check_float_dtype(pred, "pred")
        check_float_dtype(true, "true")
        p = as_tensor(pred, "pred", self.device)
        t = as_tensor(true, "true", self.device)
        check_same_shape(p, t)
        valid = as_mask_tensor(mask, tuple(t.shape), self.device)
        if valid is not None:  # unobserved pixels agree (0 and 0), so they add no error
            p = p.masked_fill(~valid, 0.0)
            t = t.masked_fill(~valid, 0.0)
        check_unit_values(p, "pred", clipped=True)
        check_unit_values(t, "true")
        p = p.clamp(0.0, 1.0)
        n, frames, _, height, width = p.shape
        if self.ssim and min(height, width) < 7:
            raise InputError(
                f"SSIM needs frames of at least 7x7 pixels (scikit-image's 7x7 window), got "
                f"{height}x{width}; score without it (ssim=False)"
            )
        self.size_frames(frames)
        diff = p.double() - t.double()
        self.mse_sum += diff.square().sum(dim=(2, 3, 4)).sum(dim=0)
        self.mae_sum += diff.abs().sum(dim=(2, 3, 4)).sum(dim=0)
        if self.psnr or self.ssim:
            p8, t8 = to_uint8(p), to_uint8(t)
        if self.psnr:
            self.psnr_sum += psnr_uint8(p8, t8, valid).sum(dim=0)
        if self.ssim:  # per image on the CPU (scikit-image)
            p8, t8 = p8.cpu().numpy(), t8.cpu().numpy()
            per_frame = [
                sum(ssim_uint8(p8[i, f], t8[i, f]) for i in range(n)) for f in range(frames)
            ]
            self.ssim_sum += torch.tensor(per_frame, dtype=torch.float64, device=self.device)
        self.num_sequences += n

    def compute(self) -> dict[str, Any]:
        """Means over frames (``mse`` ...) and per-frame lists (``mse_per_frame`` ...)."""
        count = int(self.num_sequences)
        if count == 0:
            raise InputError("no data: call update() before compute()")
        out: dict[str, Any] = {}
        for k in self.names:
            per_frame = (getattr(self, f"{k}_sum") / count).cpu()
            out[k] = float(per_frame.mean())
            out[f"{k}_per_frame"] = [float(v) for v in per_frame]
        out["num_sequences"] = count
        return out


def evaluate(pred: Any, true: Any, ssim: bool = True, mask: Any = None) -> dict[str, Any]:
    """Metrics of ``(N, T, C, H, W)`` predictions against targets (both in [0, 1], arrays or tensors).

    ``mask`` (True = observed pixel) scores observed pixels only; targets may be NaN elsewhere.
    """
    metrics = FrameMetrics(ssim=ssim)
    metrics.update(pred, true, mask)
    return metrics.compute()


def persistence(inputs: Any, horizon: int) -> Any:
    """Copy-last-frame forecast: the last of ``(N, T_in, C, H, W)`` inputs repeated ``horizon`` times."""
    if isinstance(inputs, torch.Tensor):
        return inputs[:, -1:].expand(-1, horizon, -1, -1, -1).clone()
    inputs = np.asarray(inputs)
    return np.repeat(inputs[:, -1:], horizon, axis=1)


def json_ready(obj: Any) -> tuple[Any, dict[str, str]]:
    """``(copy of obj with every non-finite float as None, {dotted key: "inf" / "-inf" / "nan"})``.

    The copy passes ``json.dumps(..., allow_nan=False)`` (given JSON-able leaves);
    list items share their list's key (``metrics.psnr_per_frame``).
    """
    found: dict[str, set[str]] = {}

    def walk(node: Any, path: str) -> Any:
        if isinstance(node, dict):
            return {k: walk(v, f"{path}.{k}" if path else str(k)) for k, v in node.items()}
        if isinstance(node, list | tuple):
            return [walk(v, path) for v in node]
        if isinstance(node, np.generic):
            node = node.item()
        if isinstance(node, float) and not math.isfinite(node):
            kind = "nan" if math.isnan(node) else ("inf" if node > 0 else "-inf")
            found.setdefault(path, set()).add(kind)
            return None
        return node

    out = walk(obj, "")
    return out, {path: "/".join(sorted(kinds)) for path, kinds in found.items()}
