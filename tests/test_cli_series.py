"""Own data through the CLI: three events train, validate and test; the closing hint always works."""

import json
import shlex

import numpy as np
import pytest

from convrnn.cli import main

TINY = [
    "--model", "convlstm", "--batch-size", "2", "--max-steps", "4",
    "--set", "data.input_length=4", "--set", "data.output_length=12",
    "--set", "model.options.hidden_channels=4", "--set", "model.options.num_layers=2",
    "--set", "model.options.patch_size=2", "--set", "train.progress_bar=false",
    "--set", "eval.batch_size=32",
]  # fmt: skip


def hint_of(out: str) -> str:
    """The ``next:`` line train printed last."""
    return [line for line in out.splitlines() if line.startswith("next: ")][-1]


def run_hint(command: str) -> int:
    """Run a ``convrnn ...`` command as the hint spells it."""
    argv = shlex.split(command)
    assert argv[0] == "convrnn"
    return main(argv[1:])


@pytest.mark.slow
def test_three_events_train_validate_and_test_without_prewindowing(tmp_path, capsys):
    events = tmp_path / "events"
    events.mkdir()
    rng = np.random.default_rng(0)
    for name, frames in (("e1", 92), ("e2", 40), ("e3", 40)):
        np.save(events / f"{name}.npy", rng.random((frames, 8, 8), dtype=np.float32) * 50)
    run = tmp_path / "run"
    assert main(["train", *TINY, "--data", str(events), "--out", str(run), "--threads", "1"]) == 0
    out = capsys.readouterr().out
    # the data summary at the start: series, windows per split, normalisation, threads
    for line in ("e1.npy: 92 frames (train)", "e2.npy: 40 frames (val)", "e3.npy: 40 frames (test)",
                 "train: 77 windows of 16 frames", "val: 25 windows", "test: 25 windows",
                 "min-max over the training split (92 frames)", "threads: 1 CPU thread"):  # fmt: skip
        assert line in out, line
    summary = next((run / "logs").glob("csv*/summary.txt")).read_text()
    assert "threads: 1 CPU thread (--threads / train.threads)" in summary
    # validated several times in a 4-step run (default val_every = max_steps / 5 -> 1)
    metrics = (run / "logs" / "csv" / "metrics.csv").read_text().splitlines()
    assert sum(1 for row in metrics[1:] if row.split(",")[-1]) == 4
    hint = hint_of(out)
    assert hint == f"next: convrnn test {run}"
    assert run_hint(hint.removeprefix("next: ")) == 0
    report = json.loads((run / "metrics.json").read_text())
    assert report["num_sequences"] == 25  # the 25 windows of the third event


@pytest.mark.slow
def test_without_a_test_split_the_hint_says_so_and_its_command_works(tmp_path, capsys):
    folder = tmp_path / "only"
    folder.mkdir()
    np.save(folder / "train.npy", np.random.default_rng(1).random((60, 8, 8), dtype=np.float32))
    run = tmp_path / "run"
    assert main(["train", *TINY, "--data", str(folder), "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert "test: not available" in out
    hint = hint_of(out)
    assert "no test split" in hint and "no test array file" in hint and "test.*" in hint
    command = hint.split("meanwhile score the validation split: ")[1]
    assert command == f"convrnn test {run} --split val"
    assert run_hint(command) == 0 and (run / "metrics_val.json").exists()
    assert run_hint(f"convrnn test {run}") == 2  # what the old hint said: fails


@pytest.mark.slow
def test_a_run_stopped_early_is_told_to_resume(tmp_path, capsys):
    events = tmp_path / "events"
    events.mkdir()
    for i, frames in enumerate((40, 30, 30)):
        np.save(events / f"e{i}.npy", np.random.default_rng(i).random((frames, 8, 8), np.float32))
    run = tmp_path / "run"
    args = ["train", *TINY, "--data", str(events), "--out", str(run)]
    assert main([*args, "--set", "train.stop_after=2"]) == 0
    hint = hint_of(capsys.readouterr().out)
    resume, score = hint.removeprefix("next: ").split("  (continues")[0], hint.split("now: ")[1]
    assert resume == f"convrnn train --out {run} --resume"
    assert score == f"convrnn test {run} --checkpoint last"
    assert run_hint(score) == 0
    assert run_hint(resume) == 0
    assert hint_of(capsys.readouterr().out) == f"next: convrnn test {run}"
