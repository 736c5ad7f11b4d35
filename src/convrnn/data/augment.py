"""Augmentation of whole training windows: random flips, 90-degree rotations and crops, seeded per draw.

Every frame of a window gets the same transform (inputs and targets move together).
A draw is seeded by ``(seed, epoch, window index)``, so a resumed run, which
replays the same stream of (epoch, window) pairs, sees the same transforms.
Validation and test windows are never flipped or rotated; with ``crop`` they are
cut to the centre ``crop`` so every split has the training frame size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from convrnn.data.images import parse_size
from convrnn.errors import ConfigError

AUGMENTS = ("none", "flip", "rot90", "flip+rot90")


@dataclass(frozen=True)
class Augmentation:
    """``augment`` (one of :data:`AUGMENTS`) and ``crop`` (``(h, w)`` or None) of training windows."""

    augment: str = "none"
    crop: tuple[int, int] | None = None
    seed: int = 0

    @classmethod
    def from_options(cls, augment: str | None, crop: Any, seed: int = 0) -> Augmentation:
        """Checked settings from data options (``augment=None`` is ``"none"``)."""
        augment = "none" if augment is None else str(augment)
        if augment not in AUGMENTS:
            raise ConfigError(f"augment={augment!r}: choose one of {', '.join(AUGMENTS)}")
        try:
            size = parse_size(crop)
        except (TypeError, ValueError):
            raise ConfigError(f"crop={crop!r}: give a size, e.g. 64 or [64, 96]") from None
        return cls(augment, size, int(seed))

    @property
    def active(self) -> bool:
        """Whether training windows are transformed at all."""
        return self.augment != "none" or self.crop is not None

    def check_frames(self, height: int, width: int) -> tuple[int, int]:
        """The frame size after cropping; ConfigError if the crop or a rotation cannot apply."""
        h, w = self.crop or (height, width)
        if h > height or w > width:
            raise ConfigError(
                f"crop={h}x{w} is larger than the {height}x{width} frames; choose a smaller crop"
            )
        if "rot90" in self.augment and h != w:
            raise ConfigError(
                f"augment={self.augment!r} rotates by 90 degrees, which needs square frames, but "
                f"they are {h}x{w}; crop them to a square (crop={min(h, w)}) or use augment=flip"
            )
        return h, w

    def centre(self, frames: np.ndarray) -> np.ndarray:
        """The centre crop of ``(T, C, H, W)`` frames (unchanged without ``crop``)."""
        if self.crop is None:
            return frames
        height, width = frames.shape[-2:]
        top, left = (height - self.crop[0]) // 2, (width - self.crop[1]) // 2
        return frames[..., top : top + self.crop[0], left : left + self.crop[1]]

    def random(self, frames: np.ndarray, epoch: int, index: int) -> np.ndarray:
        """A random crop, flips and rotation of ``(T, C, H, W)`` frames, drawn from ``(seed, epoch, index)``."""
        rng = np.random.default_rng([self.seed, epoch, index])
        if self.crop is not None:
            height, width = frames.shape[-2:]
            top = int(rng.integers(0, height - self.crop[0] + 1))
            left = int(rng.integers(0, width - self.crop[1] + 1))
            frames = frames[..., top : top + self.crop[0], left : left + self.crop[1]]
        if "flip" in self.augment:
            if rng.random() < 0.5:
                frames = frames[..., :, ::-1]
            if rng.random() < 0.5:
                frames = frames[..., ::-1, :]
        if "rot90" in self.augment:
            frames = np.rot90(frames, int(rng.integers(0, 4)), axes=(-2, -1))
        return frames

    def describe(self) -> str:
        """One line for the dataset summary."""
        crop = f", random {self.crop[0]}x{self.crop[1]} crops" if self.crop else ""
        return f"augmentation (training split only): {self.augment}{crop}, seed {self.seed}"
