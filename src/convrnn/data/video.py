"""Video decoding through imageio's PyAV plugin (optional extra: ``pip install convrnn[video]``)."""

from __future__ import annotations

import importlib.util
import os

import numpy as np

from convrnn.data.errors import DatasetError
from convrnn.data.images import rgb_to_grey

VIDEO_HINT = (
    "reading .avi files needs PyAV: pip install convrnn[video] (or pip install av); "
    "alternatively convert the videos to PNG folders <action>/<clip>/<n>.png"
)


def require_pyav() -> None:
    """Raise a clear ImportError when PyAV is not installed."""
    if importlib.util.find_spec("av") is None:
        raise ImportError(VIDEO_HINT)


def read_video_grey(path: str | os.PathLike) -> np.ndarray:
    """All frames of a video as uint8 ``(T, H, W)`` grey; errors name the file."""
    require_pyav()
    import imageio.v3 as iio

    try:
        frames = iio.imread(path, plugin="pyav")
    except FileNotFoundError as e:
        raise DatasetError(f"{path}: video file is missing") from e
    except Exception as e:  # PyAV raises its own error classes for corrupt containers
        raise DatasetError(f"{path}: unreadable or corrupt video ({type(e).__name__}: {e})") from e
    frames = np.asarray(frames)
    if frames.ndim == 4 and frames.shape[-1] in (3, 4):
        return rgb_to_grey(frames[..., :3])
    if frames.ndim == 3:
        return frames.astype(np.uint8)
    raise DatasetError(f"{path}: unexpected decoded frame array of shape {frames.shape}")
