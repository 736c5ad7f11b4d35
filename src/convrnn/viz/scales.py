"""Precipitation colour scales: rain rate (mm/h) and reflectivity (dBZ), with dry and no-coverage colours.

The colours and the mm/h levels are pysteps' default ``"pysteps"`` scale
(``pysteps.visualization.precipfields.get_colormap``, BSD-3), so a convrnn
forecast and a pysteps nowcast drawn side by side read alike: discrete, nearly
logarithmic classes, dark red above the last level. Below the first level a
pixel is dry and drawn white; NaN (not observed, outside radar coverage) is
drawn grey, so "no coverage" never looks like "no rain".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from convrnn.errors import InputError

#: pysteps' "pysteps" colour list (one colour per mm/h class)
PYSTEPS_COLOURS = (
    "#9c7e94",
    "#640064",
    "#af00af",
    "#dc00dc",
    "#3232c8",
    "#0064ff",
    "#009696",
    "#00c832",
    "#64ff00",
    "#96ff00",
    "#c8ff00",
    "#ffff00",
    "#ffc800",
    "#ffa000",
    "#ff7d00",
    "#e11900",
)
#: class boundaries in mm/h (pysteps' levels for intensity)
RAIN_LEVELS = (0.08, 0.16, 0.25, 0.4, 0.63, 1, 1.6, 2.5, 4, 6.3, 10, 16, 25, 40, 63, 100, 160)
#: class boundaries in dBZ: 5 .. 70 dBZ in steps of 5 (the HKO-7 pixels span -10 .. 60 dBZ)
DBZ_LEVELS = tuple(range(5, 75, 5))
DRY = "#ffffff"
NO_COVERAGE = "#bdbdbd"
OVER = "#8b0000"
KINDS = ("rain", "dbz")
DEFAULT_UNITS = {"rain": "mm/h", "dbz": "dBZ"}


@dataclass(frozen=True)
class RadarScale:
    """A discrete colour scale: ``levels`` bound the classes, ``colours`` are interpolated to one per class."""

    kind: str
    units: str
    levels: tuple[float, ...]
    colours: tuple[str, ...] = PYSTEPS_COLOURS

    def cmap_norm(self) -> tuple[Any, Any]:
        """The matplotlib colour map (white below, dark red above, grey for NaN) and its BoundaryNorm."""
        from matplotlib.colors import BoundaryNorm, LinearSegmentedColormap

        classes = len(self.levels) - 1
        cmap = LinearSegmentedColormap.from_list(
            f"convrnn-{self.kind}", list(self.colours), N=classes
        ).with_extremes(under=DRY, over=OVER, bad=NO_COVERAGE)
        return cmap, BoundaryNorm(list(self.levels), classes)

    def tick_labels(self) -> list[str]:
        """The levels as colour-bar labels (``0.08``, ``1.6``, ``10``...)."""
        return [f"{level:g}" for level in self.levels]

    @property
    def dry_label(self) -> str:
        """Legend text of the white class."""
        return f"dry (< {self.levels[0]:g} {self.units})"


def radar_scale(kind: str = "rain", units: str | None = None) -> RadarScale:
    """The scale of a value kind: ``rain`` (mm/h, pysteps' levels) or ``dbz`` (5..70 dBZ)."""
    if kind not in KINDS:
        raise InputError(f"radar value kind {kind!r}; choose one of {KINDS}")
    levels = RAIN_LEVELS if kind == "rain" else DBZ_LEVELS
    return RadarScale(kind, units or DEFAULT_UNITS[kind], tuple(float(v) for v in levels))


def colorize(frame: Any, kind: str = "rain", units: str | None = None) -> np.ndarray:
    """``(H, W)`` values -> ``(H, W, 4)`` uint8 RGBA, pixel by pixel as the pictures draw them."""
    cmap, norm = radar_scale(kind, units).cmap_norm()
    values = np.ma.masked_invalid(np.asarray(frame, dtype=np.float64))
    return cmap(norm(values), bytes=True)
