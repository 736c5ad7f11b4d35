"""Dataset metadata for the CLI and the trainer: lengths, frame size, channels, radar conversions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from convrnn.units import ZRLaw, rain_to_pixel


@dataclass(frozen=True)
class RadarSpec:
    """How a radar dataset's [0, 1] pixels map to dBZ and rain, and its verification thresholds.

    Convert with :mod:`convrnn.units` and ``spec.law`` (``pixel_to_rain(x, spec.law)``);
    score with ``NowcastMetrics(spec.thresholds, spec.law)``.
    """

    law: ZRLaw
    thresholds: tuple[float, ...] = (0.5, 2.0, 5.0, 10.0, 30.0)
    reported_thresholds: tuple[float, ...] = (0.5, 2.0, 5.0, 10.0, 30.0)
    pixel_mapping: str = "dBZ = 70 x - 10 (the HKO-7 pixel mapping)"

    def pixel_thresholds(self) -> tuple[float, ...]:
        """The mm/h thresholds in pixel units (what the official code compares against)."""
        return tuple(float(rain_to_pixel(t, self.law)) for t in self.thresholds)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "law": self.law.to_dict(),
            "thresholds": list(self.thresholds),
            "reported_thresholds": list(self.reported_thresholds),
            "pixel_thresholds": list(self.pixel_thresholds()),
            "pixel_mapping": self.pixel_mapping,
        }


@dataclass(frozen=True)
class DatasetInfo:
    """What the trainer and the CLI need to know about a dataset under given options.

    ``input_length``/``output_length``: the papers' default split of a window;
    ``test_output_length``: the horizon at test time (KTH 10 -> 20 in MS-RNN);
    ``frame_size``/``channels``: the frames the loader yields with these options
    (``None`` when it depends on the user's files); ``radar``: the pixel ->
    dBZ -> rain conversion and thresholds, or ``None``; ``splits``: how
    train/val/test are built; ``papers``: each paper's training settings, with
    sources.
    """

    name: str
    description: str
    input_length: int
    output_length: int
    frame_size: tuple[int, int] | None
    channels: int | None
    interval: str
    splits: str
    test_output_length: int | None = None
    radar: RadarSpec | None = None
    papers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def seq_len(self) -> int:
        """Frames per training window (input + output)."""
        return self.input_length + self.output_length

    @property
    def test_seq_len(self) -> int:
        """Frames per test window (input + test output)."""
        return self.input_length + (self.test_output_length or self.output_length)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for run directories and ``convrnn data`` listings)."""
        return {
            "name": self.name,
            "description": self.description,
            "input_length": self.input_length,
            "output_length": self.output_length,
            "test_output_length": self.test_output_length or self.output_length,
            "frame_size": None if self.frame_size is None else list(self.frame_size),
            "channels": self.channels,
            "interval": self.interval,
            "splits": self.splits,
            "radar": None if self.radar is None else self.radar.to_dict(),
            "papers": {k: dict(v) for k, v in self.papers.items()},
            "options": dict(self.options),
        }
