"""``convrnn test``: score a trained run on a split against the copy-last-frame baseline, with pictures."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Subset

from convrnn.io import write_text_atomic
from convrnn.metrics import FrameMetrics, persistence
from convrnn.metrics.frames import json_ready
from convrnn.models.forecaster import Forecaster
from convrnn.runs import checkpoint_path, load_forecaster, load_split, read_config, read_normalizer


def copy_last_frame(frames: Tensor, input_length: int, mode: str) -> Tensor:
    """The persistence forecast for the frames a run scores (``future`` or ``all`` next frames)."""
    if mode == "future":
        return persistence(frames[:, :input_length], frames.shape[1] - input_length)
    # the forecast of frame t + 1 is the last frame seen: frame t while reading inputs, then the last input
    t = frames.shape[1]
    index = torch.clamp(torch.arange(t - 1), max=input_length - 1)
    return frames[:, index]


def forecast(
    model: Forecaster, frames: Tensor, input_length: int, mode: str
) -> tuple[Tensor, Tensor]:
    """``(prediction, truth)`` of the scored frames: the future ones, or every next frame."""
    if mode == "future":
        pred = model.predict(frames[:, :input_length], frames.shape[1] - input_length)
        return pred, frames[:, input_length:]
    with torch.no_grad():
        pred = model(frames, input_length).clamp(0, 1)
    return pred, frames[:, 1:]


def layer_output_grid(
    model: Forecaster, sequence: Tensor, input_length: int, horizon: int
) -> Tensor:
    """Channel-mean hidden state of every layer (rows) at every time step (columns), each at full size."""
    from convrnn.viz import sequence_grid

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


def _write_per_frame_csv(path: Path, results: dict[str, dict[str, Any]]) -> None:
    names = list(results)
    metrics = [k[: -len("_per_frame")] for k in results[names[0]] if k.endswith("_per_frame")]
    frames = len(results[names[0]][f"{metrics[0]}_per_frame"])
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(["frame"] + [f"{n}_{m}" for n in names for m in metrics])
    for i in range(frames):
        writer.writerow([i + 1] + [results[n][f"{m}_per_frame"][i] for n in names for m in metrics])
    write_text_atomic(path, text.getvalue())


def result_files(run_dir: str | Path, split: str) -> tuple[Path, Path]:
    """``(metrics JSON, per-frame CSV)`` of a split: ``metrics.json`` / ``metrics_per_frame.csv`` for
    test, ``metrics_<split>.json`` / ``metrics_per_frame_<split>.csv`` for the others."""
    suffix = "" if split == "test" else f"_{split}"
    run_dir = Path(run_dir)
    return run_dir / f"metrics{suffix}.json", run_dir / f"metrics_per_frame{suffix}.csv"


NON_FINITE_NOTE = (
    "null marks a value that is not a finite number (standard JSON has no inf/NaN); the keys are "
    "listed here with what they were. PSNR is +inf for a frame whose 8-bit prediction equals the "
    "truth (per-image PSNR, the papers' definition), and so is any mean over such frames."
)


BASELINES = ("persistence", "optical-flow")


def map_grid(maps: dict[str, Any]) -> Tensor:
    """Arrays ``(steps, H, W)`` per name as rows of one picture, each row scaled to [0, 1]."""
    from convrnn.viz import sequence_grid

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
    from convrnn.viz import save_png

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


def _baseline(name: str, batch: Tensor, t_in: int, mode: str) -> Tensor:
    if name == "persistence":
        return copy_last_frame(batch, t_in, mode)
    from convrnn.metrics import optical_flow_forecast

    if mode != "future":
        raise ValueError(
            "the optical-flow baseline forecasts future frames only; use --frames future"
        )
    return optical_flow_forecast(batch[:, :t_in], batch.shape[1] - t_in).clamp(0, 1)


def test_run(
    run_dir: str | Path,
    checkpoint: str = "best",
    split: str = "test",
    frames: str | None = None,
    num_pictures: int = 4,
    layer_outputs: bool = False,
    max_sequences: int | None = None,
    baselines: tuple[str, ...] = ("persistence",),
    attention_query: tuple[int, int] | None = None,
    context_maps: bool = False,
    map_layers: tuple[int, ...] = (0, -1),
    masked_scores: bool = False,
) -> dict[str, Any]:
    """Score a run; writes ``metrics.json``, ``metrics_per_frame.csv`` and pictures under ``run_dir``.

    Splits other than ``test`` write ``metrics_<split>.json`` and
    ``metrics_per_frame_<split>.csv`` (see :func:`result_files`), so scoring
    ``val`` never replaces the test results. Non-finite values are written as
    ``null`` and listed under ``non_finite`` in the JSON (the returned report
    keeps the floats).

    Radar datasets (whose ``info.radar`` is set) also get CSI/HSS/POD/FAR and
    B-MSE/B-MAE at the dataset's rain-rate thresholds, for the model and every baseline.
    ``attention_query=(y, x)`` draws SA-ConvLSTM's attention maps for that query
    point, ``context_maps`` the CE/DCB and SE weight maps (models that have them),
    for the layers ``map_layers`` (default the first and the last). ``masked_scores``
    restricts the radar scores to the dataset's valid pixels (HKO-7's ``radarPNG_mask``).
    """
    from convrnn.viz import comparison_grid, save_gif, save_png, sequence_grid

    if split not in ("train", "val", "test"):
        raise ValueError(f"split={split!r}; choose test, val or train")
    if max_sequences is not None and max_sequences < 1:
        raise ValueError(f"max_sequences={max_sequences}: score at least 1 sequence (or None: all)")
    unknown = sorted(set(baselines) - set(BASELINES))
    if unknown:
        raise ValueError(f"unknown baseline(s) {unknown}; choose from {BASELINES}")
    run_dir = Path(run_dir)
    cfg = read_config(run_dir)
    ckpt = checkpoint_path(run_dir, checkpoint)
    model = load_forecaster(run_dir, checkpoint)
    mode = frames or cfg["eval"]["frames"]
    if mode not in ("future", "all"):
        raise ValueError(f"frames={mode!r}; choose 'future' or 'all'")
    t_in = cfg["data"]["input_length"]
    dataset = load_split(cfg, split, read_normalizer(run_dir))
    radar = getattr(getattr(dataset, "info", None), "radar", None)
    masks = dataset if masked_scores else None
    if masks is not None and (radar is None or not hasattr(dataset, "masks")):
        raise ValueError(
            f"masked scores need a radar dataset with pixel masks (hko7); {cfg['data']['name']!r} "
            "has none"
        )
    limit = max_sequences if max_sequences is not None else cfg["eval"]["max_sequences"]
    if limit is not None:
        dataset = Subset(dataset, range(min(limit, len(dataset))))
    loader = DataLoader(dataset, batch_size=cfg["eval"]["batch_size"], shuffle=False)

    names = ("model", *baselines)
    scores = {name: FrameMetrics() for name in names}
    nowcast = {name: radar.metrics() for name in names} if radar is not None else {}
    pictures: list[tuple[Tensor, Tensor]] = []
    first = 0  # index of the batch's first sequence (the loader does not shuffle)
    for batch in loader:
        pred, truth = forecast(model, batch, t_in, mode)
        mask = None
        if masks is not None:  # the masks of the scored frames, True = valid pixel
            window_masks = [masks.masks(i) for i in range(first, first + len(batch))]
            mask = np.stack(window_masks)[:, t_in if mode == "future" else 1 :]
        first += len(batch)
        for name in names:
            p = pred if name == "model" else _baseline(name, batch, t_in, mode)
            scores[name].update(p, truth)
            if name in nowcast:
                nowcast[name].update(p, truth, mask)
        if len(pictures) < num_pictures:
            pictures.extend(
                (batch[i], pred[i]) for i in range(min(len(batch), num_pictures - len(pictures)))
            )

    results = {name: acc.compute() for name, acc in scores.items()}
    for name, acc in nowcast.items():
        results[name]["nowcast"] = acc.compute()
    out = run_dir / f"{split}-results"
    horizon = pictures[0][1].shape[0] if pictures else cfg["data"]["output_length"]
    report = {
        "run": str(run_dir),
        "checkpoint": str(ckpt),
        "split": split,
        "frames": mode,
        "frames_note": (
            f"the {horizon} predicted frames after {t_in} inputs"
            if mode == "future"
            else f"all {horizon} next-frame predictions (as the MS-RNN repository's tables)"
        ),
        "num_sequences": results["model"]["num_sequences"],
        "metrics": results["model"],
        "baselines": {name: results[name] for name in baselines},
    }
    if radar is not None:
        report["radar"] = {**radar.to_dict(), "masked": masks is not None}
    metrics_file, per_frame_file = result_files(run_dir, split)
    written, non_finite = json_ready(report)
    if non_finite:
        written["non_finite"] = non_finite
        written["non_finite_note"] = NON_FINITE_NOTE
    write_text_atomic(metrics_file, json.dumps(written, indent=2, allow_nan=False))
    out.mkdir(exist_ok=True)
    _write_per_frame_csv(per_frame_file, results)
    for i, (sequence, pred) in enumerate(pictures):
        truth_part = sequence[t_in:] if mode == "future" else sequence[1:]
        save_png(comparison_grid(sequence[:t_in], truth_part, pred), out / f"sequence_{i:02d}.png")
        side_by_side = [
            sequence_grid([truth_part[t : t + 1], pred[t : t + 1]]) for t in range(len(pred))
        ]
        save_gif(side_by_side, out / f"sequence_{i:02d}.gif")
        if layer_outputs:
            save_png(
                layer_output_grid(model, sequence, t_in, len(pred)), out / f"layers_{i:02d}.png"
            )
        if attention_query is not None or context_maps:
            save_block_maps(
                model, sequence, t_in, out, i, attention_query, context_maps, map_layers
            )
    report["pictures"] = str(out)
    report["metrics_file"], report["per_frame_file"] = str(metrics_file), str(per_frame_file)
    report["non_finite"] = non_finite
    return report
