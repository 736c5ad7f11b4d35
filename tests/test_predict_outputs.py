"""``convrnn predict`` and ``convrnn test`` outputs are atomic; empty inputs are refused."""

from __future__ import annotations

import errno

import numpy as np
import pytest

from convrnn.cli import main
from tests.fixtures.cli import TINY


@pytest.fixture
def run(tmp_path, mnist_cache):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--max-steps", "2", "--out", str(out)]) == 0
    return out


def _disk_full_after(monkeypatch, nbytes: int):
    """Make every atomic write fail with ENOSPC after ``nbytes`` bytes (a full disk)."""
    import convrnn.io as io_module

    real = io_module.atomic_file

    class Full:
        def __init__(self, f):
            self.f, self.left = f, nbytes

        def write(self, data):
            if len(data) > self.left:
                self.f.write(bytes(data)[: self.left])
                raise OSError(errno.ENOSPC, "No space left on device")
            self.left -= len(data)
            return self.f.write(data)

        def __getattr__(self, name):
            return getattr(self.f, name)

    from contextlib import contextmanager

    @contextmanager
    def full(path):
        with real(path) as f:
            yield Full(f)

    monkeypatch.setattr(io_module, "atomic_file", full)


def test_a_failed_predict_leaves_the_previous_forecast_intact(run, tmp_path, monkeypatch, capsys):
    frames = np.random.default_rng(0).random((5, 32, 32), dtype=np.float32)
    np.save(tmp_path / "in.npy", frames)
    out = tmp_path / "fc"
    args = ["predict", str(run), "--input", str(tmp_path / "in.npy"), "--horizon", "3"]
    assert main([*args, "--out", str(out)]) == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    _disk_full_after(monkeypatch, 100)
    assert main([*args[:-1], "5", "--out", str(out)]) == 2
    assert "no space left on device" in capsys.readouterr().err
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before  # nothing truncated, nothing half-written, no temporary left
    assert np.load(out / "forecast.npy").shape == (1, 3, 1, 32, 32)


def test_a_failed_test_leaves_the_previous_metrics_intact(run, monkeypatch, capsys):
    assert main(["test", str(run), "--pictures", "1"]) == 0
    files = [run / "metrics.json", run / "metrics_per_frame.csv"]
    files += sorted((run / "test-results").iterdir())
    before = {p: p.read_bytes() for p in files}
    _disk_full_after(monkeypatch, 10)
    assert main(["test", str(run), "--pictures", "1"]) == 2
    assert "no space left on device" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in files} == before
    assert not [p for p in run.rglob("*.tmp")]


@pytest.mark.parametrize("shape", [(0, 5, 32, 32), (1, 0, 1, 32, 32)])
def test_empty_inputs_are_refused(run, tmp_path, capsys, shape):
    np.save(tmp_path / "empty.npy", np.zeros(shape, dtype=np.float32))
    code = main(["predict", str(run), "--input", str(tmp_path / "empty.npy"), "--horizon", "2",
                 "--out", str(tmp_path / "fc")])  # fmt: skip
    assert code == 2 and "is empty" in capsys.readouterr().err
    assert not (tmp_path / "fc").exists()
