"""MultiScale stack (MS-RNN Fig. 2b): a mirrored pyramid of the same cells with same-scale skips."""

from __future__ import annotations

from convrnn.cells.base import CellFactory
from convrnn.errors import ConfigError
from convrnn.stacks.base import Stack

SKIPS = ("unet", "unet3+", "dense", "none")


def pyramid_scales(depth: int) -> list[int]:
    """Scale exponents of a mirrored pyramid: 6 -> [0, 1, 2, 2, 1, 0], 5 -> [0, 1, 2, 1, 0]."""
    half = depth // 2
    up = list(range(half))
    middle = [half] if depth % 2 else []
    return up + middle + up[::-1]


def skip_sources(scales: list[int], skip: str) -> list[tuple[int, ...]]:
    """Which layers' outputs (summed, resampled) feed each layer, for a skip scheme.

    * ``"none"``: only the layer below (MS-RNN Table V, w/o skip).
    * ``"unet"``: the layer below, plus, where the scale grows back, the output
      of the encoder layer of that scale (the official "+" skip).
    * ``"unet3+"``: each decoder layer sums all encoder outputs of the same or a
      finer scale and all earlier decoder-side outputs (the official
      ``ms_convlstm_unet_plus3.py``).
    * ``"dense"``: every layer sums all earlier layers (``ms_convlstm_fc.py``).
    """
    if skip not in SKIPS:
        raise ConfigError(f"skip={skip!r} is not supported; choose one of {SKIPS}")
    depth = len(scales)
    encoder = depth // 2  # layers [0, encoder) pool on the way up
    first_decoder = (depth + 1) // 2
    sources: list[tuple[int, ...]] = [()]
    for j in range(1, depth):
        if skip == "dense":
            src = tuple(range(j))
        elif skip == "unet3+" and j >= first_decoder:
            src = tuple(i for i in range(j) if i >= encoder or scales[i] <= scales[j])
            src = (j - 1, *tuple(i for i in src if i != j - 1))
        elif skip == "unet" and scales[j] < scales[j - 1]:
            src = (j - 1, scales[j])  # the encoder layer of scale s has index s
        else:
            src = (j - 1,)
        sources.append(src)
    return sources


class MultiScale(Stack):
    """MS-RNN: max-pool 2x2 going up, bilinear going down, skips of the same scale (``skip=``)."""

    def __init__(
        self,
        cell_factory: CellFactory,
        depth: int,
        channels: int,
        image_size: tuple[int, int] | None = None,
        skip: str = "unet",
    ) -> None:
        scales = pyramid_scales(depth)
        super().__init__(
            cell_factory, depth, channels, scales, skip_sources(scales, skip), image_size
        )
        self.skip = skip
