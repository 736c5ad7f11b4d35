"""The model registry, a leaf like timm's ``_registry``: entries, :func:`register_model`, lookups.

Every cell module registers its models here: ``name`` in the Flat stack and
its MultiScale twin ``ms-<name>``. A variant of a cell (MoDeRNN, CMS-LSTM,
SA-ConvLSTM's base model) is an entry of the parent cell with its own
``defaults`` and, where it offers fewer switches, its own ``options``. This
module imports nothing of convrnn but the errors; importing it loads
``convrnn.cells``, which registers every model. Building a model (presets,
stacks, the Forecaster) is :mod:`convrnn.models.factory`'s job.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from convrnn.errors import check_choice

if TYPE_CHECKING:
    from convrnn.cells.base import Cell, LayerSpec

STACKS = ("flat", "multiscale")
#: the keyword options build_model passes to each stack and to the Forecaster (plain names, so this
#: leaf needs no import of them; tests/test_registry.py checks them against their signatures)
STACK_OPTIONS: dict[str, tuple[str, ...]] = {"flat": (), "multiscale": ("skip",)}
FORECASTER_OPTIONS = (
    "embed",
    "checkpointing",
    "compile",
    "channels_last",
    "target_channels",
    "residual",
    "anchor",
    "conv_algorithm",
)
#: options of every model, whatever its cell: compat= ("paper" | "official", see cells.base)
MODEL_OPTIONS = ("compat",)


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: a cell type in a stack type, with its documented parameter counts."""

    name: str
    cell: type[Cell]
    stack: str
    summary: str
    params: Mapping[str, int] = field(default_factory=dict)  # preset -> exact count (official code)
    notes: str = ""  # where and how it differs from the paper or the official code
    #: cell arguments of this model, under any preset's and the user's options (a variant's defaults)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    #: the cell options a user may set; ``None``: all of the cell's (defaults outside it are fixed)
    options: tuple[str, ...] | None = None
    #: per-preset cell-option overrides
    preset_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: training defaults, e.g. {"sampling": "reverse"}
    training: Mapping[str, Any] = field(default_factory=dict)
    #: regex of parameter names the official layout carries but never uses
    unused: str = ""

    def cell_option_names(self) -> tuple[str, ...]:
        """The cell options a user may set for this model, in the cell's order."""
        names = self.cell.option_names()
        return names if self.options is None else tuple(n for n in names if n in self.options)

    def option_names(self) -> tuple[str, ...]:
        """Every keyword option ``build_model`` accepts for this model."""
        return (
            *self.cell_option_names(), *STACK_OPTIONS[self.stack], *FORECASTER_OPTIONS,
            *MODEL_OPTIONS,
        )  # fmt: skip

    def build_cell(self, spec: LayerSpec, **options: Any) -> Cell:
        """The cell of layer ``spec``: this model's defaults, overridden by ``options``."""
        return self.cell.from_spec(spec, **{**self.defaults, **options})


_MODELS: dict[str, ModelEntry] = {}


def register_model(
    name: str,
    cell: type[Cell],
    *,
    summary: str,
    params: Mapping[str, int] | None = None,
    ms_params: Mapping[str, int] | None = None,
    notes: str = "",
    defaults: Mapping[str, Any] | None = None,
    options: tuple[str, ...] | None = None,
    preset_options: Mapping[str, Mapping[str, Any]] | None = None,
    training: Mapping[str, Any] | None = None,
    unused: str = "",
    twin: bool = True,
) -> None:
    """Register ``name`` (Flat stack) and, with ``twin``, ``ms-<name>`` (MultiScale stack).

    ``params`` are the exact counts per preset; the twin gets ``ms_params`` or, by
    default, the same counts (pooling, upsampling and "+" skips add no parameters).
    ``defaults`` replace the cell's own defaults (a preset's and the user's
    options still override them); ``options`` limits what the user may set.
    ``training`` holds training defaults the model needs (its sampling schedule);
    ``unused`` is a regex of parameter names that the official layout carries
    but never uses (kept so the counts match; tests check nothing else is unused).
    """
    common = dict(
        notes=notes,
        defaults=dict(defaults or {}),
        options=None if options is None else tuple(options),
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


def list_models(filter: str | None = None, stack: str | None = None) -> list[str]:
    """Names of the registered models, sorted; ``filter`` is a shell pattern (``"ms-*"``)."""
    if stack is not None:
        check_choice("stack", stack, STACKS)
    return sorted(
        name
        for name, entry in _MODELS.items()
        if (filter is None or fnmatch.fnmatchcase(name, filter))
        and (stack is None or entry.stack == stack)
    )


def get_entry(name: str) -> ModelEntry:
    """The registry entry of ``name``; unknown names raise a ChoiceError listing the valid ones."""
    return _MODELS[check_choice("model", name, _MODELS)]
