"""Fixtures of the fault-injection tests: fake MNIST digits, one uninterrupted reference run."""

from __future__ import annotations

import numpy as np
import pytest

from convrnn.cli import main
from tests.faults.common import TINY


@pytest.fixture(scope="session")
def data_root(tmp_path_factory):
    """A fake MNIST digit cache (blob digits; no download), passed as --data-root."""
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("faults-data")
    (root / "mnist").mkdir()
    arrays = {}
    for split, n in (("train", 30), ("val", 10), ("test", 10)):
        digits = np.zeros((n, 28, 28), dtype=np.uint8)
        for i in range(n):
            y, x = rng.integers(4, 18, size=2)
            digits[i, y : y + 10, x : x + 6] = 255
        arrays[f"{split}_images"] = digits
        arrays[f"{split}_labels"] = np.zeros(n, dtype=np.int64)
    np.savez(root / "mnist" / "mnist.npz", **arrays)
    return root


@pytest.fixture(scope="session")
def straight(tmp_path_factory, data_root):
    """An uninterrupted 8-iteration run: what every interrupted and resumed run must end as."""
    run = tmp_path_factory.mktemp("faults-straight") / "run"
    assert main(["train", *TINY, "--data-root", str(data_root), "--out", str(run)]) == 0
    return run


@pytest.fixture
def tiny(data_root):
    """The tiny training arguments with the fake digits."""
    return [*TINY, "--data-root", str(data_root)]
