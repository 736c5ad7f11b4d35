"""Radar conversions: normalised pixel <-> reflectivity (dBZ) <-> rain rate (mm/h).

Conventions (``reference/ecosystem.md`` section 4, ``official-ms-rnn.md`` section 4):

* reflectivity ``Z`` (mm^6 m^-3) and rain rate ``R`` (mm/h) follow a Z-R law
  ``Z = a * R**b``; ``dBZ = 10 log10 Z``, so ``R = 10**((dBZ - 10 log10 a) / (10 b))``;
* the HKO-7 pixel mapping: a normalised pixel ``x`` in [0, 1] (``x = p / 255``
  for an 8-bit PNG value ``p``) is ``dBZ = 70 x - 10``; the inverse clips to
  [0, 1]: ``x = clip((dBZ + 10) / 70, 0, 1)``. MS-RNN uses the same mapping for
  the Germany (DWD) data;
* laws: HKO-7 ``Z = 58.53 R^1.56`` (Shi et al. 2017), Germany/RainNet
  ``Z = 256 R^1.42`` (MS-RNN ``load_DWD.py``), Marshall-Palmer ``Z = 200 R^1.6``
  (the pysteps default).

Every function accepts numpy arrays, scalars or torch tensors and returns the
same kind (floating point).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

DBZ_OFFSET = 10.0  # dBZ = DBZ_RANGE * x - DBZ_OFFSET
DBZ_RANGE = 70.0


@dataclass(frozen=True)
class ZRLaw:
    """A Z-R relationship ``Z = a * R**b`` (Z in mm^6 m^-3, R in mm/h)."""

    name: str
    a: float
    b: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"name": self.name, "a": self.a, "b": self.b}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ZRLaw:
        """Inverse of :meth:`to_dict`."""
        return cls(str(d.get("name", "custom")), float(d["a"]), float(d["b"]))


HKO7_ZR = ZRLaw("hko7", 58.53, 1.56)
GERMANY_ZR = ZRLaw("germany", 256.0, 1.42)
MARSHALL_PALMER_ZR = ZRLaw("marshall-palmer", 200.0, 1.6)
ZR_LAWS = {law.name: law for law in (HKO7_ZR, GERMANY_ZR, MARSHALL_PALMER_ZR)}


def zr_law(law: str | ZRLaw | dict[str, Any]) -> ZRLaw:
    """A :class:`ZRLaw` from a name ("hko7", "germany", "marshall-palmer"), a dict or a law."""
    if isinstance(law, ZRLaw):
        return law
    if isinstance(law, dict):
        return ZRLaw.from_dict(law)
    if law not in ZR_LAWS:
        raise ValueError(f"unknown Z-R law {law!r}; choose one of {sorted(ZR_LAWS)} or pass a, b")
    return ZR_LAWS[law]


def _lib(x: Any):
    return torch if isinstance(x, torch.Tensor) else np


def _float(x: Any):
    if isinstance(x, torch.Tensor):
        return x if x.is_floating_point() else x.float()
    return np.asarray(x, dtype=np.float64) if np.ndim(x) else float(x)


def rain_to_dbz(rain: Any, law: str | ZRLaw = HKO7_ZR) -> Any:
    """Rain rate (mm/h) -> reflectivity (dBZ) with ``Z = a R^b``; ``R = 0`` gives ``-inf``."""
    law = zr_law(law)
    r = _float(rain)
    lib = _lib(r)
    with np.errstate(divide="ignore"):
        return 10.0 * math.log10(law.a) + 10.0 * law.b * lib.log10(r * 1.0)


def dbz_to_rain(dbz: Any, law: str | ZRLaw = HKO7_ZR) -> Any:
    """Reflectivity (dBZ) -> rain rate (mm/h), the inverse of :func:`rain_to_dbz`."""
    law = zr_law(law)
    d = _float(dbz)
    return 10.0 ** ((d - 10.0 * math.log10(law.a)) / (10.0 * law.b))


def pixel_to_dbz(x: Any) -> Any:
    """HKO-7 mapping of a normalised pixel ``x`` in [0, 1]: ``dBZ = 70 x - 10``."""
    return _float(x) * DBZ_RANGE - DBZ_OFFSET


def dbz_to_pixel(dbz: Any) -> Any:
    """Inverse HKO-7 mapping: ``x = clip((dBZ + 10) / 70, 0, 1)`` (``-inf`` dBZ -> 0)."""
    d = _float(dbz)
    x = (d + DBZ_OFFSET) / DBZ_RANGE
    if isinstance(x, torch.Tensor):
        return x.clamp(0.0, 1.0)
    return np.clip(x, 0.0, 1.0)


def uint8_to_dbz(p: Any) -> Any:
    """HKO-7 mapping of an 8-bit PNG value ``p`` in [0, 255]: ``dBZ = p * 70 / 255 - 10``."""
    return pixel_to_dbz(_float(p) / 255.0)


def pixel_to_rain(x: Any, law: str | ZRLaw = HKO7_ZR) -> Any:
    """Normalised pixel -> dBZ (HKO-7 mapping) -> rain rate (mm/h) with the Z-R ``law``."""
    return dbz_to_rain(pixel_to_dbz(x), law)


def rain_to_pixel(rain: Any, law: str | ZRLaw = HKO7_ZR) -> Any:
    """Rain rate (mm/h) -> dBZ with the Z-R ``law`` -> normalised pixel (clipped to [0, 1])."""
    return dbz_to_pixel(rain_to_dbz(rain, law))
