"""Building named models: presets and :func:`build_model` (``build_model("ms-convlstm", preset="ms-rnn")``).

The registry (:mod:`convrnn.cells.registry`) says which cell and stack a name
means; this module turns an entry, a preset and the user's overrides into a
Forecaster. Presets hold the papers' settings; without a preset a model gets
small, CPU-friendly defaults.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from torch import nn

from convrnn.cells.base import LayerSpec, check_compat
from convrnn.cells.registry import FORECASTER_OPTIONS, STACK_OPTIONS, ModelEntry, get_entry
from convrnn.cost.counters import count_parameters
from convrnn.errors import ConfigError, check_choice
from convrnn.models.forecaster import Forecaster
from convrnn.stacks import Flat, MultiScale
from convrnn.stacks.base import Stack


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


_MS_RNN = Preset(
    "MS-RNN paper and code: 6 layers x 64 hidden, kernel 3, no patching, 1x1 embed/head, "
    "biased convolutions, no LayerNorm, no forget bias",
    num_layers=6,
    hidden_channels=64,
    kernel_size=3,
    patch_size=1,
    options={"norm": "none", "bias": True, "forget_bias": 0.0},
)

PRESETS: dict[str, Preset] = {
    "ms-rnn": _MS_RNN,
    "ms-lstm": replace(
        _MS_RNN,
        description="MS-LSTM paper: the MS-RNN code's settings with 32 hidden channels",
        hidden_channels=32,
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


def list_presets() -> list[str]:
    """Names of all presets, sorted."""
    return sorted(PRESETS)


def get_preset(preset: str | None) -> Preset:
    """The preset of that name (``None`` gives the defaults); unknown names list the valid ones."""
    if preset is None:
        return DEFAULTS
    return PRESETS[check_choice("preset", preset, PRESETS)]


def _image_size(value: int | tuple[int, int] | list[int] | None) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, int):
        return (value, value)
    h, w = value
    return (int(h), int(w))


def _check_positive(**values: int | None) -> None:
    """Raise a ConfigError naming the first setting that is not a positive integer."""
    for name, value in values.items():
        bad = isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1
        if value is not None and bad:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}; pass {name} >= 1")


def _cell_options(
    entry: ModelEntry,
    base: Preset,
    preset: str | None,
    kernel_size: int | None,
    options: Mapping[str, Any],
) -> dict[str, Any]:
    """The cell options of ``entry``: the preset's, the entry's per-preset ones, then the user's."""
    names = set(entry.cell_option_names())
    cell_opts: dict[str, Any] = {k: v for k, v in base.options.items() if k in names}
    cell_opts.update(entry.preset_options.get(preset or "", {}))
    if "kernel_size" in names:
        cell_opts["kernel_size"] = kernel_size if kernel_size is not None else base.kernel_size
    elif kernel_size is not None:
        raise ConfigError(f"model {entry.name!r} has fixed kernel sizes; do not pass kernel_size")
    cell_opts.update({k: v for k, v in options.items() if k in names})
    return cell_opts


def _layer_size(size: tuple[int, int] | None, patch_size: int) -> tuple[int, int] | None:
    """The stack's input size for frames of ``size`` cut into ``patch_size`` patches."""
    if size is None:
        return None
    if size[0] % patch_size or size[1] % patch_size:
        raise ConfigError(
            f"image_size {size} is not divisible by patch_size={patch_size}; pass an image_size "
            f"that is a multiple of {patch_size} or another patch_size"
        )
    return (size[0] // patch_size, size[1] // patch_size)


def _with_targets(
    options: dict[str, Any], out_channels: int | None, in_channels: int
) -> dict[str, Any]:
    """``options`` with ``out_channels=k`` turned into ``target_channels`` (the first k channels)."""
    if out_channels is None:
        return options
    _check_positive(out_channels=out_channels)
    if out_channels > in_channels:
        raise ConfigError(
            f"out_channels={out_channels} > in_channels={in_channels}: the model predicts a subset "
            "of its input channels; add the predicted variables to the input"
        )
    first = list(range(out_channels))
    given = options.get("target_channels")
    if given is not None and len(list(given)) != out_channels:
        raise ConfigError(
            f"out_channels={out_channels} but target_channels={given!r}; give one of them"
        )
    return {**options, "target_channels": given if given is not None else first}


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
    out_channels: int | None = None,
    **options: Any,
) -> Forecaster:
    """Build a registered model, with a preset's settings and any explicit overrides.

    Every model takes ``compat="paper"`` (the default: the papers' maths) or
    ``"official"`` (the official MS-RNN code's numerics where convrnn fixed them:
    TrajGRU's and MotionRNN's warp, MotionRNN's reshapes, MS-MIM's and
    MS-MotionRNN's diagonal input; a no-op for the other models). The entry's
    ``notes`` say what it changes.
    ``out_channels=k`` (fewer than ``in_channels``) predicts the first ``k`` input
    channels; ``target_channels=[...]`` picks any of them (see :class:`Forecaster`).
    """
    entry = get_entry(name)
    base = get_preset(preset)
    hidden = hidden_channels if hidden_channels is not None else base.hidden_channels
    depth = num_layers if num_layers is not None else base.num_layers
    patch_size = patch_size if patch_size is not None else base.patch_size
    size = _image_size(image_size) if image_size is not None else base.image_size
    _check_positive(
        in_channels=in_channels,
        hidden_channels=hidden,
        num_layers=depth,
        kernel_size=kernel_size,
        patch_size=patch_size,
    )
    if size is not None:
        _check_positive(image_height=size[0], image_width=size[1])

    valid = entry.option_names()
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {unknown} for model {name!r}; valid options: {', '.join(sorted(valid))}"
        )
    options = _with_targets(options, out_channels, in_channels)
    cell_opts = _cell_options(entry, base, preset, kernel_size, options)
    stack_opts = {k: v for k, v in options.items() if k in STACK_OPTIONS[entry.stack]}
    model_opts = {k: v for k, v in options.items() if k in FORECASTER_OPTIONS}
    layer_size = _layer_size(size, patch_size)
    compat = check_compat(options.get("compat", "paper"))

    def factory(spec: LayerSpec) -> nn.Module:
        return entry.build_cell(replace(spec, compat=compat), **cell_opts)

    stack: Stack
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


__all__ = [
    "DEFAULTS",
    "PRESETS",
    "Preset",
    "build_model",
    "count_parameters",
    "get_preset",
    "list_presets",
]
