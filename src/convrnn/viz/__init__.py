"""Pictures: grey strips of [0, 1] frames (any dataset) and radar pictures in physical units.

:mod:`convrnn.viz.grey` draws normalised frames as grey images (input | truth |
prediction | error); :mod:`convrnn.viz.radar` draws rain rates (mm/h) or
reflectivity (dBZ) with a precipitation colour scale (:mod:`convrnn.viz.scales`),
lead times and a colour bar. matplotlib is imported only when a radar picture is drawn.
"""

from convrnn.viz.grey import comparison_grid, save_gif, save_png, sequence_grid, to_uint8_image
from convrnn.viz.radar import (
    frame_labels,
    radar_gif,
    radar_gif_frames,
    radar_strip,
    step_minutes,
    strip_figure,
)
from convrnn.viz.scales import RadarScale, colorize, radar_scale

__all__ = [
    "RadarScale",
    "colorize",
    "comparison_grid",
    "frame_labels",
    "radar_gif",
    "radar_gif_frames",
    "radar_scale",
    "radar_strip",
    "save_gif",
    "save_png",
    "sequence_grid",
    "step_minutes",
    "strip_figure",
    "to_uint8_image",
]
