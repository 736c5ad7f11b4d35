"""Baseline forecasts: persistence and optical-flow extrapolation (the operational nowcast).

``optical_flow_forecast`` estimates one motion field per sequence and channel
from the input frames with pysteps' Lucas-Kanade method (OpenCV
``calcOpticalFlowPyrLK`` on Shi-Tomasi corners, interpolated to a dense
field) and advects the last input frame along it with pysteps'
semi-Lagrangian extrapolation. pysteps and OpenCV are optional:
``pip install convrnn[nowcast]``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

from convrnn.errors import InputError
from convrnn.metrics.frames import persistence

__all__ = ["optical_flow_forecast", "persistence"]

NOWCAST_HINT = "pip install convrnn[nowcast]  (installs pysteps and opencv-python-headless)"


def _silent_rc() -> str | None:
    """A copy of pysteps' packaged ``pystepsrc`` with ``silent_import`` on, or None."""
    spec = importlib.util.find_spec("pysteps")
    if spec is None or not spec.submodule_search_locations:
        return None
    packaged = Path(next(iter(spec.submodule_search_locations))) / "pystepsrc"
    try:
        text = packaged.read_text()
    except OSError:
        return None
    silent, n = re.subn(r'"silent_import"\s*:\s*false', '"silent_import": true', text)
    if n != 1:
        return None
    path = Path(tempfile.gettempdir()) / f"convrnn-pystepsrc-{os.getuid()}"
    if not path.exists() or path.read_text() != silent:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(silent)
        os.replace(tmp, path)
    return str(path)


def import_pysteps() -> ModuleType:
    """Import pysteps quietly (no configuration banner); clear ImportError if it is missing."""
    if importlib.util.find_spec("pysteps") is None:
        raise ImportError(f"the optical-flow baseline needs pysteps: {NOWCAST_HINT}")
    if importlib.util.find_spec("cv2") is None:
        raise ImportError(f"pysteps' Lucas-Kanade motion needs OpenCV: {NOWCAST_HINT}")
    previous = os.environ.get("PYSTEPSRC")
    rc = None if previous else _silent_rc()
    try:
        if rc is not None:
            os.environ["PYSTEPSRC"] = rc
        with contextlib.redirect_stdout(io.StringIO()):
            import pysteps
            from pysteps import motion, nowcasts  # noqa: F401
    finally:
        if rc is not None:
            os.environ.pop("PYSTEPSRC", None)
    return pysteps


def optical_flow_forecast(inputs: Any, horizon: int, *, min_frames: int = 2) -> Any:
    """Lucas-Kanade + semi-Lagrangian extrapolation of ``(N, T_in, C, H, W)`` inputs in [0, 1].

    Returns ``(N, horizon, C, H, W)`` of the same kind (numpy array or tensor,
    on the input's device), clipped to [0, 1]; pixels advected in from outside
    the domain are 0. A sequence without trackable features gets zero motion,
    i.e. the persistence forecast.
    """
    pysteps = import_pysteps()
    motion_method = pysteps.motion.get_method("LK")
    extrapolate = pysteps.nowcasts.get_method("extrapolation")
    is_tensor = isinstance(inputs, torch.Tensor)
    x = inputs.detach().to("cpu", torch.float64).numpy() if is_tensor else np.asarray(inputs)
    if x.ndim != 5:
        raise InputError(f"inputs must have shape (N, T_in, C, H, W), got {x.shape}")
    if x.shape[1] < max(2, min_frames):
        raise InputError(f"optical flow needs at least 2 input frames, got {x.shape[1]}")
    if horizon < 1:
        raise InputError(f"horizon must be >= 1, got {horizon}")
    if not np.isfinite(x).all():
        raise InputError("inputs contain NaN/inf; clean them before the optical-flow baseline")
    n, _, c, h, w = x.shape
    out = np.zeros((n, horizon, c, h, w), dtype=np.float64)
    with contextlib.redirect_stdout(io.StringIO()):
        for i in range(n):
            for ch in range(c):
                frames = x[i, :, ch].astype(np.float64)
                velocity = motion_method(frames)
                fc = extrapolate(frames[-1], velocity, horizon, extrap_kwargs={"outval": 0.0})
                out[i, :, ch] = np.nan_to_num(np.asarray(fc), nan=0.0)
    out = np.clip(out, 0.0, 1.0)
    if is_tensor:
        return torch.from_numpy(out).to(device=inputs.device, dtype=inputs.dtype)
    return out.astype(x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32)
