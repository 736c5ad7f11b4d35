"""Normalisation to [0, 1] fitted on a training split, saved as JSON and re-applied by ``predict``.

Kinds:

* ``identity``: values already in [0, 1];
* ``affine``: ``y = x * scale + offset`` per channel (or one pair for all
  channels): min-max fitted on the training split (:func:`fit_minmax`) or a
  fixed range (:meth:`Normalizer.fixed_range`);
* ``dbz``: reflectivity in dBZ -> the HKO-7 pixel ``(dBZ + 10) / 70``;
* ``rain``: rain rate in mm/h -> dBZ with a Z-R law -> HKO-7 pixel; negative
  rates map to 0 (dry). Rates below ``threshold``
  (mm/h) are dry: they map to pixel 0, and the inverse maps every pixel below
  the threshold's pixel back to exactly 0 mm/h (so 0 -> 0 exactly, and a dry
  forecast pixel is exactly dry); rates at or above it round-trip to float
  precision, up to the 60 dBZ cap of the pixel mapping.

NaN means "not observed" (outside radar coverage) under every kind: it stays
NaN both ways (:mod:`convrnn.data.coverage` fills and masks it).

``clip`` (default on) clips the result to [0, 1], so frames outside the
training range (e.g. a test maximum above the training maximum) stay valid
inputs; the inverse of a clipped value is the range bound.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from convrnn.errors import ConfigError, DatasetError
from convrnn.units import (
    ZRLaw,
    dbz_to_pixel,
    pixel_to_dbz,
    pixel_to_rain,
    rain_to_pixel,
    zr_law,
)

KINDS = ("identity", "affine", "dbz", "rain")
DRY_MARGIN = 1e-6


def _like(values: list[float], x: Any):
    """Per-channel values shaped to broadcast over ``(..., C, H, W)`` in the library of ``x``."""
    a = np.asarray(values, dtype=np.float64).reshape(-1, 1, 1)
    if isinstance(x, torch.Tensor):
        return torch.as_tensor(
            a, dtype=x.dtype if x.is_floating_point() else torch.float32, device=x.device
        )
    return a


def _clip(x: Any, lo: float, hi: float) -> Any:
    return x.clamp(lo, hi) if isinstance(x, torch.Tensor) else np.clip(x, lo, hi)


@dataclass
class Normalizer:
    """A map from data units to [0, 1] with its inverse; ``to_dict``/``from_dict`` round-trip as JSON."""

    kind: str = "identity"
    scale: list[float] = field(default_factory=lambda: [1.0])
    offset: list[float] = field(default_factory=lambda: [0.0])
    law: ZRLaw | None = None
    clip: bool = True
    fitted_on: str = ""
    #: what the raw values are (``convrnn predict`` reads its input in these units)
    units: str = "the data's own units"
    #: ``rain``: rates below this (mm/h) are dry (0 mm/h); 0 keeps every positive rate
    threshold: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise DatasetError(f"normalizer kind {self.kind!r}; choose one of {KINDS}")
        if len(self.scale) != len(self.offset):
            raise DatasetError("scale and offset need the same length")
        if self.kind == "rain" and self.law is None:
            raise DatasetError("a 'rain' normalizer needs a Z-R law")

    @classmethod
    def identity(cls) -> Normalizer:
        """Data already in [0, 1]."""
        return cls("identity", fitted_on="none (data already in [0, 1])", units="[0, 1]")

    @classmethod
    def fixed_range(
        cls, low: Any, high: Any, clip: bool = True, fitted_on: str = "", units: str = ""
    ) -> Normalizer:
        """``low -> 0`` and ``high -> 1`` (scalars or one value per channel)."""
        lo = np.atleast_1d(np.asarray(low, dtype=np.float64))
        hi = np.atleast_1d(np.asarray(high, dtype=np.float64))
        if lo.shape != hi.shape or (hi <= lo).any():
            raise ConfigError(f"need low < high (same shapes), got {low} and {high}")
        scale = 1.0 / (hi - lo)
        return cls(
            "affine",
            [float(v) for v in scale],
            [float(v) for v in -lo * scale],
            clip=clip,
            fitted_on=fitted_on or f"fixed range [{low}, {high}]",
            units=units or cls.units,
        )

    @classmethod
    def dbz(cls) -> Normalizer:
        """Reflectivity (dBZ) -> HKO-7 pixel ``(dBZ + 10) / 70``, clipped."""
        return cls("dbz", fitted_on="fixed HKO-7 mapping (dBZ + 10) / 70", units="dBZ")

    @classmethod
    def rain(
        cls,
        law: str | ZRLaw | dict = "marshall-palmer",
        units: str = "mm/h",
        threshold: float = 0.0,
    ) -> Normalizer:
        """Rain rate (mm/h) -> dBZ with ``law`` -> HKO-7 pixel, clipped; below ``threshold`` dry."""
        law = zr_law(law)
        if not threshold >= 0.0:
            raise ConfigError(f"rain threshold={threshold!r}: give a dry threshold >= 0 mm/h")
        dry = f", dry below {threshold:g} mm/h" if threshold > 0 else ""
        return cls(
            "rain",
            law=law,
            fitted_on=f"fixed mm/h -> dBZ ({law.name}) -> pixel{dry}",
            units=units,
            threshold=float(threshold),
        )

    def dry_pixel(self) -> float:
        """``rain``: the pixel of the dry threshold; forecasts below it are exactly 0 mm/h."""
        return float(rain_to_pixel(self.threshold, self.law)) if self.threshold > 0 else 0.0

    def for_channels(self, channels: Sequence[int] | None) -> Normalizer:
        """This map restricted to ``channels`` (e.g. a model's targets); shared parameters stay."""
        if channels is None or len(self.scale) == 1:
            return self
        return replace(
            self, scale=[self.scale[c] for c in channels], offset=[self.offset[c] for c in channels]
        )

    @property
    def channels(self) -> int:
        """Number of per-channel parameters (1 = shared by all channels)."""
        return len(self.scale)

    def transform(self, x: Any) -> Any:
        """Data units ``(..., C, H, W)`` (numpy or torch) -> [0, 1] (float32 for numpy)."""
        if self.kind == "identity":
            y = x
        elif self.kind == "affine":
            y = x * _like(self.scale, x) + _like(self.offset, x)
        elif self.kind == "dbz":
            y = dbz_to_pixel(x)
        else:
            # negative rates are dry; NaN (not observed) stays NaN through every step
            if isinstance(x, torch.Tensor):
                r = x.float().clamp_min(0.0)
            else:
                r = np.maximum(np.asarray(x, dtype=np.float64), 0.0)
            if self.threshold > 0:
                r = r * (r >= self.threshold)  # NaN * False stays NaN
            y = rain_to_pixel(r, self.law)
        if self.clip:
            y = _clip(y, 0.0, 1.0)
        return y if isinstance(y, torch.Tensor) else np.asarray(y, dtype=np.float32)

    def inverse(self, y: Any) -> Any:
        """[0, 1] -> data units (numpy or torch)."""
        if self.kind == "identity":
            return y
        if self.kind == "affine":
            return (y - _like(self.offset, y)) / _like(self.scale, y)
        if self.kind == "dbz":
            return pixel_to_dbz(y)
        rain = pixel_to_rain(y, self.law)
        # a pixel below the dry threshold's (pixel 0 without one) is exactly 0 mm/h, never the
        # 0.009 mm/h of -10 dBZ; the small margin absorbs float32 rounding of the threshold itself
        dry = y <= self.dry_pixel() * (1 - DRY_MARGIN)
        return rain * ~dry if isinstance(rain, torch.Tensor) else np.where(dry, 0.0, rain)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {
            "kind": self.kind,
            "scale": list(self.scale),
            "offset": list(self.offset),
            "law": None if self.law is None else self.law.to_dict(),
            "clip": self.clip,
            "fitted_on": self.fitted_on,
            "units": self.units,
            "threshold": self.threshold,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Normalizer:
        """Inverse of :meth:`to_dict`."""
        law = d.get("law")
        return cls(
            kind=d["kind"],
            scale=[float(v) for v in d.get("scale", [1.0])],
            offset=[float(v) for v in d.get("offset", [0.0])],
            law=None if law is None else ZRLaw.from_dict(law),
            clip=bool(d.get("clip", True)),
            fitted_on=str(d.get("fitted_on", "")),
            units=str(d.get("units", cls.units)),
            threshold=float(d.get("threshold", 0.0)),
        )


def fit_minmax(
    chunks: Iterable[np.ndarray],
    per_channel: bool = False,
    clip: bool = True,
    fitted_on: str = "",
    units: str = "",
) -> Normalizer:
    """Min-max normaliser from an iterable of ``(n, C, H, W)`` chunks (streamed, never concatenated)."""
    lo = hi = None
    frames = 0
    for chunk in chunks:
        c = np.asarray(chunk, dtype=np.float64)
        if c.ndim != 4 or c.shape[0] == 0:
            continue
        if np.isinf(c).any():
            raise DatasetError(
                "training data contain infinite values; replace them with NaN (not observed) "
                "or a number before fitting a min-max normalisation"
            )
        if np.isnan(c).all():
            continue  # nothing observed in this chunk
        axes = (0, 2, 3) if per_channel else None
        with warnings.catch_warnings():  # a channel unobserved in a chunk gives NaN: skipped
            warnings.simplefilter("ignore", RuntimeWarning)
            cmin = np.atleast_1d(np.nanmin(c, axis=axes))
            cmax = np.atleast_1d(np.nanmax(c, axis=axes))
        lo = cmin if lo is None else np.fmin(lo, cmin)
        hi = cmax if hi is None else np.fmax(hi, cmax)
        frames += c.shape[0]
    if lo is None or np.isnan(lo).any():
        raise DatasetError(
            "no observed training values to fit the min-max normalisation on "
            "(every value, or every value of a channel, is NaN)"
        )
    if (hi <= lo).any():
        raise DatasetError(
            f"training data are constant ({lo} .. {hi}): min-max is undefined; "
            "use normalize='none' or a fixed range"
        )
    what = fitted_on or "the training split"
    return Normalizer.fixed_range(
        lo,
        hi,
        clip=clip,
        fitted_on=f"min-max over {what} ({frames} frames): [{lo}, {hi}]",
        units=units,
    )
