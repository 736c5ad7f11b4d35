"""Checked metric inputs: ``(N, T, C, H, W)`` arrays or tensors, validity masks, finite values."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from convrnn.errors import InputError

FRAMES_SHAPE = "(N, T, C, H, W)"


def _ndim(x: Any) -> int:
    return x.ndim if isinstance(x, Tensor | np.ndarray) else np.ndim(x)


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(x.shape) if isinstance(x, Tensor | np.ndarray) else np.shape(x)


def check_frames(x: Any, name: str) -> None:
    """Raise :class:`InputError` unless ``x`` has the 5 axes ``(N, T, C, H, W)``."""
    if _ndim(x) != 5:
        raise InputError(f"{name} must have shape {FRAMES_SHAPE}, got {_shape(x)}")


def check_same_shape(pred: Any, true: Any) -> None:
    """Raise :class:`InputError` unless ``pred`` and ``true`` have the same shape."""
    if _shape(pred) != _shape(true):
        raise InputError(f"pred and true shapes differ: {_shape(pred)} vs {_shape(true)}")


def as_array(x: Any, name: str) -> np.ndarray:
    """``(N, T, C, H, W)`` numpy array of ``x`` (an array, a tensor or nested lists), dtype kept."""
    check_frames(x, name)
    if isinstance(x, Tensor):
        x = x.detach().to("cpu").numpy()
    return np.asarray(x)


def as_tensor(x: Any, name: str, device: torch.device) -> Tensor:
    """``(N, T, C, H, W)`` float32 tensor of ``x`` on ``device`` (no copy where it already is)."""
    check_frames(x, name)
    if not isinstance(x, Tensor):
        x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    return x.detach().to(device, torch.float32)


def as_mask(mask: Any, shape: tuple[int, ...]) -> np.ndarray | None:
    """A boolean validity mask (True = valid pixel) broadcast to ``shape``, or None."""
    if mask is None:
        return None
    if isinstance(mask, Tensor):
        mask = mask.detach().to("cpu").numpy()
    m = np.asarray(mask)
    if m.dtype != bool:
        if not np.isin(m, (0, 1)).all():
            raise InputError("mask must be boolean or 0/1 (True = valid pixel)")
        m = m.astype(bool)
    try:
        return np.broadcast_to(m, shape)
    except ValueError as e:
        raise InputError(f"mask of shape {m.shape} does not broadcast to {shape}") from e


def as_mask_tensor(mask: Any, shape: tuple[int, ...], device: torch.device) -> Tensor | None:
    """A boolean validity mask as a tensor on ``device``, broadcast to ``shape``, or None."""
    if mask is None:
        return None
    if isinstance(mask, Tensor) and mask.dtype == torch.bool:
        try:
            return mask.to(device).expand(shape)
        except RuntimeError as e:
            raise InputError(
                f"mask of shape {tuple(mask.shape)} does not broadcast to {shape}"
            ) from e
    return torch.from_numpy(np.ascontiguousarray(as_mask(mask, shape))).to(device)


def check_finite(x: np.ndarray, name: str, valid: Any = None) -> None:
    """Raise :class:`InputError` if a float array holds NaN or inf, saying how many.

    ``valid`` (a boolean mask broadcast to ``x``): only those pixels are checked.
    """
    if np.issubdtype(x.dtype, np.floating):
        bad_values = ~np.isfinite(x)
        bad = int(np.count_nonzero(bad_values if valid is None else bad_values & valid))
        if bad:
            raise InputError(
                f"{name} has {bad} NaN/inf values; replace them (e.g. np.nan_to_num) or mask them out"
            )


#: how far outside [0, 1] targets may lie (float rounding of a normalisation)
UNIT_TOLERANCE = 1e-3


def check_float_dtype(x: Any, name: str) -> None:
    """Raise :class:`InputError` unless ``x`` holds floats (8-bit frames are a units mistake)."""
    dtype = x.dtype if isinstance(x, Tensor | np.ndarray) else np.asarray(x).dtype
    floating = x.is_floating_point() if isinstance(x, Tensor) else np.issubdtype(dtype, np.floating)
    if not floating:
        raise InputError(
            f"{name} has dtype {dtype}; the metrics take floats in [0, 1] (8-bit frames: divide by 255)"
        )


def check_unit_values(t: Tensor, name: str, clipped: bool = False) -> None:
    """Raise :class:`InputError` unless ``t`` is finite and in [0, 1] (any finite range if ``clipped``).

    Predictions are clipped to [0, 1] by the papers' convention, so only their finiteness is
    checked; targets outside [0, 1] are a units mistake.
    """
    if t.numel() == 0:
        return
    finite = torch.isfinite(t)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        raise InputError(f"{name} has {bad} NaN/inf values; replace them or mask them out")
    lo, hi = (float(v) for v in torch.aminmax(t))
    if not clipped and (lo < -UNIT_TOLERANCE or hi > 1 + UNIT_TOLERANCE):
        raise InputError(
            f"{name} lies in [{lo:.4g}, {hi:.4g}] but the metrics take values in [0, 1]; "
            "normalise it as the predictions were"
        )
