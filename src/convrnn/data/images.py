"""Frame I/O helpers: grey PNG reading and resizing (bilinear, like OpenCV's default)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from convrnn.data.errors import DatasetError
from convrnn.errors import ConfigError

_GREY_MODES = {"L", "RGB", "RGBA", "P", "LA"}


def read_png_grey(path: str | os.PathLike) -> np.ndarray:
    """An 8-bit image as uint8 ``(H, W)`` grey (ITU-R 601 luma for colour); errors name the file."""
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode not in _GREY_MODES:
                raise DatasetError(
                    f"{path}: unsupported image mode {img.mode!r} (expected 8-bit grey or RGB)"
                )
            return np.asarray(img.convert("L"), dtype=np.uint8)
    except FileNotFoundError as e:
        raise DatasetError(f"{path}: image file is missing") from e
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError) as e:
        if isinstance(e, DatasetError):
            raise
        raise DatasetError(f"{path}: unreadable or truncated image ({e})") from e


def image_shape(path: str | os.PathLike) -> tuple[int, int]:
    """``(height, width)`` of an image file, from its header (no decoding); errors name the file."""
    try:
        with Image.open(path) as img:
            width, height = img.size
    except FileNotFoundError as e:
        raise DatasetError(f"{path}: image file is missing") from e
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError) as e:
        raise DatasetError(f"{path}: unreadable image ({e})") from e
    return int(height), int(width)


def rgb_to_grey(frames: np.ndarray) -> np.ndarray:
    """uint8 ``(..., H, W, 3)`` RGB -> uint8 ``(..., H, W)`` grey, PIL's ``L`` formula."""
    f = frames.astype(np.uint32)
    grey = (f[..., 0] * 299 + f[..., 1] * 587 + f[..., 2] * 114 + 500) // 1000
    return grey.astype(np.uint8)


def parse_size(size: Any) -> tuple[int, int] | None:
    """``None``, an int (square) or ``(height, width)`` -> ``(height, width)`` or None."""
    if size is None:
        return None
    if isinstance(size, int):
        h = w = size
    else:
        h, w = (int(v) for v in size)
    if h < 1 or w < 1:
        raise ConfigError(f"size must be positive, got {size}")
    return h, w


def resize_frames(frames: np.ndarray, size: tuple[int, int] | None, mode: str = "bilinear"):
    """Resize ``(T, C, H, W)`` float frames to ``size`` (bilinear, half-pixel centres, no antialias).

    ``mode="area"`` averages pixels instead (better for large reductions).
    """
    if size is None or tuple(frames.shape[-2:]) == tuple(size):
        return frames
    if mode not in ("bilinear", "area", "nearest"):
        raise ConfigError(f"resize mode {mode!r}; choose bilinear, area or nearest")
    x = torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32))
    kwargs = {"align_corners": False} if mode == "bilinear" else {}
    y = F.interpolate(x, size=tuple(size), mode=mode, **kwargs)
    return y.numpy()
