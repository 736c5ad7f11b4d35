"""``convrnn test``: score a trained run on a split against the copy-last-frame baseline, with pictures.

:func:`test_run` takes the run directory and a :class:`TestOptions`; the
scores come from :mod:`convrnn.metrics` (``FrameMetrics`` for every dataset,
``NowcastMetrics`` at the radar thresholds of radar datasets), the files from
:mod:`convrnn.evaluate.results` and the pictures from :mod:`convrnn.evaluate.pictures`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Subset

from convrnn import progress
from convrnn.data.coverage import blank_unobserved, split_coverage, window_coverage
from convrnn.errors import ConfigError
from convrnn.evaluate.physical import (
    THRESHOLDS,
    PhysicalScores,
    per_frame_columns,
)
from convrnn.evaluate.pictures import layer_output_grid, map_grid, save_block_maps, save_pictures
from convrnn.evaluate.results import (
    NON_FINITE_NOTE,
    result_files,
    write_per_frame_csv,
    write_report,
)
from convrnn.metrics import FrameMetrics, NowcastMetrics, persistence
from convrnn.models.forecaster import Forecaster
from convrnn.models.inference import InferenceOptions, options_of, prepare, run_batches
from convrnn.runs import checkpoint_path, load_forecaster, read_config, read_normalizer
from convrnn.train.data import load_split
from convrnn.viz import step_minutes

__all__ = [
    "BASELINES",
    "NON_FINITE_NOTE",
    "TestOptions",
    "copy_last_frame",
    "forecast",
    "layer_output_grid",
    "map_grid",
    "result_files",
    "save_block_maps",
    "test_run",
]

BASELINES = ("persistence", "optical-flow")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class TestOptions:
    """What ``convrnn test`` scores and draws; every field is one of the command's options.

    ``frames``: ``future`` or ``all`` (None: the run's ``eval.frames``);
    ``pictures``: sequences drawn; ``max_sequences``: None for the run's
    ``eval.max_sequences``; ``attention_maps``: the ``(y, x)`` query point of
    SA-ConvLSTM's attention maps, or None; ``context_maps``: the CE/DCB and SE
    weight maps; ``map_layers``: the layers of both (negative counts from the
    top); ``masks``: radar scores on the dataset's valid pixels only (HKO-7); ``inference``:
    device, sequences per forward (None: the run's ``eval.batch_size``), precision, compile.
    """

    __test__ = False  # not a pytest test class

    checkpoint: str = "best"
    split: str = "test"
    frames: str | None = None
    pictures: int = 4
    layer_outputs: bool = False
    max_sequences: int | None = None
    baselines: tuple[str, ...] = ("persistence",)
    attention_maps: tuple[int, int] | None = None
    context_maps: bool = False
    map_layers: tuple[int, ...] = (0, -1)
    masks: bool = False
    inference: InferenceOptions | None = None

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ConfigError(f"split={self.split!r}; choose test, val or train")
        if self.max_sequences is not None and self.max_sequences < 1:
            raise ConfigError(
                f"max_sequences={self.max_sequences}: score at least 1 sequence (or None: all)"
            )
        unknown = sorted(set(self.baselines) - set(BASELINES))
        if unknown:
            raise ConfigError(f"unknown baseline(s) {unknown}; choose from {BASELINES}")
        if self.frames is not None:
            check_frames_mode(self.frames)

    #: the positional order of the former ``test_run`` keywords, and their former names
    LEGACY = (
        ("checkpoint", "checkpoint"),
        ("split", "split"),
        ("frames", "frames"),
        ("num_pictures", "pictures"),
        ("layer_outputs", "layer_outputs"),
        ("max_sequences", "max_sequences"),
        ("baselines", "baselines"),
        ("attention_query", "attention_maps"),
        ("context_maps", "context_maps"),
        ("map_layers", "map_layers"),
        ("masked_scores", "masks"),
    )

    @classmethod
    def from_legacy(cls, *args: Any, **kwargs: Any) -> TestOptions:
        """Options from the former ``test_run(run_dir, checkpoint, split, ...)`` arguments."""
        if len(args) > len(cls.LEGACY):
            raise TypeError(f"test_run takes at most {len(cls.LEGACY)} options, got {len(args)}")
        names = dict(cls.LEGACY)
        values = {names[old]: value for (old, _), value in zip(cls.LEGACY, args, strict=False)}
        for key, value in kwargs.items():
            new = names.get(key, key)
            if new not in {f.name for f in fields(cls)} or new in values:
                raise TypeError(f"test_run got an unexpected or repeated option {key!r}")
            values[new] = value
        return cls(**values)


def check_frames_mode(mode: str) -> str:
    """``mode`` if it is ``future`` or ``all``, else :class:`ConfigError`."""
    if mode not in ("future", "all"):
        raise ConfigError(f"frames={mode!r}; choose 'future' or 'all'")
    return mode


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
    """``(prediction, truth)`` of the scored frames: the future ones, or every next frame.

    Runs with the options :func:`convrnn.models.inference.prepare` gave the model (CPU float32).
    """
    inference = options_of(model)
    if mode == "future":
        horizon = frames.shape[1] - input_length
        pred = run_batches(
            model, frames[:, :input_length], lambda m, x: m.predict(x, horizon), inference
        )
        return pred, model.targets_of(frames[:, input_length:])
    pred = run_batches(model, frames, lambda m, x: m(x, input_length).clamp(0, 1), inference)
    return pred, model.targets_of(frames[:, 1:])


def _baseline(name: str, batch: Tensor, t_in: int, mode: str) -> Tensor:
    if name == "persistence":
        return copy_last_frame(batch, t_in, mode)
    from convrnn.metrics import optical_flow_forecast

    if mode != "future":
        raise ConfigError(
            "the optical-flow baseline forecasts future frames only; use --frames future"
        )
    return optical_flow_forecast(batch[:, :t_in], batch.shape[1] - t_in).clamp(0, 1)


def test_run(
    run_dir: str | Path, options: TestOptions | None = None, *legacy: Any, **legacy_kw: Any
) -> dict[str, Any]:
    """Score a run; writes ``metrics.json``, ``metrics_per_frame.csv`` and pictures under ``run_dir``.

    Splits other than ``test`` write ``metrics_<split>.json`` and
    ``metrics_per_frame_<split>.csv`` (see :func:`result_files`), so scoring
    ``val`` never replaces the test results. Non-finite values are written as
    ``null`` and listed under ``non_finite`` in the JSON (the returned report
    keeps the floats).

    Radar datasets (whose ``info.radar`` is set) also get CSI/HSS/POD/FAR and
    B-MSE/B-MAE at the dataset's rain-rate thresholds, for the model and every
    baseline. The former positional form ``test_run(run_dir, checkpoint, split,
    ...)`` is still accepted (see :meth:`TestOptions.from_legacy`).
    """
    if not isinstance(options, TestOptions):  # the former form (until cli.py passes options)
        first = () if options is None else (options,)
        options = TestOptions.from_legacy(*first, *legacy, **legacy_kw)
    elif legacy or legacy_kw:
        raise TypeError("test_run(run_dir, options) takes no further arguments")
    run_dir = Path(run_dir)
    cfg = read_config(run_dir)
    ckpt = checkpoint_path(run_dir, options.checkpoint)
    inference = options.inference or InferenceOptions()
    inference = replace(inference, batch_size=inference.batch_size or cfg["eval"]["batch_size"])
    model = prepare(load_forecaster(run_dir, options.checkpoint, inference.torch_device), inference)
    mode = check_frames_mode(options.frames or cfg["eval"]["frames"])
    options = replace(options, frames=mode)
    t_in = cfg["data"]["input_length"]
    dataset = load_split(cfg, options.split, read_normalizer(run_dir))
    info = getattr(dataset, "info", None)
    radar = getattr(info, "radar", None)
    interval = getattr(info, "interval", None)  # for lead times and picture titles
    masks = dataset if options.masks else None
    if masks is not None and (radar is None or not hasattr(dataset, "masks")):
        raise ConfigError(
            f"masked scores need a radar dataset with pixel masks (hko7); {cfg['data']['name']!r} "
            "has none"
        )
    normalizer = getattr(dataset, "normalizer", None)
    physical = None
    if normalizer is not None and normalizer.kind in THRESHOLDS:
        physical = PhysicalScores(normalizer, ("model", *options.baselines))
    limit = options.max_sequences
    if limit is None:
        limit = cfg["eval"]["max_sequences"]
    if limit is not None:
        dataset = Subset(dataset, range(min(limit, len(dataset))))
    loader = DataLoader(dataset, batch_size=inference.batch_size, shuffle=False)

    names = ("model", *options.baselines)
    scores = {name: FrameMetrics() for name in names}
    nowcast: dict[str, NowcastMetrics] = {}
    if radar is not None:  # the dataset's verification thresholds (mm/h) and Z-R law
        nowcast = {name: NowcastMetrics(radar.thresholds, radar.law) for name in names}
    pictures: list[tuple[Tensor, Tensor]] = []
    first = 0  # index of the batch's first sequence (the loader does not shuffle)
    bar = progress.bar(len(dataset), f"score {options.split}", unit="seq")
    for raw in loader:
        batch, seen = split_coverage(raw)  # NaN (not observed) filled for the models
        pred, truth = forecast(model, batch, t_in, mode)
        # scored pixels: observed in every frame of the window, and valid in the dataset's masks
        mask = None if seen is None else window_coverage(model.targets_of(seen)).cpu().numpy()
        if masks is not None:  # the masks of the scored frames, True = valid pixel
            window_masks = [masks.masks(i) for i in range(first, first + len(batch))]
            valid = np.stack(window_masks)[:, t_in if mode == "future" else 1 :]
            mask = valid if mask is None else valid & mask
        first += len(batch)
        for name in names:
            p = pred if name == "model" else model.targets_of(_baseline(name, batch, t_in, mode))
            scores[name].update(p, truth, mask)
            if name in nowcast:
                nowcast[name].update(p, truth, mask)
            if physical is not None:
                physical.update(name, p, truth, mask)
        wanted = options.pictures - len(pictures)
        shown = blank_unobserved(pred, model.targets_of(raw[:, :t_in]))  # NaN: never seen
        pictures.extend((raw[i], shown[i]) for i in range(min(len(batch), max(wanted, 0))))
        bar.update(len(batch))
    bar.close()

    results = {name: acc.compute() for name, acc in scores.items()}
    for name, acc in nowcast.items():
        results[name]["nowcast"] = acc.compute()
    out = run_dir / f"{options.split}-results"
    horizon = pictures[0][1].shape[0] if pictures else cfg["data"]["output_length"]
    report = {
        "run": str(run_dir),
        "checkpoint": str(ckpt),
        "split": options.split,
        "frames": mode,
        "frames_note": (
            f"the {horizon} predicted frames after {t_in} inputs"
            if mode == "future"
            else f"all {horizon} next-frame predictions (as the MS-RNN repository's tables)"
        ),
        "num_sequences": results["model"]["num_sequences"],
        "metrics": results["model"],
        "baselines": {name: results[name] for name in options.baselines},
    }
    if radar is not None:
        report["radar"] = {**radar.to_dict(), "masked": masks is not None}
    extra = None
    if physical is not None:
        step = step_minutes(interval)
        # lead of the first scored frame after the last input: 1, or 2 - t_in for every next frame
        report["physical"] = physical.compute(step, 1 if mode == "future" else 2 - t_in)
        extra = per_frame_columns(report["physical"], names)
    metrics_file, per_frame_file = result_files(run_dir, options.split)
    non_finite = write_report(metrics_file, report)
    write_per_frame_csv(per_frame_file, results, extra)
    save_pictures(model.cpu(), pictures, t_in, mode, out, options, normalizer, interval)
    report["pictures"] = str(out)
    report["metrics_file"], report["per_frame_file"] = str(metrics_file), str(per_frame_file)
    report["non_finite"] = non_finite
    return report


test_run.__test__ = False  # not a pytest test function
