"""Grey pictures of [0, 1] frames: sequence grids (input | truth | prediction | error), PNG and GIF files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from convrnn.errors import InputError
from convrnn.io import atomic_file


def sequence_grid(rows: Sequence[Tensor], gap: int = 2) -> Tensor:
    """Stack sequences ``(T_i, C, H, W)`` as rows of one ``(C, H', W')`` image, padding short rows with black."""
    if not rows:
        raise InputError("sequence_grid needs at least one row")
    c, h, w = rows[0].shape[1:]
    width = max(r.shape[0] for r in rows)
    canvas = torch.zeros(c, len(rows) * (h + gap) - gap, width * (w + gap) - gap)
    for i, row in enumerate(rows):
        for t in range(row.shape[0]):
            y, x = i * (h + gap), t * (w + gap)
            canvas[:, y : y + h, x : x + w] = row[t].detach().float().cpu()
    return canvas


def comparison_grid(inputs: Tensor, truth: Tensor, pred: Tensor) -> Tensor:
    """Rows: inputs, ground truth, prediction (clipped), absolute error — for one sequence."""
    pred = pred.clamp(0, 1)
    return sequence_grid([inputs, truth, pred, (pred - truth).abs()])


def to_uint8_image(image: Tensor) -> np.ndarray:
    """``(C, H, W)`` in [0, 1] -> ``(H, W)`` or ``(H, W, 3)`` uint8 (first channel unless RGB)."""
    image = image.detach().float().clamp(0, 1).cpu()
    arr = image[0] if image.shape[0] != 3 else image.permute(1, 2, 0)
    return (arr.numpy() * 255).round().astype(np.uint8)


def save_png(image: Tensor, path: str | Path) -> Path:
    """Write a ``(C, H, W)`` image in [0, 1] as PNG (atomically: a temporary file, then a rename)."""
    import imageio.v3 as iio

    path = Path(path)
    with atomic_file(path) as f:
        f.write(iio.imwrite("<bytes>", to_uint8_image(image), extension=".png"))
    return path


def save_gif(frames: Sequence[Tensor], path: str | Path, duration_ms: int = 200) -> Path:
    """Write ``(C, H, W)`` frames in [0, 1] as an animated GIF (looping; atomically)."""
    import imageio.v3 as iio

    path = Path(path)
    images = np.stack([to_uint8_image(f) for f in frames])
    with atomic_file(path) as f:
        f.write(
            iio.imwrite(
                "<bytes>", images, extension=".gif", plugin="pillow", duration=duration_ms, loop=0
            )
        )
    return path
