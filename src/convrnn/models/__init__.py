"""Models: the Forecaster that wraps a stack of cells with patching, embedding, head and rollout."""

from convrnn.models.forecaster import Forecaster
from convrnn.models.patching import patch, unpatch

__all__ = ["Forecaster", "patch", "unpatch"]
