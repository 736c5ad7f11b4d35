"""Helpers of the fault-injection tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from tests.fixtures.cli import TINY as CLI_TINY

TINY = [*CLI_TINY, "--max-steps", "8"]  # the CLI tests' tiny run, 8 iterations


def ckpt(run: Path, which: str = "last") -> dict:
    """A checkpoint of ``run``, loaded safely."""
    return torch.load(run / "checkpoints" / f"{which}.ckpt", weights_only=True)


def assert_same_training(a: Path, b: Path) -> None:
    """Two runs ended with the same weights, optimiser state and best checkpoint."""
    last_a, last_b = ckpt(a), ckpt(b)
    assert last_a["convrnn"]["iteration"] == last_b["convrnn"]["iteration"]
    for key, value in last_a["state_dict"].items():
        assert torch.equal(value, last_b["state_dict"][key]), key
    assert last_a["callbacks"] == last_b["callbacks"]  # the same best validation score
    opt_a, opt_b = last_a["optimizer_states"][0]["state"], last_b["optimizer_states"][0]["state"]
    assert all(torch.equal(opt_a[0][k], opt_b[0][k]) for k in opt_a[0])
    best_a, best_b = ckpt(a, "best"), ckpt(b, "best")
    assert best_a["convrnn"]["iteration"] == best_b["convrnn"]["iteration"]


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder`` (hidden ones too): its bytes and its mtime."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def temporaries(folder: Path) -> list[str]:
    """The atomic writer's temporaries anywhere under ``folder``."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*.tmp"))


def child_env() -> dict[str, str]:
    """The environment of a ``convrnn`` subprocess: this process's threads (bit-identical maths)."""
    env = {
        **os.environ,
        "PYTHONWARNINGS": "ignore",
        "OMP_NUM_THREADS": str(torch.get_num_threads()),
    }
    for name in (
        "CONVRNN_RUN_DIR",
        "LOCAL_RANK",
        "RANK",
        "WORLD_SIZE",
        "SLURM_PROCID",
        "NODE_RANK",
    ):
        env.pop(name, None)
    return env


def start(args: list[str], script: Path | None = None) -> subprocess.Popen:
    """``python -m convrnn ARGS`` (or ``python SCRIPT ARGS``) in the background, SIGINT not ignored."""
    command = [sys.executable, str(script)] if script else [sys.executable, "-m", "convrnn"]
    return subprocess.Popen(
        [*command, *args],
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a background test runner may ignore SIGINT, and a child would inherit that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for(condition, process: subprocess.Popen, timeout: float = 120.0) -> None:
    """Poll ``condition()`` until true; fail if ``process`` ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            _, err = process.communicate()
            raise AssertionError(f"process ended early ({process.returncode}): {err[-3000:]}")
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
