"""Run configuration: defaults, YAML files, ``--set key=value`` overrides, validation (a leaf).

It also holds the one list of valid values of each choice key (``LOSSES``,
``SAMPLING_KINDS``, ...); the training modules that implement them import them here.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from convrnn.errors import ChoiceError, ConfigError, check_choice

#: every key a run understands, with its default; YAML files and ``--set`` may only use these keys
DEFAULTS: dict[str, Any] = {
    "model": {
        "name": "ms-convlstm",
        "preset": None,
        # build_model keywords: hidden_channels, num_layers, kernel_size, patch_size and cell options
        "options": {},
    },
    "data": {
        "name": "moving-mnist",
        "root": None,  # default: $CONVRNN_DATA or ~/.cache/convrnn
        "input_length": 10,
        "output_length": 10,
        "test_output_length": None,  # a longer test horizon (e.g. KTH 10 -> 20); None: output_length
        "options": {},  # options for every split, e.g. {image_size: 64}
        "train_options": {},  # per-split extras, e.g. {num_sequences: 2000}
        "val_options": {},
        "test_options": {},
        "num_workers": 0,
    },
    "train": {
        "batch_size": 4,
        "max_steps": 1000,  # iterations (batches); the reversed-sequence step does not count
        "stop_after": None,  # stop early at this iteration (checkpointed; --resume continues the same run)
        "optimizer": "adam",  # adam | adamw
        "lr": 3e-4,
        "weight_decay": None,  # None: the optimiser's default (0 for Adam, 0.01 for AdamW)
        "betas": [0.9, 0.999],
        "lr_schedule": "none",  # none | cosine | onecycle
        "min_lr": 0.0,  # cosine: final learning rate
        "grad_clip": None,  # max global gradient norm
        # l2 | l1 | l1+l2 | b-mse | b-mae | b-mse+b-mae (HKO-7 balanced by the truth's rain rate;
        # radar data: data.options.normalize=rain or dbz, or a radar dataset) | w-mse | w-mae |
        # w-mse+w-mae (weighted by the truth's normalised value: 1 when 0 .. loss_weight_max when 1)
        "loss": "l1+l2",
        "loss_weight_max": 10.0,  # w-* losses: the weight of a pixel whose truth is 1 (any data)
        "loss_reduction": "frame-sum",  # frame-sum: sum over pixels per frame, mean over frames; mean
        "loss_frames": "all",  # all: every next-frame prediction; future: the output_length frames only
        # auto (the model's schedule, fitted to the run: linear 1 -> 0 by half of the run) | paper
        # (the model's paper schedule: linear 1 -> 0 over the whole run) | none | predrnn | linear | reverse
        "sampling": "auto",
        "sampling_options": {},  # see convrnn.train.sampling
        "reverse_sequence": False,  # second optimiser step on the time-reversed sequence (CMS-LSTM)
        "val_every": None,  # validate every N iterations and at the end; None: max_steps / 5, at most 500
        "val_batches": None,  # limit validation to N batches (None: the whole split)
        "checkpoint_every": 500,  # write last.ckpt every N iterations (and at the end)
        "seed": 42,
        "devices": 1,  # processes (GPUs) per node
        "num_nodes": 1,  # machines; torchrun --nnodes / SLURM nodes (world size = devices x num_nodes)
        "threads": None,  # CPU threads per process; None: OMP_NUM_THREADS, else usable cores / processes
        "accelerator": "auto",  # auto | cpu | gpu
        # auto: bf16-mixed where the device runs bf16 natively (convrnn.hardware), else 32-true
        "precision": "auto",  # auto | 32-true | bf16-mixed | 16-mixed
        "compile": False,
        "progress_bar": True,
    },
    "eval": {
        "frames": "future",  # future: the output_length predictions; all: every next-frame prediction
        "batch_size": 8,
        "max_sequences": None,  # score only the first N test sequences (None: all)
    },
}

#: frame losses (convrnn.train.losses) and their reductions
#: the HKO-7 balanced losses (weights from the truth's rain rate; radar data only)
BALANCED_LOSSES = ("b-mse", "b-mae", "b-mse+b-mae")
#: the plain weighted losses (weights rise linearly with the truth's normalised value; any data)
WEIGHTED_LOSSES = ("w-mse", "w-mae", "w-mse+w-mae")
LOSSES = ("l2", "l1", "l1+l2", *BALANCED_LOSSES, *WEIGHTED_LOSSES)
LOSS_REDUCTIONS = ("frame-sum", "mean")
#: teacher-forcing schedules (convrnn.train.sampling); the config also takes "auto"
SAMPLING_KINDS = ("none", "predrnn", "linear", "reverse")
#: which predictions are scored (evaluation) or trained on (loss)
FRAMES = ("future", "all")

CHOICES: dict[str, tuple[str, ...]] = {
    "train.optimizer": ("adam", "adamw"),
    "train.lr_schedule": ("none", "cosine", "onecycle"),
    "train.loss": LOSSES,
    "train.loss_reduction": LOSS_REDUCTIONS,
    "train.loss_frames": FRAMES,
    "train.sampling": ("auto", "paper", *SAMPLING_KINDS),
    "train.accelerator": ("auto", "cpu", "gpu"),
    "train.precision": ("auto", "32-true", "32", "bf16-mixed", "16-mixed", "bf16-true"),
    "eval.frames": FRAMES,
}
#: dict-valued keys whose contents are free-form (checked by the model / dataset / schedule)
FREE_FORM = {
    "model.options",
    "data.options",
    "data.train_options",
    "data.val_options",
    "data.test_options",
    "train.sampling_options",
}


class _Loader(yaml.SafeLoader):
    """YAML loader that also reads ``1e-3`` (no dot) as a float, as people write learning rates."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)$"),
    list("-+0123456789."),
)


def yaml_load(text: str) -> Any:
    """Parse YAML text with :class:`_Loader`."""
    return yaml.load(text, Loader=_Loader)


def merge(base: Mapping[str, Any], update: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Deep-merge ``update`` into a copy of ``base``; keys unknown to ``base`` are errors."""
    out = copy.deepcopy(dict(base))
    for key, value in update.items():
        path = f"{prefix}{key}"
        if key not in out:
            valid = ", ".join(f"{prefix}{k}" for k in out)
            raise ConfigError(f"unknown config key {path!r}; valid keys here: {valid}")
        if path in FREE_FORM:
            if value is not None and not isinstance(value, Mapping):
                raise ConfigError(f"{path} must be a mapping, got {value!r}")
            out[key] = {**out[key], **dict(value or {})}
        elif isinstance(out[key], dict):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{path} must be a mapping, got {value!r}")
            out[key] = merge(out[key], value, f"{path}.")
        else:
            out[key] = value
    return out


def parse_set(assignments: list[str]) -> dict[str, Any]:
    """``["train.lr=1e-3", "model.options.hidden_channels=16"]`` -> nested dict (values parsed as YAML)."""
    nested: dict[str, Any] = {}
    for item in assignments:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        if not all(parts):
            raise ConfigError(f"--set: bad key {key!r}")
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        try:
            node[parts[-1]] = yaml_load(raw)
        except yaml.YAMLError as e:
            raise ConfigError(
                f"--set {item}: the value is not valid YAML ({str(e).splitlines()[0]}); quote "
                "strings and close brackets, e.g. --set train.betas=[0.9,0.99]"
            ) from None
    return nested


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file (a mapping)."""
    try:
        data = yaml_load(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except IsADirectoryError:
        raise ConfigError(f"--config {path} is a folder; give a YAML file (see recipes/)") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not a text (YAML) file") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path} is not valid YAML: {e}") from e
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return dict(data)


def _positive_int(cfg: Mapping[str, Any], path: str, allow_none: bool = False) -> None:
    section, key = path.split(".")
    value = cfg[section][key]
    if value is None and allow_none:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{path} must be a positive integer, got {value!r}")


def _check_types(cfg: Mapping[str, Any], defaults: Mapping[str, Any], prefix: str = "") -> None:
    """Every value whose default is a number or a bool has that type (numbers finite)."""
    for key, default in defaults.items():
        path, value = f"{prefix}{key}", cfg.get(key)
        if isinstance(default, Mapping) and path not in FREE_FORM:
            _check_types(value, default, f"{path}.")
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{path} must be true or false, got {value!r}")
        elif isinstance(default, int | float):
            want = "an integer" if isinstance(default, int) else "a finite number"
            ok = (
                isinstance(value, int)
                if isinstance(default, int)
                else isinstance(value, int | float)
            )
            if not ok or isinstance(value, bool) or not math.isfinite(value):
                raise ConfigError(f"{path} must be {want}, got {value!r}")


def validate(cfg: Mapping[str, Any]) -> None:
    """Raise ConfigError naming the first invalid value."""
    _check_types(cfg, DEFAULTS)
    for path, choices in CHOICES.items():
        section, key = path.split(".")
        value = cfg[section][key]
        try:
            check_choice(f"{path} value", value, choices)
        except ChoiceError as e:
            raise ChoiceError(f"{path}={value!r}: {e}") from None
    for path in (
        "data.input_length",
        "data.output_length",
        "train.batch_size",
        "train.max_steps",
        "train.checkpoint_every",
        "train.devices",
        "train.num_nodes",
        "eval.batch_size",
    ):
        _positive_int(cfg, path)
    _positive_int(cfg, "train.val_batches", allow_none=True)
    _positive_int(cfg, "train.val_every", allow_none=True)
    _positive_int(cfg, "data.test_output_length", allow_none=True)
    _positive_int(cfg, "train.stop_after", allow_none=True)
    _positive_int(cfg, "train.threads", allow_none=True)
    _positive_int(cfg, "eval.max_sequences", allow_none=True)
    if cfg["train"]["min_lr"] < 0:
        raise ConfigError(f"train.min_lr must be >= 0, got {cfg['train']['min_lr']!r}")
    lr = cfg["train"]["lr"]
    if not isinstance(lr, int | float) or lr <= 0:
        raise ConfigError(f"train.lr must be a positive number, got {lr!r}")
    clip = cfg["train"]["grad_clip"]
    if clip is not None and (
        not isinstance(clip, int | float) or not math.isfinite(clip) or clip <= 0
    ):
        raise ConfigError(f"train.grad_clip must be a positive number or null, got {clip!r}")
    top = cfg["train"]["loss_weight_max"]
    if isinstance(top, bool) or not isinstance(top, int | float) or not 1 <= top < math.inf:
        raise ConfigError(
            f"train.loss_weight_max must be a number >= 1 (1: no weighting), got {top!r}"
        )
    if not isinstance(cfg["model"]["name"], str):
        raise ConfigError("model.name must be a model name (see `convrnn models`)")


def stop_iteration(cfg: Mapping[str, Any]) -> int:
    """The iteration at which this invocation stops: ``max_steps``, or ``stop_after`` if earlier."""
    train = cfg["train"]
    stop = train["stop_after"]
    return train["max_steps"] if stop is None else min(stop, train["max_steps"])


#: the longest default validation interval (iterations)
DEFAULT_VAL_EVERY = 500
#: validations per run at least, by default (the last one at the end)
DEFAULT_VALIDATIONS = 5


def val_every(cfg: Mapping[str, Any]) -> int:
    """Iterations between validations: ``train.val_every``, or by default ``max_steps / 5`` (at most 500).

    The default validates at least five times per run (so ``best.ckpt`` chooses among
    several scores even in a run of a few hundred steps), and every 500 iterations in
    longer runs.
    """
    train = cfg["train"]
    if train["val_every"] is not None:
        return int(train["val_every"])
    return min(DEFAULT_VAL_EVERY, max(1, math.ceil(train["max_steps"] / DEFAULT_VALIDATIONS)))


def resolve(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults, then each layer (YAML file, flags, --set) merged in order, then validated."""
    cfg = copy.deepcopy(DEFAULTS)
    for layer in layers:
        cfg = merge(cfg, layer)
    validate(cfg)
    return cfg


#: keys a resumed run may change: where and how it runs, when this invocation stops, how it is
#: tested; everything else (model, data, optimiser, schedules, batch size, max_steps) is fixed
#: by the checkpoint, whose optimiser, LR-schedule and sampling states were built for it
RESUME_MUTABLE = (
    "train.stop_after",
    "train.devices",
    "train.num_nodes",
    "train.threads",
    "train.accelerator",
    "train.progress_bar",
    "data.root",
    "data.num_workers",
    "eval",
)


def differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two configs (nested mappings compared key by key)."""
    out = []
    for key in sorted(set(old) | set(new), key=str):
        path = f"{prefix}{key}"
        a, b = old.get(key), new.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += differences(a, b, f"{path}.")
        elif a != b:
            out.append(path)
    return out


def resume_changes(saved: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
    """The keys ``cfg`` changes from a run's ``saved`` config that a resumed run may not change."""

    def mutable(path: str) -> bool:
        return any(path == key or path.startswith(f"{key}.") for key in RESUME_MUTABLE)

    return [path for path in differences(saved, cfg) if not mutable(path)]


def dump(cfg: Mapping[str, Any]) -> str:
    """The config as YAML text."""
    return yaml.safe_dump(dict(cfg), sort_keys=False)
