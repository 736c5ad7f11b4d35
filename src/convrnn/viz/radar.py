"""Radar pictures in physical units: a strip (input | observed | forecast) as PNG and an animated GIF.

Frames are ``(T, H, W)`` arrays of rain rate (``kind="rain"``, mm/h) or
reflectivity (``kind="dbz"``) in raw units, NaN where nothing was observed.
Each panel is titled with its time: inputs ``-10 min`` .. ``0 min``, forecasts
``+5 min``, ``+10 min``... when the time step is known (:func:`step_minutes`),
else in steps (``-1``, ``0``, ``+1``...). Colours come from :mod:`convrnn.viz.scales`;
matplotlib (Agg, no pyplot state) is imported only when a picture is drawn, and
every file is written atomically.
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from convrnn.errors import InputError
from convrnn.io import atomic_file
from convrnn.viz.scales import DRY, NO_COVERAGE, RadarScale, radar_scale

#: "5 min", "2.5 min (every 2nd ...)", "1 h", "30 s": a number and a unit of time at the start
_STEP = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(min|minutes?|h|hours?|s|seconds?)\b", re.I)
_MINUTES = {"min": 1.0, "minute": 1.0, "minutes": 1.0, "h": 60.0, "hour": 60.0, "hours": 60.0}
DPI = 100


def step_minutes(interval: Any) -> float | None:
    """Minutes between frames from a dataset's ``info.interval`` ("5 min", "1 h"), a number or a timedelta64.

    None when the interval is not a time ("1 frame") or is None.
    """
    if interval is None:
        return None
    if isinstance(interval, np.timedelta64):
        interval = float(interval / np.timedelta64(1, "s")) / 60.0
    if isinstance(interval, str):
        match = _STEP.match(interval)
        if match is None:
            return None
        unit = match.group(2).lower()
        interval = float(match.group(1)) * _MINUTES.get(unit, 1.0 / 60.0)
    if isinstance(interval, bool) or not isinstance(interval, (int, float, np.number)):
        raise InputError(f"time step {interval!r}: give minutes (a number), a string or None")
    if not (math.isfinite(interval) and interval > 0):
        raise InputError(f"time step {interval!r} minutes: give a positive number or None")
    return float(interval)


def _when(offset: float, unit: str) -> str:
    return f"0 {unit}".strip() if offset == 0 else f"{offset:+g} {unit}".strip()


def frame_labels(
    n_inputs: int, n_forecast: int, step: float | None = None
) -> tuple[list[str], list[str]]:
    """Titles of the inputs (``-10 min`` .. ``0 min``) and forecasts (``+5 min``...); steps without ``step``."""
    unit = "min" if step is not None else ""
    scale = step if step is not None else 1
    inputs = [_when((i - n_inputs + 1) * scale, unit) for i in range(n_inputs)]
    return inputs, [_when((k + 1) * scale, unit) for k in range(n_forecast)]


def _frames(values: Any, name: str) -> np.ndarray:
    """``(T, H, W)`` (or ``(T, 1, H, W)``) values as float64, else :class:`InputError`."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 3 or 0 in array.shape:
        raise InputError(
            f"{name} has shape {array.shape}; radar pictures take frames (T, H, W) of one field"
        )
    return array


def _rows(inputs: Any, forecast: Any, truth: Any, origin: str) -> list[tuple[str, np.ndarray]]:
    if origin not in ("upper", "lower"):
        raise InputError(f"origin={origin!r}; choose 'upper' (row 0 on top) or 'lower'")
    rows = [("input", _frames(inputs, "inputs"))]
    forecast = _frames(forecast, "forecast")
    if truth is not None:
        truth = _frames(truth, "truth")
        if truth.shape[0] != forecast.shape[0]:
            raise InputError(
                f"truth has {truth.shape[0]} frames and the forecast {forecast.shape[0]}; "
                "give the observed frames at the forecast's lead times"
            )
        rows.append(("observed", truth))
    rows.append(("forecast", forecast))
    sizes = {array.shape[1:] for _, array in rows}
    if len(sizes) > 1:
        raise InputError(f"frames of different sizes {sorted(sizes)}; give frames of one grid")
    return rows


def _legend(fig: Any, scale: RadarScale, step: float | None) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [
        Patch(facecolor=DRY, edgecolor="0.45", label=scale.dry_label),
        Patch(facecolor=NO_COVERAGE, edgecolor="0.45", label="no coverage (not observed)"),
    ]
    if step is None:
        handles.append(Line2D([], [], linestyle="none", label="times in steps (time step unknown)"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)


def _colorbar(fig: Any, axes: list[Any], scale: RadarScale) -> None:
    from matplotlib.cm import ScalarMappable

    cmap, norm = scale.cmap_norm()
    bar = fig.colorbar(
        ScalarMappable(norm=norm, cmap=cmap),
        ax=axes,
        extend="max",
        ticks=list(scale.levels),
        fraction=0.04,
        aspect=25,
        pad=0.01,
    )
    bar.ax.set_yticklabels(scale.tick_labels(), fontsize=8)
    bar.set_label(scale.units, fontsize=10)


def _panel(ax: Any, frame: np.ndarray, scale: RadarScale, origin: str) -> Any:
    cmap, norm = scale.cmap_norm()
    image = ax.imshow(
        np.ma.masked_invalid(frame),
        cmap=cmap,
        norm=norm,
        origin=origin,
        interpolation="auto",
        interpolation_stage="rgba",
    )
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_edgecolor("0.6")
    return image


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _panel_inches(columns: int, height: int, width: int) -> tuple[float, float]:
    side = 1.8 if columns <= 8 else max(1.1, 14.4 / columns)
    return side, side * min(max(height / width, 0.4), 2.5)


def strip_figure(
    inputs: Any,
    forecast: Any,
    truth: Any = None,
    *,
    kind: str = "rain",
    units: str | None = None,
    step_minutes: float | None = None,
    title: str | None = None,
    origin: str = "upper",
) -> Any:
    """The matplotlib Figure of :func:`radar_strip` (rows input | observed | forecast, one colour bar)."""
    scale = radar_scale(kind, units)
    rows = _rows(inputs, forecast, truth, origin)
    input_titles, lead_titles = frame_labels(len(rows[0][1]), len(rows[-1][1]), step_minutes)
    columns = max(len(array) for _, array in rows)
    pw, ph = _panel_inches(columns, *rows[0][1].shape[1:])
    fig = _figure(columns * pw + 1.3, len(rows) * (ph + 0.4) + 0.6 + 0.4 * bool(title))
    axes = fig.subplots(len(rows), columns, squeeze=False)
    for r, (name, array) in enumerate(rows):
        titles = input_titles if name == "input" else lead_titles
        for c, ax in enumerate(axes[r]):
            if c >= len(array):
                ax.set_axis_off()
                continue
            _panel(ax, array[c], scale, origin)
            ax.set_title(titles[c], fontsize=10)
        axes[r, 0].set_ylabel(name, fontsize=11)
    _colorbar(fig, axes.ravel().tolist(), scale)
    _legend(fig, scale, step_minutes)
    if title:
        fig.suptitle(title, fontsize=12)
    return fig


def _write_png(fig: Any, path: str | Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    path = Path(path)
    with atomic_file(path) as f:
        f.write(buffer.getvalue())
    return path


def radar_strip(
    inputs: Any,
    forecast: Any,
    path: str | Path,
    *,
    truth: Any = None,
    kind: str = "rain",
    units: str | None = None,
    step_minutes: float | None = None,
    title: str | None = None,
    origin: str = "upper",
) -> Path:
    """Write one PNG: inputs, observed (if ``truth``) and forecast frames in raw units, titled by time.

    ``inputs`` ``(T_in, H, W)``, ``forecast`` and ``truth`` ``(T_out, H, W)``, NaN = no coverage;
    ``kind`` ``rain`` (mm/h scale) or ``dbz``; ``units`` labels the colour bar (default by kind);
    ``step_minutes`` the time step (None: times in steps); ``origin`` ``upper`` draws row 0 at
    the top (``lower`` for grids whose y grows northward).
    """
    fig = strip_figure(
        inputs,
        forecast,
        truth,
        kind=kind,
        units=units,
        step_minutes=step_minutes,
        title=title,
        origin=origin,
    )
    return _write_png(fig, path)


def radar_gif_frames(
    inputs: Any,
    forecast: Any,
    truth: Any = None,
    *,
    kind: str = "rain",
    units: str | None = None,
    step_minutes: float | None = None,
    title: str | None = None,
    origin: str = "upper",
) -> list[tuple[str, np.ndarray]]:
    """``(heading, RGB image)`` of every GIF frame: the inputs, then the forecast (beside ``truth``)."""
    scale = radar_scale(kind, units)
    rows = _rows(inputs, forecast, truth, origin)
    first, *_, last = (array for _, array in rows)
    input_titles, lead_titles = frame_labels(len(first), len(last), step_minutes)
    panels = 2 if truth is not None else 1
    pw, ph = _panel_inches(1, *first.shape[1:])
    pw, ph = 1.9 * pw, 1.9 * ph
    fig = _figure(panels * pw + 1.3, ph + 1.3 + 0.3 * bool(title))
    axes = list(fig.subplots(1, panels, squeeze=False)[0])
    images = [_panel(ax, first[0], scale, origin) for ax in axes]
    _colorbar(fig, axes, scale)
    _legend(fig, scale, step_minutes)
    waiting = None
    if panels == 2:
        axes[0].set_title("observed", fontsize=11)
        axes[1].set_title("forecast", fontsize=11)
        waiting = axes[1].text(
            0.5, 0.5, f"forecast\nfrom {lead_titles[0]}", ha="center", va="center",
            transform=axes[1].transAxes, fontsize=11, color="0.35",
        )  # fmt: skip
    prefix = f"{title}: " if title else ""
    steps = [(t, first[i], "input") for i, t in enumerate(input_titles)]
    steps += [(t, last[k], "forecast") for k, t in enumerate(lead_titles)]
    frames = []
    for k, (when, frame, phase) in enumerate(steps):
        heading = f"{prefix}{when} ({phase})"
        fig.suptitle(heading, fontsize=12)
        images[0].set_data(np.ma.masked_invalid(frame))
        if panels == 2:
            forecasting = phase == "forecast"
            if forecasting:
                images[0].set_data(np.ma.masked_invalid(rows[1][1][k - len(first)]))
                images[1].set_data(np.ma.masked_invalid(frame))
            images[1].set_visible(forecasting)
            waiting.set_visible(not forecasting)
        fig.canvas.draw()
        frames.append((heading, np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()))
    return frames


def radar_gif(
    inputs: Any,
    forecast: Any,
    path: str | Path,
    *,
    truth: Any = None,
    kind: str = "rain",
    units: str | None = None,
    step_minutes: float | None = None,
    title: str | None = None,
    origin: str = "upper",
    duration_ms: int = 500,
) -> Path:
    """Write a looping GIF: each input (``-10 min`` .. ``0 min``), then each forecast frame (``+5 min``...).

    With ``truth`` the forecast frames are drawn beside the observed ones; the
    arguments are those of :func:`radar_strip`.
    """
    import imageio.v3 as iio

    frames = radar_gif_frames(
        inputs,
        forecast,
        truth,
        kind=kind,
        units=units,
        step_minutes=step_minutes,
        title=title,
        origin=origin,
    )
    data = iio.imwrite(
        "<bytes>",
        np.stack([image for _, image in frames]),
        extension=".gif",
        plugin="pillow",
        duration=duration_ms,
        loop=0,
    )
    path = Path(path)
    with atomic_file(path) as f:
        f.write(data)
    return path
