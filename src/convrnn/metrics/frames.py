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
* every metric per frame, and its mean over frames.

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

FRAME_METRICS = ("mse", "mae", "psnr", "ssim")


def _as_numpy(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float32).numpy()
    x = np.asarray(x)
    if x.ndim != 5:
        raise ValueError(f"{name} must have shape (N, T, C, H, W), got {x.shape}")
    return x.astype(np.float32, copy=False)


def to_uint8(x: np.ndarray) -> np.ndarray:
    """``uint8(x * 255)`` by truncation, as the papers' metric code (x already in [0, 1])."""
    return (x * 255.0).astype(np.uint8)


def psnr_uint8(pred_u8: np.ndarray, true_u8: np.ndarray) -> np.ndarray:
    """PSNR per image of uint8 arrays ``(..., C, H, W)``: ``20 log10 255 - 10 log10 mse``."""
    diff = pred_u8.astype(np.float64) - true_u8.astype(np.float64)
    mse = (diff**2).mean(axis=(-3, -2, -1))
    with np.errstate(divide="ignore"):
        return 20.0 * np.log10(255.0) - 10.0 * np.log10(mse)


def ssim_uint8(pred_u8: np.ndarray, true_u8: np.ndarray) -> float:
    """scikit-image SSIM (data_range 255, 7x7 uniform window) of one ``(C, H, W)`` uint8 image."""
    if pred_u8.shape[0] == 1:
        return float(structural_similarity(true_u8[0], pred_u8[0], data_range=255))
    return float(structural_similarity(true_u8, pred_u8, data_range=255, channel_axis=0))


class FrameMetrics:
    """Streaming per-frame MSE/MAE/PSNR/SSIM: ``update`` with batches, ``compute`` at the end."""

    def __init__(self, ssim: bool = True) -> None:
        self.ssim = ssim
        self.count = 0
        self.sums: dict[str, np.ndarray] | None = None

    def update(self, pred: Any, true: Any) -> None:
        """Add a batch of ``(N, T, C, H, W)`` predictions and targets in [0, 1]."""
        p = np.clip(_as_numpy(pred, "pred"), 0.0, 1.0)
        t = _as_numpy(true, "true")
        if p.shape != t.shape:
            raise ValueError(f"pred and true shapes differ: {p.shape} vs {t.shape}")
        n, frames = p.shape[:2]
        if self.sums is None:
            self.sums = {k: np.zeros(frames, dtype=np.float64) for k in FRAME_METRICS}
        elif self.sums["mse"].shape[0] != frames:
            raise ValueError(
                f"batch has {frames} frames, earlier batches had {self.sums['mse'].shape[0]}"
            )
        diff = p.astype(np.float64) - t.astype(np.float64)
        self.sums["mse"] += (diff**2).sum(axis=(2, 3, 4)).sum(axis=0)
        self.sums["mae"] += np.abs(diff).sum(axis=(2, 3, 4)).sum(axis=0)
        p8, t8 = to_uint8(p), to_uint8(t)
        self.sums["psnr"] += psnr_uint8(p8, t8).sum(axis=0)
        if self.ssim:
            for i in range(n):
                for f in range(frames):
                    self.sums["ssim"][f] += ssim_uint8(p8[i, f], t8[i, f])
        self.count += n

    def compute(self) -> dict[str, Any]:
        """Means over frames (``mse`` ...) and per-frame lists (``mse_per_frame`` ...)."""
        if self.sums is None or self.count == 0:
            raise ValueError("no data: call update() before compute()")
        out: dict[str, Any] = {}
        for k in FRAME_METRICS:
            if k == "ssim" and not self.ssim:
                continue
            per_frame = self.sums[k] / self.count
            out[k] = float(per_frame.mean())
            out[f"{k}_per_frame"] = [float(v) for v in per_frame]
        out["num_sequences"] = self.count
        return out


def evaluate(pred: Any, true: Any, ssim: bool = True) -> dict[str, Any]:
    """Metrics of ``(N, T, C, H, W)`` predictions against targets (both in [0, 1], arrays or tensors)."""
    metrics = FrameMetrics(ssim=ssim)
    metrics.update(pred, true)
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
