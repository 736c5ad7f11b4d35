"""The files around ``convrnn predict``: NetCDF input, ``forecast.nc`` and the forecast pictures."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from convrnn.data.netcdf import GridInfo, NetCDFSource, time_runs
from convrnn.data.netcdf_forecast import forecast_dataset, write_forecast_netcdf
from convrnn.errors import InputError
from convrnn.runs import read_build

#: normalisations whose pictures are radar pictures (precipitation colours, physical units)
RADAR_KINDS = ("rain", "dbz")


def input_normalizer(normalizer: Any) -> Any:
    """A run's normaliser for raw inputs: None where inputs are already in [0, 1] (``identity``)."""
    return None if normalizer is None or normalizer.kind == "identity" else normalizer


def normalized(array: np.ndarray, normalizer: Any, where: Any) -> np.ndarray:
    """``(N, T, C, H, W)`` raw frames normalised as the training data were; NaN (not observed) kept."""
    if np.isinf(array).any():
        raise InputError(
            f"{where}: contains infinite values; mark pixels nobody observed as NaN, or fill them"
        )
    if np.isnan(array).all():
        raise InputError(
            f"{where}: every value is NaN (nothing observed); nothing to forecast from"
        )
    if normalizer is not None:
        return np.asarray(normalizer.transform(array), dtype=np.float32)
    lo, hi = np.nanmin(array), np.nanmax(array)
    if lo < 0 or hi > 1:
        raise InputError(
            f"{where}: values lie in [{lo:.3g}, {hi:.3g}] but the model expects [0, 1]; "
            "normalise them as the training data were"
        )
    return array


def read_netcdf_input(
    path: str | Path, variable: str | None, normalizer: Any
) -> tuple[np.ndarray, GridInfo, np.datetime64]:
    """One sequence ``(1, T, C, H, W)`` normalised from a NetCDF file, its grid and last time."""
    source = NetCDFSource(path, variable)
    raw = np.asarray(source[:], dtype=np.float32)
    raw = raw[:, None] if raw.ndim == 3 else raw
    if raw.ndim != 4:
        raise InputError(
            f"{source.describe()}: needs (time, y, x) or (time, channel, y, x) frames, got {raw.shape}"
        )
    times = source.times
    if times is None:
        raise InputError(
            f"{source.describe_path()}: no time coordinate; forecast.nc needs the input's times"
        )
    runs = time_runs(times, source.time_step) if len(times) > 1 else [(0, len(times))]
    if len(runs) > 1:
        raise InputError(
            f"{source.describe_path()}: the input frames have a time gap before "
            f"{times[runs[1][0]]}; give consecutive frames (the forecast starts after the last one)"
        )
    grid = replace(source.grid, time_step=source.time_step)
    return normalized(raw[None], normalizer, source.describe_path()), grid, times[-1]


def write_forecast_nc(
    path: Path,
    forecast: np.ndarray,
    grid: GridInfo,
    last: np.datetime64,
    step_minutes: float | None,
    source: str,
) -> Path:
    """``forecast.nc`` of the first sequence of ``(N, horizon, C, H, W)``, valid times from the grid."""
    if grid.time_step is None:
        if step_minutes is None:
            raise InputError(
                "one input frame and a run without a recorded time step: give two or more input "
                "frames so forecast.nc knows the time step"
            )
        grid = replace(grid, time_step=np.timedelta64(round(step_minutes * 60), "s"))
    frames = forecast[0, :, 0] if forecast.shape[2] == 1 else forecast[0]
    return write_forecast_netcdf(path, forecast_dataset(frames, grid, last, source))


def read_raw_inputs(frames: np.ndarray, normalizer: Any, model: Any) -> np.ndarray:
    """The input frames of the target channels back in raw units (NaN where not observed)."""
    channels = model.target_channels
    shown = frames if channels is None else frames[:, :, list(channels)]
    return np.asarray(normalizer.for_channels(channels).inverse(shown), dtype=np.float32)


def model_name(run_dir: str | Path) -> str:
    """The registry name of a run's model (``unknown`` when it cannot be read)."""
    try:
        return str(read_build(run_dir).get("name", "unknown"))
    except Exception:  # a bundle keeps it elsewhere; the name is only a label
        return "model"


def save_forecast_pictures(
    out: Path,
    forecast: np.ndarray,
    raw: np.ndarray | None,
    inputs_raw: np.ndarray | None,
    normalizer: Any,
    step_minutes: float | None,
) -> None:
    """Radar pictures for ``rain``/``dbz`` runs (inputs then forecast), else grey PNG frames and a GIF."""
    import torch

    from convrnn import progress
    from convrnn.viz import radar_gif, radar_strip, save_gif, save_png

    radar = normalizer is not None and normalizer.kind in RADAR_KINDS and forecast.shape[2] == 1
    with progress.bar(len(forecast), "pictures", unit="seq") as bar:
        for n in range(len(forecast)):
            if radar:
                kw = {
                    "kind": normalizer.kind,
                    "units": normalizer.units,
                    "step_minutes": step_minutes,
                }
                radar_strip(inputs_raw[n, :, 0], raw[n, :, 0], out / f"seq{n:03d}.png", **kw)
                radar_gif(inputs_raw[n, :, 0], raw[n, :, 0], out / f"seq{n:03d}.gif", **kw)
            else:
                sequence = torch.from_numpy(np.nan_to_num(forecast[n], nan=0.0))
                for t, frame in enumerate(sequence):
                    save_png(frame, out / f"seq{n:03d}" / f"frame_{t + 1:03d}.png")
                save_gif(list(sequence), out / f"seq{n:03d}.gif")
            bar.update()
