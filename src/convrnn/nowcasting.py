"""``convrnn.nowcast(run, precip, timesteps)``: the pysteps-style entry point to a trained model.

pysteps' importers return ``(T, H, W)`` rain rates (mm/h) with NaN outside the
radar's coverage, and its nowcasts take such an array and a number of time
steps; so does :func:`nowcast`, with a trained convrnn run in place of an
extrapolation method::

    fc = convrnn.nowcast("runs/radar", precip[-4:], 12)     # (12, H, W) mm/h
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from convrnn.data import Normalizer
from convrnn.errors import InputError
from convrnn.models.forecaster import Forecaster
from convrnn.predict import check_input, forecast_frames
from convrnn.predict_io import input_normalizer, normalized
from convrnn.runs import load_forecaster, model_source, read_normalizer


def nowcast(
    run: str | Path | Forecaster,
    precip: Any,
    timesteps: int,
    checkpoint: str = "best",
    normalizer: Normalizer | dict | None = None,
) -> np.ndarray:
    """Forecast ``timesteps`` frames after ``precip`` ``(T, H, W)`` (or ``(T, C, H, W)``), in its units.

    ``run`` is a run directory, a bundle, ``hf://owner/name`` or a loaded
    :class:`Forecaster`; a run brings its normalisation (``normalization.json``),
    a Forecaster takes ``normalizer=`` (else ``precip`` must already be in [0, 1]).
    NaN in ``precip`` is "not observed"; the result is float32, NaN where no
    input frame observed the pixel and exactly 0 where the forecast is dry.
    """
    if isinstance(timesteps, bool) or not isinstance(timesteps, (int, np.integer)) or timesteps < 1:
        raise InputError(f"timesteps must be a positive integer, got {timesteps!r}")
    if isinstance(run, Forecaster):
        model = run.eval()
        if isinstance(normalizer, dict):
            normalizer = Normalizer.from_dict(normalizer)
    else:
        source = model_source(run)
        model = load_forecaster(source, checkpoint)
        normalizer = normalizer or read_normalizer(source)
    array = np.asarray(precip, dtype=np.float32)
    if array.ndim not in (3, 4) or 0 in array.shape:
        raise InputError(
            f"precip of shape {array.shape}: give (T, H, W) frames (or (T, C, H, W)), as pysteps' "
            "importers return them"
        )
    frames = array[None, :, None] if array.ndim == 3 else array[None]
    normalizer = input_normalizer(normalizer)
    frames = normalized(frames, normalizer, "precip")
    check_input(model, frames)
    forecast = forecast_frames(model, torch.from_numpy(frames), int(timesteps)).numpy()
    if normalizer is not None:
        forecast = normalizer.for_channels(model.target_channels).inverse(forecast)
    out = np.asarray(forecast[0], dtype=np.float32)
    return out[:, 0] if array.ndim == 3 and out.shape[1] == 1 else out
