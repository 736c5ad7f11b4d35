"""SIGTERM / SIGINT save last.ckpt and exit 143 / 130; kill -9 mid-write; --resume continues exactly."""

from __future__ import annotations

import os
import random
import re
import signal
import time

import pytest

from convrnn.cli import main
from convrnn.io import TEMPORARY
from convrnn.train.module import ForecastModule
from tests.faults.common import (
    assert_same_training,
    ckpt,
    snapshot,
    start,
    temporaries,
    wait_for,
)

RNG = random.Random(12)  # the "random" iterations of the signals, the same every run
NOT_VALIDATING = [1, 2, 3, 5, 6, 7]  # of 8, validating every 4


@pytest.fixture(autouse=True)
def default_signal_handlers():
    """Python's own handlers, even under a test runner started with SIGINT ignored (a background job)."""
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def signal_at(monkeypatch, iteration: int, signum: int, times: int = 1) -> None:
    """Send ``signum`` to this process during training iteration ``iteration`` (1-based)."""
    original = ForecastModule.training_step

    def signalled(self, batch, batch_idx):
        if self.iteration == iteration - 1:
            for _ in range(times):
                os.kill(os.getpid(), signum)
        return original(self, batch, batch_idx)

    monkeypatch.setattr(ForecastModule, "training_step", signalled)


@pytest.mark.parametrize(
    ("signum", "code", "iteration"),
    [
        (signal.SIGTERM, 143, RNG.choice(NOT_VALIDATING)),
        (signal.SIGINT, 130, RNG.choice(NOT_VALIDATING)),
        (signal.SIGTERM, 143, 4),  # a validating iteration: last.ckpt follows the validation
    ],
)
def test_signal_saves_last_and_resume_is_exact(
    tmp_path, tiny, straight, monkeypatch, capsys, signum, code, iteration
):
    run = tmp_path / "run"
    signal_at(monkeypatch, iteration, signum)
    previous = signal.getsignal(signum)
    assert main(["train", *tiny, "--out", str(run)]) == code
    assert signal.getsignal(signum) is previous  # handlers restored
    err = capsys.readouterr().err
    name = signal.Signals(signum).name
    last = run / "checkpoints" / "last.ckpt"
    assert (
        f"stopped by {name} at iteration {iteration} of 8; {last} holds iteration {iteration}"
        in err
    )
    assert f"Continue with: convrnn train --out {run} --resume" in err
    assert ckpt(run)["convrnn"]["iteration"] == iteration
    assert temporaries(run) == []
    monkeypatch.undo()
    assert main(["train", "--out", str(run), "--resume"]) == 0
    assert_same_training(straight, run)


def test_signal_before_training_stops_at_once(tmp_path, tiny, monkeypatch, capsys):
    from convrnn.train import datamodule as data

    def signalled(self, cfg):
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(data.SequenceDataModule, "__init__", signalled)
    run = tmp_path / "run"
    assert main(["train", *tiny, "--out", str(run)]) == 143
    err = capsys.readouterr().err
    assert "stopped by SIGTERM before training began; no checkpoint was written" in err


def test_second_signal_stops_at_once_keeping_the_last_checkpoint(
    tmp_path, tiny, monkeypatch, capsys
):
    signal_at(monkeypatch, 5, signal.SIGINT, times=2)
    run = tmp_path / "run"
    assert main(["train", *tiny, "--out", str(run)]) == 130
    err = capsys.readouterr().err
    assert (
        f"stopped by SIGINT at once; {run / 'checkpoints' / 'last.ckpt'} holds iteration 4" in err
    )
    assert ckpt(run)["convrnn"]["iteration"] == 4 and temporaries(run) == []


def _stopped_iteration(err: str, name: str) -> int:
    found = re.search(rf"stopped by {name} at iteration (\d+) of 100; \S+last\.ckpt holds", err)
    assert found, err[-3000:]
    return int(found.group(1))


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_through_the_cli(tmp_path, tiny, signum, code):
    run, reference = tmp_path / "run", tmp_path / "reference"
    args = ["train", *tiny, "--max-steps", "100"]
    child = start([*args, "--out", str(run)])
    try:
        wait_for(lambda: (run / "checkpoints" / "last.ckpt").exists(), child)
        time.sleep(random.Random(signum).uniform(0.0, 0.3))
        child.send_signal(signum)
        _, err = child.communicate(timeout=120)
    finally:
        child.kill()
    name = signal.Signals(signum).name
    assert child.returncode == code, err[-3000:]
    stopped = _stopped_iteration(err, name)
    assert ckpt(run)["convrnn"]["iteration"] == stopped and stopped < 100
    assert f"--out {run} --resume" in err and temporaries(run) == []
    resumed = start(["train", "--out", str(run), "--resume"])
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-3000:]
    assert main([*args, "--out", str(reference)]) == 0
    assert_same_training(reference, run)


KILL_WRITES = """
import sys, time
import torch
from convrnn.cli import main

save = torch.save

def slow_save(obj, f, *args, **kwargs):  # a long write window for kill -9 to land in
    save(obj, f, *args, **kwargs)
    f.flush()
    time.sleep(0.3)

torch.save = slow_save
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_kill_9_during_checkpoint_writes(tmp_path, tiny, straight):
    script = tmp_path / "slow_writes.py"
    script.write_text(KILL_WRITES)
    run = tmp_path / "run"
    checkpoints = run / "checkpoints"
    rng = random.Random(9)
    fresh = ["train", *tiny, "--out", str(run), "--set", "train.checkpoint_every=1"]
    left: list[str] = []
    killed_mid_write = 0
    for _ in range(3):
        resume = (checkpoints / "last.ckpt").exists()
        child = start(["train", "--out", str(run), "--resume"] if resume else fresh, script)

        seen: set[str] = set()
        old = set(left)
        writes = rng.randint(1, 4)  # kill during the n-th checkpoint write of this process

        def writing(seen=seen, old=old, writes=writes):
            if checkpoints.is_dir():
                seen.update(p.name for p in checkpoints.glob(".*.tmp"))
            return len(seen - old) >= writes

        try:
            wait_for(writing, child)
            assert not any((checkpoints / name).exists() for name in left)  # removed at the start
            time.sleep(rng.uniform(0.0, 0.25))
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=60)
        finally:
            child.kill()
        left = [p.name for p in checkpoints.glob(".*.tmp")]
        assert all(TEMPORARY.match(name) for name in left)
        killed_mid_write += bool(left)
        if (checkpoints / "last.ckpt").exists():
            ckpt(run)  # every kept checkpoint loads
    assert killed_mid_write and (checkpoints / "last.ckpt").exists()
    assert main(["train", "--out", str(run), "--resume"]) == 0
    assert temporaries(run) == []
    last, reference = ckpt(run), ckpt(straight)
    for key, value in reference["state_dict"].items():
        assert (value == last["state_dict"][key]).all(), key
    before = snapshot(run)
    assert main(["train", "--out", str(run), "--resume"]) == 0 and snapshot(run) == before


@pytest.mark.slow
def test_sigterm_stops_a_two_process_ddp_training(tmp_path, tiny):
    run = tmp_path / "ddp"
    args = ["train", *tiny, "--max-steps", "40", "--devices", "2", "--out", str(run),
            "--set", "data.val_options.num_sequences=5"]  # fmt: skip
    child = start(args)
    try:
        wait_for(lambda: (run / "checkpoints" / "last.ckpt").exists(), child)
        child.send_signal(signal.SIGTERM)  # to rank 0 only, as `timeout` does
        _, err = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == 143, err[-3000:]
    assert err.count("stopped by SIGTERM at iteration") == 1  # rank 0 reports, once
    found = re.search(r"stopped by SIGTERM at iteration (\d+) of 40; \S+last\.ckpt holds", err)
    assert found and ckpt(run)["convrnn"]["iteration"] == int(found.group(1))
    resumed = start(["train", "--out", str(run), "--resume"])
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-3000:]
    assert ckpt(run)["convrnn"]["iteration"] == 40 and temporaries(run) == []
