"""Run directories: their config, normalisation and trained Forecaster (no Lightning needed).

A run directory holds ``config.yaml`` (the resolved training config),
``model.json`` (the exact ``build_model`` keywords), ``checkpoints/last.ckpt``
and ``checkpoints/best.ckpt`` (best on the validation split), and ``logs/``.
:func:`load_forecaster` and :func:`read_normalizer` also read a bundle
(:mod:`convrnn.bundle`, written by ``convrnn export``) and ``hf://owner/name``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from convrnn import config as config_lib
from convrnn.bundle import bundle_normalizer, is_bundle, load_bundle, model_source
from convrnn.data import Normalizer
from convrnn.errors import CheckpointError, RunError
from convrnn.io import load_checkpoint
from convrnn.models.factory import build_model
from convrnn.models.forecaster import Forecaster

CONFIG_FILE = "config.yaml"
MODEL_FILE = "model.json"
NORMALIZER_FILE = "normalization.json"
#: the training data's metadata (interval between frames, frame size, radar conversion)
DATA_FILE = "data.json"


def read_config(run_dir: str | Path) -> dict[str, Any]:
    """The resolved training config of a run directory."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists() and is_bundle(run_dir):
        raise RunError(
            f"{run_dir} is a model bundle: it holds no training config; use the run it was exported from"
        )
    if not path.exists():
        raise RunError(f"{run_dir} is not a run directory: {CONFIG_FILE} is missing")
    return config_lib.resolve(config_lib.load_yaml(path))


def read_build(run_dir: str | Path) -> dict[str, Any]:
    """The ``build_model`` keywords of a run."""
    path = Path(run_dir) / MODEL_FILE
    if not path.exists():
        raise RunError(f"{run_dir} is not a run directory: {MODEL_FILE} is missing")
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
    """The run's (or bundle's) data normalisation (fitted on its training split), or ``None``."""
    run_dir = model_source(run_dir)
    if is_bundle(run_dir):
        return bundle_normalizer(run_dir)
    path = Path(run_dir) / NORMALIZER_FILE
    if not path.exists():
        return None
    return Normalizer.from_dict(json.loads(path.read_text()))


def load_forecaster(
    run_dir: str | Path, checkpoint: str = "best", map_location: Any = "cpu"
) -> Forecaster:
    """Rebuild the run's model from ``model.json`` and load its weights (``weights_only``), in eval mode.

    ``run_dir`` may also be a bundle or ``hf://owner/name`` (see :mod:`convrnn.bundle`).
    """
    run_dir = model_source(run_dir)
    if is_bundle(run_dir):
        return load_bundle(run_dir, checkpoint, map_location)
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


def read_data_info(run_dir: str | Path) -> dict[str, Any]:
    """The training data's metadata of a run (``data.json``) or bundle; ``{}`` when not recorded."""
    if is_bundle(run_dir):
        from convrnn.bundle import read_bundle_config

        config = read_bundle_config(run_dir)
        return {
            "interval": config.get("interval"),
            "options": config.get("data", {}).get("options", {}),
        }
    path = Path(run_dir) / DATA_FILE
    return json.loads(path.read_text()) if path.exists() else {}
