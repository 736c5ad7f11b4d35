"""convrnn: convolutional recurrent networks for spatiotemporal predictive learning."""

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "build_model",
    "count_parameters",
    "list_models",
    "list_presets",
    "load",
    "nowcast",
]


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
    "registry",
)


#: the registry facade's functions, imported on first use (the registry loads every cell, and torch)
_LAZY_FUNCTIONS = ("build_model", "count_parameters", "list_models", "list_presets")


def __getattr__(name: str):
    """Import submodules and the registry on first use, keeping ``import convrnn`` light."""
    import importlib

    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"convrnn.{name}")
    if name in _LAZY_FUNCTIONS:
        return getattr(importlib.import_module("convrnn.registry"), name)
    raise AttributeError(f"module 'convrnn' has no attribute {name!r}")


def load(run_dir, checkpoint: str = "best", map_location="cpu"):
    """Load the trained Forecaster of a run directory (``convrnn train``), a bundle
    (``convrnn export``) or a Hub repository ``hf://owner/name`` (``pip install convrnn[hub]``)."""
    from convrnn.runs import load_forecaster

    return load_forecaster(run_dir, checkpoint=checkpoint, map_location=map_location)


def nowcast(run, precip, timesteps: int, checkpoint: str = "best", normalizer=None):
    """pysteps-style nowcast: ``(T, H, W)`` raw frames (NaN outside coverage) in, ``(timesteps, H, W)``
    out in the same units (see :func:`convrnn.nowcasting.nowcast`)."""
    from convrnn.nowcasting import nowcast as run_nowcast

    return run_nowcast(run, precip, timesteps, checkpoint=checkpoint, normalizer=normalizer)
