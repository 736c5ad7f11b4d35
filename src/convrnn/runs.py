"""Run directories: their config, their data splits and their trained Forecaster (no Lightning needed).

A run directory holds ``config.yaml`` (the resolved training config),
``model.json`` (the exact ``build_model`` keywords), ``checkpoints/last.ckpt``
and ``checkpoints/best.ckpt`` (best on the validation split), and ``logs/``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from convrnn.data import get_dataset
from convrnn.errors import CheckpointError, RunError
from convrnn.io import load_checkpoint
from convrnn.models.forecaster import Forecaster
from convrnn.registry import build_model
from convrnn.train import config as config_lib

CONFIG_FILE = "config.yaml"
MODEL_FILE = "model.json"
NORMALIZER_FILE = "normalization.json"


def read_config(run_dir: str | Path) -> dict[str, Any]:
    """The resolved training config of a run directory."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} is not a run directory: {CONFIG_FILE} is missing")
    return config_lib.resolve(config_lib.load_yaml(path))


def read_build(run_dir: str | Path) -> dict[str, Any]:
    """The ``build_model`` keywords of a run."""
    path = Path(run_dir) / MODEL_FILE
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} is not a run directory: {MODEL_FILE} is missing")
    return json.loads(path.read_text())


def checkpoint_path(run_dir: str | Path, checkpoint: str = "best") -> Path:
    """``best`` / ``last`` of a run, or an explicit path."""
    if checkpoint in ("best", "last"):
        path = Path(run_dir) / "checkpoints" / f"{checkpoint}.ckpt"
    else:
        path = Path(checkpoint)
    if not path.exists():
        raise RunError(f"checkpoint {path} not found (choose best, last or a .ckpt path)")
    return path


def read_normalizer(run_dir: str | Path) -> Any:
    """The run's data normalisation (fitted on its training split), or ``None`` if it has none."""
    path = Path(run_dir) / NORMALIZER_FILE
    if not path.exists():
        return None
    from convrnn.data import Normalizer

    return Normalizer.from_dict(json.loads(path.read_text()))


def load_forecaster(
    run_dir: str | Path, checkpoint: str = "best", map_location: Any = "cpu"
) -> Forecaster:
    """Rebuild the run's model from ``model.json`` and load its weights (``weights_only``), in eval mode."""
    build = read_build(run_dir)
    build.pop("compile", None)  # evaluation runs eagerly; compile again with model._step if needed
    model = build_model(**build)
    path = checkpoint_path(run_dir, checkpoint)
    state = load_checkpoint(path, map_location)["state_dict"]
    prefix = "model."
    weights = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:  # missing, unexpected or mis-shaped weights
        raise CheckpointError(
            f"checkpoint {path} does not hold the weights of the model in {Path(run_dir) / MODEL_FILE} "
            f"({' '.join(str(e).split())[:300]}); use a checkpoint of this run (best or last)"
        ) from None
    return model.eval()


#: datasets whose sequence length is a loader option (Typhoon's 12 frames are fixed)
SEQ_LEN_DATASETS = ("moving-mnist", "kth", "taxibj", "hko7", "germany")


def split_length(cfg: dict[str, Any], split: str) -> int:
    """Frames per sequence of ``split``: inputs + outputs (``data.test_output_length`` for test)."""
    data = cfg["data"]
    out = data["output_length"]
    if split == "test" and data["test_output_length"] is not None:
        out = data["test_output_length"]
    return data["input_length"] + out


def dataset_options(cfg: dict[str, Any], split: str, normalizer: Any = None) -> dict[str, Any]:
    """The options passed to the dataset loader for ``split`` (lengths filled in from the config)."""
    data = cfg["data"]
    options = {**data["options"], **data[f"{split}_options"]}
    total = split_length(cfg, split)
    if data["name"] in SEQ_LEN_DATASETS:
        options.setdefault("seq_len", total)
    elif data["name"] == "arrays":
        options.setdefault("input_length", data["input_length"])
        options.setdefault("output_length", total - data["input_length"])
        if normalizer is not None:
            options.setdefault("normalizer", normalizer)
    return options


def load_split(cfg: dict[str, Any], split: str, normalizer: Any = None) -> Dataset:
    """The ``split`` dataset of a config, checked to yield the configured number of frames.

    ``normalizer`` (a dict or Normalizer fitted on the training split) is reused
    by datasets that fit one, so every split is normalised the same way.
    """
    data = cfg["data"]
    dataset = get_dataset(
        data["name"], data["root"], split, **dataset_options(cfg, split, normalizer)
    )
    if len(dataset) == 0:
        raise ValueError(f"the {split} split of dataset {data['name']!r} is empty")
    sample = dataset[0]
    total = split_length(cfg, split)
    if sample.dim() != 4 or sample.shape[0] != total:
        raise ValueError(
            f"dataset {data['name']!r} ({split}) yields sequences of shape {tuple(sample.shape)}, but "
            f"data.input_length + data.output_length = {total} frames (T, C, H, W) are needed; "
            "set the lengths or the dataset's sequence-length option to match"
        )
    return dataset
