"""Shared test helpers: tiny models and cells for protocol tests, small random digits."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from torch import nn

import convrnn
from convrnn.cells.base import Cell
from tests.fixtures.mnist import write_mnist_cache

# "auto" precision must not depend on the CPU the suite runs on: fp32 unless a test says otherwise
os.environ.setdefault("CONVRNN_NATIVE_BF16", "0")


def tiny_model(name: str = "ms-convlstm", **overrides) -> convrnn.models.Forecaster:
    """A small ``convrnn.build_model(name)``, seeded with 0 (4 layers of 8 channels, patch size 2).

    ``overrides`` replace these defaults or add further ``build_model`` options.
    """
    torch.manual_seed(0)
    options = {"hidden_channels": 8, "num_layers": 4, "patch_size": 2, **overrides}
    return convrnn.build_model(name, **options)


@pytest.fixture
def tiny():
    """:func:`tiny_model`, for tests that build small models."""
    return tiny_model


class ProbeCell(Cell):
    """Test-only cell: ``h = (index + 1)`` everywhere, records its inputs; zig-zag ``m -> m + 1``."""

    uses_zigzag = True

    def __init__(
        self, in_channels: int, hidden_channels: int, layer_index: int = 0, log=None
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.layer_index = layer_index
        self.log = log if log is not None else []
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x, state, m=None):
        if m is None:
            m = self.zeros_like_memory(x)
        assert m.shape[-2:] == x.shape[-2:], "m must arrive at the layer's size"
        self.log.append(
            (
                self.layer_index,
                float(x.detach().mean()),
                float(m.detach().mean()),
                tuple(x.shape[-2:]),
            )
        )
        h = torch.full_like(state[0], self.layer_index + 1.0) * self.scale
        return h, (h, state[1]), m + 1


@pytest.fixture
def digits() -> np.ndarray:
    """40 random 28x28 uint8 'digits' (blobs) for generator tests without MNIST."""
    rng = np.random.default_rng(0)
    d = np.zeros((40, 28, 28), dtype=np.uint8)
    for i in range(40):
        y, x = rng.integers(4, 20, size=2)
        d[i, y : y + 8, x : x + 8] = 50 + i
    return d


@pytest.fixture
def mnist_cache(tmp_path, monkeypatch):
    """A fake MNIST digit cache in a temporary $CONVRNN_DATA (blob digits; no download)."""
    root = write_mnist_cache(tmp_path / "data")
    monkeypatch.setenv("CONVRNN_DATA", str(root))
    return root
