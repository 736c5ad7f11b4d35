"""Named models and presets: ``build_model("ms-convlstm", preset="ms-rnn")``.

Every cell module registers its model with :func:`register_model`, which adds
the Flat model under ``name`` and its MultiScale twin under ``ms-<name>``.
Presets hold the papers' settings; without a preset a model gets small,
CPU-friendly defaults.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from convrnn.cells.base import Cell
    from convrnn.models.forecaster import Forecaster


@dataclass(frozen=True)
class Preset:
    """A paper's architecture settings, applied to every model that accepts them."""

    description: str
    num_layers: int
    hidden_channels: int
    kernel_size: int
    patch_size: int
    image_size: tuple[int, int] | None = None
    options: Mapping[str, Any] = field(
        default_factory=dict
    )  # cell options, where a cell takes them


PRESETS: dict[str, Preset] = {
    "ms-rnn": Preset(
        "MS-RNN paper and code: 6 layers x 64 hidden, kernel 3, no patching, 1x1 embed/head, "
        "biased convolutions, no LayerNorm, no forget bias",
        num_layers=6,
        hidden_channels=64,
        kernel_size=3,
        patch_size=1,
        options={"norm": "none", "bias": True, "forget_bias": 0.0},
    ),
    "ms-lstm": Preset(
        "MS-LSTM paper: the MS-RNN code's settings with 32 hidden channels",
        num_layers=6,
        hidden_channels=32,
        kernel_size=3,
        patch_size=1,
        options={"norm": "none", "bias": True, "forget_bias": 0.0},
    ),
    "cms-lstm": Preset(
        "CMS-LSTM and MoDeRNN authors' code: 4 layers x 64 hidden, gate and CE kernel 3, patch 4 on "
        "64x64, LayerNorm over [C, H, W], forget bias 1, bias-free gate convolutions",
        num_layers=4,
        hidden_channels=64,
        kernel_size=3,
        patch_size=4,
        image_size=(64, 64),
        options={"norm": "layer", "bias": False, "forget_bias": 1.0},
    ),
}

#: without a preset: small enough to train in minutes on a laptop CPU
DEFAULTS = Preset(
    "convrnn defaults: 4 layers x 32 hidden, kernel 3, patch 4",
    num_layers=4,
    hidden_channels=32,
    kernel_size=3,
    patch_size=4,
)

STACKS = ("flat", "multiscale")
STACK_OPTIONS = {"flat": (), "multiscale": ("skip",)}
FORECASTER_OPTIONS = ("embed", "checkpointing", "compile", "channels_last")


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: a cell type in a stack type, with its documented parameter counts."""

    name: str
    cell: type[Cell]
    stack: str
    summary: str
    params: Mapping[str, int] = field(default_factory=dict)  # preset -> exact count (official code)
    notes: str = ""  # where and how it differs from the paper or the official code
    defaults: Mapping[str, Any] = field(default_factory=dict)  # cell options for this model
    #: per-preset cell-option overrides
    preset_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: training defaults, e.g. {"sampling": "reverse"}
    training: Mapping[str, Any] = field(default_factory=dict)
    #: regex of parameter names the official layout carries but never uses
    unused: str = ""

    def option_names(self) -> tuple[str, ...]:
        """Every keyword option ``build_model`` accepts for this model."""
        return (*self.cell.option_names(), *STACK_OPTIONS[self.stack], *FORECASTER_OPTIONS)


_MODELS: dict[str, ModelEntry] = {}
_CELL_MODULES = ("convrnn.cells",)


def register_model(
    name: str,
    cell: type[Cell],
    *,
    summary: str,
    params: Mapping[str, int] | None = None,
    ms_params: Mapping[str, int] | None = None,
    notes: str = "",
    defaults: Mapping[str, Any] | None = None,
    preset_options: Mapping[str, Mapping[str, Any]] | None = None,
    training: Mapping[str, Any] | None = None,
    unused: str = "",
    twin: bool = True,
) -> None:
    """Register ``name`` (Flat stack) and, with ``twin``, ``ms-<name>`` (MultiScale stack).

    ``params`` are the exact counts per preset; the twin gets ``ms_params`` or, by
    default, the same counts (pooling, upsampling and "+" skips add no parameters).
    ``training`` holds training defaults the model needs (its sampling schedule);
    ``unused`` is a regex of parameter names that the official layout carries
    but never uses (kept so the counts match; tests check nothing else is unused).
    """
    common = dict(
        notes=notes,
        defaults=dict(defaults or {}),
        preset_options=dict(preset_options or {}),
        training=dict(training or {}),
        unused=unused,
    )
    entries = [ModelEntry(name, cell, "flat", summary, dict(params or {}), **common)]
    if twin:
        twin_params = dict(params or {}) if ms_params is None else dict(ms_params)
        entries.append(
            ModelEntry(
                f"ms-{name}",
                cell,
                "multiscale",
                f"MS-RNN framework around: {summary}",
                twin_params,
                **common,
            )
        )
    for entry in entries:
        if entry.name in _MODELS:
            raise ValueError(f"model {entry.name!r} is registered twice")
        _MODELS[entry.name] = entry


def _load() -> None:
    for module in _CELL_MODULES:
        importlib.import_module(module)


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    _load()
    return sorted(_MODELS)


def list_presets() -> list[str]:
    """Names of all presets, sorted."""
    return sorted(PRESETS)


def get_entry(name: str) -> ModelEntry:
    """The registry entry of ``name``; unknown names raise a KeyError listing the valid ones."""
    _load()
    try:
        return _MODELS[name]
    except KeyError:
        raise KeyError(
            f"unknown model {name!r}; valid models: {', '.join(sorted(_MODELS))}"
        ) from None


def get_preset(preset: str | None) -> Preset:
    """The preset of that name (``None`` gives the defaults); unknown names list the valid ones."""
    if preset is None:
        return DEFAULTS
    try:
        return PRESETS[preset]
    except KeyError:
        raise KeyError(
            f"unknown preset {preset!r}; valid presets: {', '.join(sorted(PRESETS))}"
        ) from None


def _image_size(value: int | tuple[int, int] | list[int] | None) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, int):
        return (value, value)
    h, w = value
    return (int(h), int(w))


def build_model(
    name: str,
    preset: str | None = None,
    *,
    in_channels: int = 1,
    image_size: int | tuple[int, int] | None = None,
    hidden_channels: int | None = None,
    num_layers: int | None = None,
    kernel_size: int | None = None,
    patch_size: int | None = None,
    **options: Any,
) -> Forecaster:
    """Build a registered model, with a preset's settings and any explicit overrides."""
    from convrnn.models.forecaster import Forecaster
    from convrnn.stacks import Flat, MultiScale

    entry = get_entry(name)
    base = get_preset(preset)
    hidden = hidden_channels if hidden_channels is not None else base.hidden_channels
    depth = num_layers if num_layers is not None else base.num_layers
    patch_size = patch_size if patch_size is not None else base.patch_size
    size = _image_size(image_size) if image_size is not None else base.image_size

    valid = entry.option_names()
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for model {name!r}; valid options: {', '.join(sorted(valid))}"
        )
    cell_names = set(entry.cell.option_names())
    cell_opts: dict[str, Any] = {k: v for k, v in base.options.items() if k in cell_names}
    cell_opts.update(entry.defaults)
    cell_opts.update(entry.preset_options.get(preset or "", {}))
    if "kernel_size" in cell_names:
        cell_opts["kernel_size"] = kernel_size if kernel_size is not None else base.kernel_size
    elif kernel_size is not None:
        raise ValueError(f"model {name!r} has fixed kernel sizes; do not pass kernel_size")
    cell_opts.update({k: v for k, v in options.items() if k in cell_names})
    stack_opts = {k: v for k, v in options.items() if k in STACK_OPTIONS[entry.stack]}
    model_opts = {k: v for k, v in options.items() if k in FORECASTER_OPTIONS}

    layer_size = None
    if size is not None:
        if size[0] % patch_size or size[1] % patch_size:
            raise ValueError(f"image_size {size} is not divisible by patch_size={patch_size}")
        layer_size = (size[0] // patch_size, size[1] // patch_size)

    def factory(spec):
        return entry.cell.from_spec(spec, **cell_opts)

    if entry.stack == "flat":
        stack = Flat(factory, depth, hidden, layer_size)
    else:
        stack = MultiScale(factory, depth, hidden, layer_size, **stack_opts)
    if layer_size is not None:
        stack.layer_sizes(*layer_size)  # fail now, not at the first batch, if the size does not fit
    model = Forecaster(stack, in_channels, patch_size, image_size=size, **model_opts)
    model.config = {
        "name": name,
        "preset": preset,
        "in_channels": in_channels,
        "image_size": list(size) if size is not None else None,
        "hidden_channels": hidden,
        "num_layers": depth,
        "kernel_size": cell_opts.get("kernel_size"),
        "patch_size": patch_size,
        "options": dict(options),
    }
    return model


def count_parameters(model: Any) -> int:
    """Number of parameters (shared parameters counted once)."""
    return sum(p.numel() for p in model.parameters())
