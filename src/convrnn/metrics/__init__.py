"""Metrics with the papers' conventions: frame metrics, nowcasting scores, baselines (radar unit conversions: convrnn.units).

``FrameMetrics``, ``NowcastMetrics`` and ``ContingencyTable`` are ``torchmetrics.Metric``
subclasses whose states are per-frame sums and counts (:mod:`convrnn.metrics.state`), so
they reduce exactly across processes. A leaf layer: imports only convrnn.errors/io/units.
"""

from convrnn.metrics.baselines import optical_flow_forecast
from convrnn.metrics.frames import FRAME_METRICS, FrameMetrics, evaluate, persistence
from convrnn.metrics.nowcast import (
    HKO7_BALANCING_WEIGHTS,
    HKO7_THRESHOLDS,
    ContingencyTable,
    NowcastMetrics,
    balancing_weights,
    categorical_scores,
    contingency_counts,
    nowcast_scores,
)

__all__ = [
    "FRAME_METRICS",
    "HKO7_BALANCING_WEIGHTS",
    "HKO7_THRESHOLDS",
    "ContingencyTable",
    "FrameMetrics",
    "NowcastMetrics",
    "balancing_weights",
    "categorical_scores",
    "contingency_counts",
    "evaluate",
    "nowcast_scores",
    "optical_flow_forecast",
    "persistence",
]
