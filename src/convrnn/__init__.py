"""convrnn: convolutional recurrent networks for spatiotemporal predictive learning."""

from convrnn.registry import build_model, count_parameters, list_models, list_presets

__version__ = "0.1.0"

__all__ = ["__version__", "build_model", "count_parameters", "list_models", "list_presets", "load"]


def load(run_dir, checkpoint: str = "best", map_location="cpu"):
    """Load the trained Forecaster of a run directory (see ``convrnn train``)."""
    from convrnn.runs import load_forecaster

    return load_forecaster(run_dir, checkpoint=checkpoint, map_location=map_location)
