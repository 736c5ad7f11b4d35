"""Named models and presets, the user-facing facade: ``build_model("ms-convlstm", preset="ms-rnn")``.

The registry itself is the leaf :mod:`convrnn.cells.registry` (entries,
:func:`register_model`, :func:`get_entry`, :func:`list_models`), which every
cell module registers its models with; building them (presets, stacks, the
Forecaster) is :mod:`convrnn.models.factory`. Code inside the package imports
those two, never this facade.
"""

from convrnn.cells.base import COMPAT_MODES
from convrnn.cells.registry import (
    FORECASTER_OPTIONS,
    MODEL_OPTIONS,
    STACK_OPTIONS,
    STACKS,
    ModelEntry,
    get_entry,
    list_models,
    register_model,
)
from convrnn.models.factory import (
    DEFAULTS,
    PRESETS,
    Preset,
    build_model,
    count_parameters,
    get_preset,
    list_presets,
)

__all__ = [
    "COMPAT_MODES",
    "DEFAULTS",
    "FORECASTER_OPTIONS",
    "MODEL_OPTIONS",
    "PRESETS",
    "STACKS",
    "STACK_OPTIONS",
    "ModelEntry",
    "Preset",
    "build_model",
    "count_parameters",
    "get_entry",
    "get_preset",
    "list_models",
    "list_presets",
    "register_model",
]
