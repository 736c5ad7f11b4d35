"""Coverage: a NaN pixel was not observed (outside radar range); fill it for the model, mask it out.

Frames keep NaN through normalisation (:mod:`convrnn.data.normalize`), so a
window carries its own coverage. The model sees the normalisation's zero in
their place (:func:`fill_unobserved`); the loss and every score use observed
pixels only (:func:`observed`, :func:`window_coverage`); forecasts are NaN
where no input frame saw the pixel (:func:`never_observed`). Every function
takes numpy arrays or torch tensors ``(..., T, C, H, W)`` and returns the same kind.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def observed(frames: Any) -> Any:
    """True where a pixel holds a value (not NaN)."""
    return ~torch.isnan(frames) if isinstance(frames, torch.Tensor) else ~np.isnan(frames)


def has_gaps(frames: Any) -> bool:
    """Whether any pixel is unobserved (NaN)."""
    if isinstance(frames, torch.Tensor):
        return bool(torch.isnan(frames).any())
    return bool(np.isnan(frames).any())


def fill_unobserved(frames: Any, value: float = 0.0) -> Any:
    """``frames`` with every NaN replaced by ``value`` (the normalised space's zero by default)."""
    if isinstance(frames, torch.Tensor):
        return torch.where(torch.isnan(frames), torch.full_like(frames, value), frames)
    return np.where(np.isnan(frames), np.float32(value), frames).astype(frames.dtype, copy=False)


def split_coverage(frames: Any) -> tuple[Any, Any]:
    """``(frames with NaN filled, observed mask)``; the mask is None when every pixel was observed."""
    if not has_gaps(frames):
        return frames, None
    return fill_unobserved(frames), observed(frames)


def window_coverage(seen: Any, time_dim: int = 1) -> Any:
    """Pixels observed (``seen``, boolean) in every frame of a window, with a time axis of length 1.

    pysteps users score a nowcast on the pixels the radar saw throughout; so do
    ``convrnn test`` and validation.
    """
    if isinstance(seen, torch.Tensor):
        return seen.all(dim=time_dim, keepdim=True)
    return np.asarray(seen).all(axis=time_dim, keepdims=True)


def never_observed(inputs: Any, time_dim: int = 1) -> Any:
    """Pixels that no input frame observed (NaN in all of them); a forecast is NaN there."""
    if isinstance(inputs, torch.Tensor):
        return torch.isnan(inputs).all(dim=time_dim, keepdim=True)
    return np.isnan(inputs).all(axis=time_dim, keepdims=True)


def blank_unobserved(forecast: Any, inputs: Any, time_dim: int = 1) -> Any:
    """``forecast`` with NaN wherever the ``inputs`` never observed the pixel."""
    never = never_observed(inputs, time_dim)
    if isinstance(forecast, torch.Tensor):
        return forecast.masked_fill(never.expand_as(forecast), float("nan"))
    return np.where(np.broadcast_to(never, forecast.shape), np.nan, forecast).astype(
        forecast.dtype, copy=False
    )
