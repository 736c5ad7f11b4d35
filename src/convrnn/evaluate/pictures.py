"""The pictures of ``convrnn test``: comparison strips and GIFs, layer outputs, attention/context maps.

Runs normalised as rain (mm/h) or reflectivity (dBZ) get radar pictures in
those units (:mod:`convrnn.viz.radar`); every other run gets grey strips of
its [0, 1] frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from convrnn.models.forecaster import Forecaster
from convrnn.viz import (
    comparison_grid,
    radar_gif,
    radar_strip,
    save_gif,
    save_png,
    sequence_grid,
    step_minutes,
)

#: normalisations whose raw units are drawn as radar pictures
RADAR_KINDS = ("rain", "dbz")


def layer_output_grid(
    model: Forecaster, sequence: Tensor, input_length: int, horizon: int
) -> Tensor:
    """Channel-mean hidden state of every layer (rows) at every time step (columns), each at full size."""
    _, layers = model.predict(sequence[None, :input_length], horizon, return_layers=True)
    height, width = sequence.shape[-2:]
    rows = []
    for j in range(len(layers[0])):
        maps = torch.stack([step[j][0].mean(0, keepdim=True) for step in layers])  # (T, 1, h, w)
        lo = maps.amin(dim=(1, 2, 3), keepdim=True)
        hi = maps.amax(dim=(1, 2, 3), keepdim=True)
        maps = (maps - lo) / (hi - lo).clamp_min(1e-8)
        rows.append(torch.nn.functional.interpolate(maps, size=(height, width), mode="nearest"))
    return sequence_grid(rows)


def map_grid(maps: dict[str, Any]) -> Tensor:
    """Arrays ``(steps, H, W)`` per name as rows of one picture, each row scaled to [0, 1]."""
    rows = []
    for array in maps.values():
        t = torch.as_tensor(array, dtype=torch.float32)
        t = (t - t.min()) / (t.max() - t.min()).clamp_min(1e-8)
        rows.append(t[:, None])
    return sequence_grid(rows)


def save_block_maps(
    model: Forecaster,
    sequence: Tensor,
    input_length: int,
    out: Path,
    index: int,
    attention_query: tuple[int, int] | None,
    context: bool,
    layers: tuple[int, ...] = (0, -1),
) -> list[Path]:
    """Attention maps for a query point and CE/SE/DCB maps of one sequence, one PNG per layer.

    ``layers`` (negative counts from the top; default the first and the last,
    as SA-ConvLSTM Fig. 6 draws them) are written as ``attention_II_layerL.png``
    and ``context_II_layerL.png``.
    """
    from convrnn.maps import attention_maps, context_maps

    depth = len(model.stack.cells)
    written = []
    for layer in dict.fromkeys(
        layer % depth if -depth <= layer < depth else layer for layer in layers
    ):
        if attention_query is not None:
            maps = attention_maps(
                model, sequence, attention_query, layer=layer, input_length=input_length
            )
            written.append(
                save_png(map_grid(maps), out / f"attention_{index:02d}_layer{layer}.png")
            )
        if context:
            maps = context_maps(model, sequence, layer=layer, input_length=input_length)
            written.append(save_png(map_grid(maps), out / f"context_{index:02d}_layer{layer}.png"))
    return written


def save_grey_pictures(
    sequence: Tensor, pred: Tensor, input_length: int, mode: str, stem: Path
) -> None:
    """``stem.png``: inputs | truth | prediction | error in grey; ``stem.gif``: truth beside prediction."""
    truth = sequence[input_length:] if mode == "future" else sequence[1:]
    save_png(comparison_grid(sequence[:input_length], truth, pred), stem.with_suffix(".png"))
    side_by_side = [sequence_grid([truth[t : t + 1], pred[t : t + 1]]) for t in range(len(pred))]
    save_gif(side_by_side, stem.with_suffix(".gif"))


def save_radar_pictures(
    sequence: Tensor,
    pred: Tensor,
    input_length: int,
    mode: str,
    stem: Path,
    normalizer: Any,
    step: float | None,
) -> None:
    """``stem.png`` (input | observed | forecast) and ``stem.gif`` in the normaliser's raw units.

    Under ``frames=all`` the forecast drawn is the rollout after the inputs (the
    predictions of frames ``input_length ..``). NaN is drawn as no coverage, and
    the forecast is NaN where no input frame was observed (as ``predict`` writes it).
    """

    def raw(frames: Tensor) -> np.ndarray:
        values = frames.detach().float().cpu().numpy()[:, 0]
        return np.asarray(normalizer.inverse(values), dtype=np.float64)

    inputs, truth = raw(sequence[:input_length]), raw(sequence[input_length:])
    forecast = raw(pred if mode == "future" else pred[input_length - 1 :])
    forecast[:, np.isnan(inputs).all(axis=0)] = np.nan
    drawing = {
        "truth": truth,
        "kind": normalizer.kind,
        "units": normalizer.units,
        "step_minutes": step,
        "title": stem.name.replace("_", " "),
    }
    radar_strip(inputs, forecast, stem.with_suffix(".png"), **drawing)
    radar_gif(inputs, forecast, stem.with_suffix(".gif"), **drawing)


def save_pictures(
    model: Forecaster,
    pictures: Sequence[tuple[Tensor, Tensor]],
    input_length: int,
    mode: str,
    out: Path,
    options: Any,
    normalizer: Any = None,
    interval: Any = None,
) -> None:
    """``sequence_II.png``/``.gif`` of each ``(sequence, prediction)``, plus the maps ``options`` ask for.

    ``options`` is a :class:`convrnn.evaluate.TestOptions` (``layer_outputs``,
    ``attention_maps``, ``context_maps``, ``map_layers``). With a ``rain`` or
    ``dbz`` ``normalizer`` (the run's) the sequences are drawn as radar pictures
    in its units, titled by lead time when ``interval`` (the dataset's
    ``info.interval``, e.g. ``"5 min"``) is a time.
    """
    out.mkdir(exist_ok=True)
    radar = getattr(normalizer, "kind", None) in RADAR_KINDS
    for i, (raw, pred) in enumerate(pictures):
        shown = model.targets_of(raw)  # the predicted channels; NaN = not observed
        if radar and shown.shape[1] == 1:
            save_radar_pictures(shown, pred, input_length, mode, out / f"sequence_{i:02d}",
                                normalizer, step_minutes(interval))  # fmt: skip
        else:
            save_grey_pictures(shown.nan_to_num(0.0), pred.nan_to_num(0.0), input_length, mode,
                               out / f"sequence_{i:02d}")  # fmt: skip
        sequence = raw.nan_to_num(0.0)  # the model's input, as it saw it
        if options.layer_outputs:
            grid = layer_output_grid(model, sequence, input_length, len(pred))
            save_png(grid, out / f"layers_{i:02d}.png")
        if options.attention_maps is not None or options.context_maps:
            save_block_maps(
                model,
                sequence,
                input_length,
                out,
                i,
                options.attention_maps,
                options.context_maps,
                options.map_layers,
            )
