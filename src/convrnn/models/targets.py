"""The ``target_channels`` option of a Forecaster: which input channels a model predicts."""

from __future__ import annotations

from typing import Any

from convrnn.errors import ConfigError


def check_target_channels(targets: Any, in_channels: int) -> tuple[int, ...] | None:
    """``target_channels`` as a tuple of distinct input-channel indices (None: every channel)."""
    if targets is None:
        return None
    values = [targets] if isinstance(targets, int) else list(targets)
    ok = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    if not values or not ok or len(set(values)) != len(values):
        raise ConfigError(
            f"target_channels={targets!r}: give distinct input-channel indices, e.g. [0]"
        )
    bad = [v for v in values if not 0 <= v < in_channels]
    if bad:
        raise ConfigError(
            f"target_channels {bad} do not exist in frames of in_channels={in_channels}; "
            f"choose indices in 0..{in_channels - 1}"
        )
    return tuple(values)
