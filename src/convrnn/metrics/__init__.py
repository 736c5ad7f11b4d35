"""Metrics with the papers' conventions (frame metrics; nowcasting scores come with the radar datasets)."""

from convrnn.metrics.frames import FRAME_METRICS, FrameMetrics, evaluate, persistence

__all__ = ["FRAME_METRICS", "FrameMetrics", "evaluate", "persistence"]
