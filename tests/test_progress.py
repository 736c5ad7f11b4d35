"""The command line tells where it is: bars with totals on a terminal only, no banner, closing lines."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pytest

import convrnn
from convrnn import progress
from convrnn.cli import main
from convrnn.cli.train import closing_lines
from tests.fixtures.cli import TINY
from tests.fixtures.mnist import write_mnist_cache

ROOT = Path(__file__).resolve().parents[1]
BANNER = ("GPU available", "TPU available", "Tip:", "litlogger", "limit_val_batches", "LeafSpec")
BAR = re.compile(r"\d+/\d+ \[")  # "n/total [elapsed<remaining"


class FakeTerminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def run_cli(capsys, args, terminal=True):
    """``main(args)`` with stderr a fake terminal (or a plain pipe); returns (code, stdout, stderr)."""
    err = FakeTerminal() if terminal else io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "stderr", err)
        code = main(args)
    return code, capsys.readouterr().out, err.getvalue()


@pytest.fixture(scope="module")
def trained_on_a_terminal(tmp_path_factory):
    """One tiny training run with stderr a terminal: (run dir, stdout, stderr)."""
    root = tmp_path_factory.mktemp("progress")
    err = FakeTerminal()
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CONVRNN_DATA", str(write_mnist_cache(root / "data")))
        mp.setattr(sys, "stderr", err)
        mp.setattr(sys, "stdout", out)
        args = ["train", *TINY, "--set", "train.progress_bar=true", "--max-steps", "6"]
        assert main([*args, "--out", str(root / "run")]) == 0
    return root / "run", out.getvalue(), err.getvalue()


def test_train_bar_counts_the_iterations_with_a_total(trained_on_a_terminal):
    _, _, err = trained_on_a_terminal
    assert re.search(r"train: 100%.*\| 6/6 \[", err), err[-500:]
    assert "/?" not in err and "v_num" not in err
    assert "train/loss=" in err and "step/s" in err


def test_a_resumed_run_starts_its_bar_at_its_iteration(tmp_path, mnist_cache, capsys):
    run = str(tmp_path / "run")
    args = ["train", *TINY, "--set", "train.progress_bar=true", "--max-steps", "6", "--out", run]
    assert main([*args, "--set", "train.stop_after=3", "--quiet"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(f"next: convrnn train --out {run}")
    code, _, err = run_cli(capsys, ["train", "--out", run, "--resume"])
    assert code == 0 and re.search(r"train:  50%.*\| 3/6 \[", err) and re.search(r"\| 6/6 \[", err)


def test_train_on_a_terminal_shows_no_lightning_banner(trained_on_a_terminal):
    _, _, err = trained_on_a_terminal
    assert not [word for word in BANNER if word in err]


def test_train_closing_lines_name_the_run_and_the_next_command(trained_on_a_terminal):
    run, out, _ = trained_on_a_terminal
    lines = out.strip().splitlines()
    assert lines[-2].startswith(f"run directory: {run} (config.yaml, model.json, ")
    assert "checkpoints/best.ckpt, checkpoints/last.ckpt, logs/" in lines[-2]
    assert lines[-1] == f"next: convrnn test {run}"


def test_closing_lines_name_the_run_files_then_the_checked_hint(trained_on_a_terminal, mnist_cache):
    # the resume hint of a run stopped early is run for real in test_cli_series
    run, _, _ = trained_on_a_terminal
    lines = closing_lines({}, run)
    assert lines[0].startswith(f"run directory: {run} (config.yaml, model.json, ")
    assert lines[0].endswith("logs/; logs/ holds CSV and TensorBoard logs)")
    assert lines[1] == f"next: convrnn test {run}"


def test_teacher_forcing_is_logged_under_its_name(trained_on_a_terminal):
    run, _, _ = trained_on_a_terminal
    header = next((run / "logs").glob("csv*/metrics.csv")).read_text().splitlines()[0]
    assert "train/teacher_forcing" in header.split(",") and "train/eta" not in header


def test_test_bar_counts_sequences_and_closes_with_the_files(
    trained_on_a_terminal, mnist_cache, capsys
):
    run, _, _ = trained_on_a_terminal
    code, out, err = run_cli(capsys, ["test", str(run), "--pictures", "1"])
    assert code == 0 and re.search(r"score test: 100%.*\| 4/4 \[", err)
    assert out.strip().splitlines()[-1] == (
        f"wrote metrics: {run / 'metrics.json'} (per frame: {run / 'metrics_per_frame.csv'}); "
        f"pictures: {run / 'test-results'}"
    )


def test_predict_bars_count_sequences_and_the_closing_line_lists_what_was_written(
    trained_on_a_terminal, tmp_path, capsys
):
    run, _, _ = trained_on_a_terminal
    np.save(
        tmp_path / "in.npy", np.random.default_rng(0).random((3, 4, 1, 32, 32), dtype=np.float32)
    )
    out_dir = tmp_path / "fc"
    out_dir.mkdir()
    (out_dir / "forecast_raw.npy").write_bytes(b"stale: from an earlier forecast")
    os.utime(out_dir / "forecast_raw.npy", (0, 0))
    args = ["predict", str(run), "--input", str(tmp_path / "in.npy"), "--horizon", "2"]
    code, out, err = run_cli(capsys, [*args, "--out", str(out_dir)])
    assert code == 0
    assert re.search(r"forecast: 100%.*\| 3/3 \[", err) and re.search(
        r"pictures: 100%.*\| 3/3 \[", err
    )
    assert out.strip() == (
        f"forecast written to {out_dir}: forecast.npy (sequences, horizon, C, H, W) = "
        "(3, 2, 1, 32, 32); PNG frames seqNNN/frame_TTT.png and a GIF seqNNN.gif for each of the "
        "3 sequences"
    )


BENCH = ["bench", "--models", "convlstm,ms-convlstm", "--size", "16", "--frames", "2,2",
         "--no-timing", "--no-peak-memory", "--set", "hidden_channels=4", "--set", "num_layers=2",
         "--set", "patch_size=1"]  # fmt: skip


def test_bench_bar_counts_rows_and_json_stays_clean(capsys):
    code, out, err = run_cli(capsys, [*BENCH, "--json"])
    assert code == 0 and re.search(r"bench: 100%.*\| 2/2 \[", err)
    assert [row["model"] for row in json.loads(out)] == ["convlstm", "ms-convlstm"]
    assert "nothing written to disk" in err.splitlines()[-1]
    code, out, err = run_cli(capsys, BENCH)
    assert code == 0 and out.splitlines()[0].startswith("model") and len(out.splitlines()) == 3
    assert not BAR.search(out), "the bar never goes to stdout"


@pytest.mark.parametrize(("flags", "terminal"), [(["--quiet"], True), ([], False)])
def test_no_bar_with_quiet_or_when_stderr_is_not_a_terminal(
    trained_on_a_terminal, mnist_cache, capsys, flags, terminal
):
    run, _, _ = trained_on_a_terminal
    code, _, err = run_cli(capsys, ["test", str(run), *flags], terminal=terminal)
    assert code == 0 and not BAR.search(err) and err == ""
    code, _, err = run_cli(capsys, [*BENCH, *flags], terminal=terminal)
    assert code == 0 and not BAR.search(err) and "nothing written" in err


@pytest.mark.parametrize(
    ("message", "hidden"),
    [
        ("GPU available: True (cuda), used: True", True),
        ("TPU available: False, using: 0 TPU cores", True),
        (
            "💡 Tip: For seamless cloud logging and experiment tracking, try installing litlogger",
            True,
        ),
        (
            "`Trainer(limit_val_batches=1.0)` was configured so 100% of the batches will be used..",
            True,
        ),
        ("You are using a CUDA device ('NVIDIA H200') that has Tensor Cores. To properly", True),
        ("LOCAL_RANK: 0 - CUDA_VISIBLE_DEVICES: [0]", True),
        ("Restored all states from the checkpoint at runs/x/checkpoints/last.ckpt", True),
        ("distributed_backend=gloo", False),  # what DDP runs on: kept
    ],
)
def test_the_banner_filter(message, hidden):
    record = logging.LogRecord(progress.BANNER_LOGGERS[0], logging.INFO, "", 0, message, None, None)
    try:
        progress.configure(quiet=True)
        assert all(
            bool(logging.getLogger(n).filter(record)) != hidden for n in progress.BANNER_LOGGERS
        )
        assert not progress.enabled()
        progress.configure(verbose=True)
        assert all(logging.getLogger(n).filter(record) for n in progress.BANNER_LOGGERS)
    finally:
        progress.configure()


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    try:
        expected = version("convrnn")
    except PackageNotFoundError:
        expected = "unknown (not installed: pip install -e .)"
    assert capsys.readouterr().out == f"convrnn {expected}\n"
    assert expected == convrnn.__version__ or expected.startswith("unknown")


@pytest.mark.slow
def test_a_real_process_prints_no_banner_unless_verbose(tmp_path):
    """Lightning's logging handler binds the real stderr at import: only a child process shows it."""
    env = {**os.environ, "CONVRNN_DATA": str(write_mnist_cache(tmp_path / "data")),
           "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "OMP_NUM_THREADS": "1"}  # fmt: skip

    def train(out, *flags):
        cmd = [sys.executable, "-m", "convrnn", "train", *TINY, "--max-steps", "2", "--out", out]
        done = subprocess.run(
            [*cmd, *flags], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        return done.stderr

    err = train("quiet")
    assert [word for word in BANNER if word in err] == [] and not BAR.search(err), err
    assert err == "", "stderr is not a terminal: no bar, and nothing else either"
    assert "GPU available" in train("verbose", "--verbose"), "the check can see the banner"
