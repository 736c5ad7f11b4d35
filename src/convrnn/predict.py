"""``convrnn predict``: forecast the frames after a user's input frames with a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from convrnn import progress
from convrnn.data.array_splits import to_ntchw
from convrnn.data.coverage import blank_unobserved, split_coverage
from convrnn.data.netcdf import is_netcdf
from convrnn.errors import DatasetError, InputError
from convrnn.io import save_npy_atomic
from convrnn.models.forecaster import Forecaster
from convrnn.models.inference import InferenceOptions, prepare
from convrnn.models.inference import predict as predict_batches
from convrnn.predict_io import (
    input_normalizer,
    model_name,
    normalized,
    read_netcdf_input,
    read_raw_inputs,
    save_forecast_pictures,
    write_forecast_nc,
)
from convrnn.runs import load_forecaster, model_source, read_data_info, read_normalizer
from convrnn.viz import step_minutes

PNG_SUFFIXES = (".png",)


def read_frames(path: str | Path, normalizer: Any = None, layout: str | None = None) -> np.ndarray:
    """Frames from ``.npy``/``.npz`` (one array) or a folder of PNG frames sorted by name.

    Without a ``normalizer``, uint8 data are scaled by 1/255 and float data must
    already lie in [0, 1]. With one (the run's, fitted on its training split),
    the values (uint8 too) are raw data in ``normalizer.units`` and go through
    ``normalizer.transform``, exactly as the training data did.
    Returns float32 ``(N, T, C, H, W)``. ``layout`` is the array's axes, one of the
    arrays dataset's (``THW``, ``TCHW``, ``THWC``, ``NTHW``, ``NTCHW``, ``NTHWC``);
    by default 3-D is ``THW``, 4-D ``TCHW`` and 5-D ``NTCHW``.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_dir():
        if layout not in (None, "TCHW"):
            raise InputError(f"{path}: a folder of PNG frames is TCHW; drop --layout {layout}")
        array = _read_png_folder(path)
    elif path.suffix == ".npy":
        array = _load_npy(path)
    elif path.suffix == ".npz":
        array = _load_npz(path)
    else:
        raise InputError(
            f"{path}: unsupported input; give a .npy, a .npz or a folder of PNG frames"
        )
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / (255.0 if normalizer is None else 1.0)
    elif np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float32)
    else:
        raise InputError(
            f"{path}: dtype {array.dtype} is not supported; use uint8 or float values in [0, 1]"
        )
    if 0 in array.shape:
        raise InputError(
            f"{path}: array of shape {array.shape} is empty; give at least one sequence of frames"
        )
    try:
        array = np.ascontiguousarray(to_ntchw(array, layout))
    except DatasetError as e:
        raise InputError(
            f"{path}: array of shape {array.shape} (rank {array.ndim}): {e}".replace(
                "pass layout=", "pass --layout"
            )
        ) from None
    return normalized(array, normalizer, path)


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise InputError(f"{path}: cannot read .npy file: {e}") from e


def _load_npz(path: Path) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as z:
            if len(z.files) != 1:
                raise InputError(f"{path}: holds arrays {z.files}; save exactly one array")
            return z[z.files[0]]
    except (ValueError, OSError) as e:
        raise InputError(f"{path}: cannot read .npz file: {e}") from e


def _read_png_folder(folder: Path) -> np.ndarray:
    import imageio.v3 as iio

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in PNG_SUFFIXES)
    if not files:
        raise InputError(f"{folder}: no .png frames found")
    frames = []
    for f in files:
        try:
            image = iio.imread(f)
        except Exception as e:  # imageio raises several types for broken files
            raise InputError(f"{f}: unreadable PNG ({e})") from e
        if image.dtype != np.uint8:
            raise InputError(f"{f}: {image.dtype} PNG; only 8-bit frames are supported")
        frames.append(image[None] if image.ndim == 2 else np.moveaxis(image, -1, 0))
    shapes = {fr.shape for fr in frames}
    if len(shapes) != 1:
        raise InputError(f"{folder}: frames differ in shape: {sorted(shapes)}")
    return np.stack(frames)


def check_input(model: Forecaster, frames: np.ndarray) -> None:
    """Raise InputError if ``frames`` (N, T, C, H, W) do not fit ``model``."""
    _, _, c, h, w = frames.shape
    if c != model.in_channels:
        raise InputError(
            f"input has {c} channels but the model was trained on {model.in_channels}; if the "
            "array's axes are not (N, T, C, H, W), pass --layout (e.g. NTHWC)"
        )
    if model.image_size is not None and (h, w) != tuple(model.image_size):
        raise InputError(
            f"input frames are {h}x{w} but the model was trained on {tuple(model.image_size)}; "
            "resize or crop them to that size"
        )
    try:
        first = np.nan_to_num(frames[:, :1], nan=0.0)  # NaN (not observed) is filled later
        model.check_frames(torch.from_numpy(first), "input frames")
    except ValueError as e:
        raise InputError(str(e)) from e


def predict_run(
    run_dir: str | Path,
    input_path: str | Path,
    horizon: int,
    out_dir: str | Path,
    checkpoint: str = "best",
    layout: str | None = None,
    inference: InferenceOptions | None = None,
) -> Path:
    """Forecast ``horizon`` frames; writes ``forecast.npy``, pictures (and ``forecast.nc``) to ``out_dir``.

    ``run_dir`` is a run, a bundle (``convrnn export``) or ``hf://owner/name``. For
    runs whose data were normalised (``normalization.json``), the input is
    in raw units (its ``units`` entry), is normalised as the training data were,
    and ``forecast_raw.npy`` holds the forecast mapped back to those units. NaN
    input pixels are "not observed": the model sees the normalisation's zero
    there, and the forecast is NaN where no input frame observed the pixel. A
    NetCDF input (one sequence, the run's variable) also gives ``forecast.nc``
    on its grid with valid times. ``layout``: the input array's axes (see :func:`read_frames`).
    ``inference``: device, sequences per forward, precision and compile (default:
    :class:`InferenceOptions`).
    """
    if horizon < 1:
        raise InputError(f"horizon must be >= 1, got {horizon}")
    run_dir = model_source(run_dir)
    inference = inference or InferenceOptions()
    model = load_forecaster(run_dir, checkpoint, map_location=inference.torch_device)
    normalizer = input_normalizer(read_normalizer(run_dir))
    data_info = read_data_info(run_dir)
    grid = None
    if is_netcdf(input_path):
        variable = data_info.get("options", {}).get("variable")
        frames, grid, last_time = read_netcdf_input(input_path, variable, normalizer)
    else:
        frames = read_frames(input_path, normalizer, layout)
    check_input(model, frames)
    forecast = forecast_frames(model, torch.from_numpy(frames), horizon, inference).numpy()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_npy_atomic(out / "forecast.npy", forecast)
    raw = None
    if normalizer is not None:
        inverse = normalizer.for_channels(model.target_channels).inverse(forecast)
        raw = np.asarray(inverse, dtype=np.float32)
        save_npy_atomic(out / "forecast_raw.npy", raw)
    step = grid.time_step if grid is not None else None
    minutes = step_minutes(step if step is not None else data_info.get("interval"))
    if grid is not None:
        source = f"convrnn {model_name(run_dir)} nowcast from {Path(str(run_dir)).name}"
        write_forecast_nc(
            out / "forecast.nc",
            raw if raw is not None else forecast,
            grid,
            last_time,
            minutes,
            source,
        )
    inputs_raw = None if normalizer is None else read_raw_inputs(frames, normalizer, model)
    save_forecast_pictures(out, forecast, raw, inputs_raw, normalizer, minutes)
    return out


def forecast_frames(
    model: Forecaster,
    frames: torch.Tensor,
    horizon: int,
    inference: InferenceOptions | None = None,
) -> torch.Tensor:
    """``model``'s forecast of ``(N, T, C, H, W)`` normalised frames, NaN where never observed.

    ``inference``: device, sequences per forward, precision, compile; the result is on the CPU.
    """
    inference = inference or InferenceOptions()
    model = prepare(model, inference)
    filled, _ = split_coverage(frames)
    with progress.bar(len(frames), "forecast", unit="seq") as bar:
        forecast = predict_batches(model, filled, horizon, inference, bar.update)
    return blank_unobserved(forecast, model.targets_of(frames))
