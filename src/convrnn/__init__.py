"""convrnn: convolutional recurrent networks for spatiotemporal predictive learning."""

from convrnn.registry import build_model, count_parameters, list_models, list_presets

__version__ = "0.1.0"

__all__ = ["__version__", "build_model", "count_parameters", "list_models", "list_presets", "load"]


_LAZY_SUBMODULES = (
    "cells",
    "blocks",
    "stacks",
    "models",
    "data",
    "metrics",
    "cost",
    "viz",
    "train",
)


def __getattr__(name: str):
    """Import submodules on first use (``convrnn.metrics`` ...), keeping ``import convrnn`` light."""
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"convrnn.{name}")
    raise AttributeError(f"module 'convrnn' has no attribute {name!r}")


def load(run_dir, checkpoint: str = "best", map_location="cpu"):
    """Load the trained Forecaster of a run directory (see ``convrnn train``)."""
    from convrnn.runs import load_forecaster

    return load_forecaster(run_dir, checkpoint=checkpoint, map_location=map_location)
