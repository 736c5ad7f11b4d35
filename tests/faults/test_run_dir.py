"""One training per run, folders that are not runs, finished runs, stale temporaries."""

from __future__ import annotations

import os
import time

import pytest

from convrnn import config as config_lib
from convrnn.cli import main
from convrnn.train.fit import train
from convrnn.train.lock import RunLock, holder
from tests.faults.common import ckpt, snapshot, start, temporaries, wait_for


def test_second_training_fails_at_once_naming_the_holder(tmp_path, tiny, capsys):
    run = tmp_path / "run"
    with RunLock(run):
        began = time.monotonic()
        assert main(["train", *tiny, "--out", str(run)]) == 2
        assert time.monotonic() - began < 10  # at once, not after loading the data
        err = capsys.readouterr().err
        assert f"another convrnn train (pid {os.getpid()}) is writing to {run}" in err
        assert "wait for it or choose another --out" in err
        assert sorted(p.name for p in run.iterdir()) == [".lock"]  # nothing else written
    # released: the lock file (naming a process that no longer holds it) blocks nothing
    assert f"pid {os.getpid()}" in holder(run)
    assert main(["train", *tiny, "--max-steps", "2", "--out", str(run)]) == 0


def test_lock_file_of_a_dead_process_does_not_block(tmp_path, tiny):
    run = tmp_path / "run"
    run.mkdir()
    (run / ".lock").write_text(
        "convrnn train pid 999999 host elsewhere since 2020-01-01T00:00:00\n"
    )
    assert main(["train", *tiny, "--max-steps", "2", "--out", str(run)]) == 0
    assert ckpt(run)["convrnn"]["iteration"] == 2


@pytest.mark.slow
def test_concurrent_trainings_on_one_run(tmp_path, tiny, capsys):
    run = tmp_path / "run"
    first = start(["train", *tiny, "--max-steps", "150", "--out", str(run)])
    try:
        wait_for(lambda: (run / "checkpoints" / "last.ckpt").exists(), first)
        assert f"pid {first.pid} " in holder(run)
        assert main(["train", *tiny, "--out", str(run)]) == 2
        assert main(["train", "--out", str(run), "--resume"]) == 2
        err = capsys.readouterr().err
        assert err.count(f"another convrnn train (pid {first.pid}) is writing to {run}") == 2
        assert first.poll() is None, "the test needs the first training still running"
        _, err = first.communicate(timeout=300)
    finally:
        first.kill()
    assert first.returncode == 0, err[-3000:]
    assert ckpt(run)["convrnn"]["iteration"] == 150
    assert sorted(p.name for p in (run / "logs").iterdir()) == ["csv", "tensorboard"]


def test_resume_of_a_finished_run_changes_nothing(straight, capsys):
    before = snapshot(straight)
    assert main(["train", "--out", str(straight), "--resume"]) == 0
    out = capsys.readouterr().out
    assert f"{straight} is finished at iteration 8 (train.max_steps=8)" in out
    assert str(straight / "checkpoints" / "last.ckpt") in out
    assert snapshot(straight) == before  # same files, bytes and mtimes: nothing written
    # past a stop_after: nothing to do either
    assert main(["train", "--out", str(straight), "--resume", "--set", "train.stop_after=3"]) == 0
    assert "nothing written" in capsys.readouterr().out
    assert snapshot(straight) == before


def test_out_on_a_folder_of_user_files_is_refused(tmp_path, tiny, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    for name in ("config.yaml", "model.json", "normalization.json", "notes.txt"):
        (mine / name).write_text(f"the user's own {name}\n")
    (mine / "data").mkdir()
    before = snapshot(mine)
    assert main(["train", *tiny, "--out", str(mine)]) == 2
    err = capsys.readouterr().err
    assert f"{mine} is not empty and is not a convrnn run" in err
    assert "config.yaml" in err and "--overwrite" in err and "another" not in err
    assert snapshot(mine) == before and sorted(p.name for p in mine.iterdir()) == [
        "config.yaml", "data", "model.json", "normalization.json", "notes.txt"
    ]  # fmt: skip
    assert main(["train", *tiny, "--out", str(mine / "notes.txt")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_overwrite_writes_the_run_into_a_user_folder_and_deletes_nothing(tmp_path, data_root):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me\n")
    (mine / "config.yaml").write_text("the user's\n")
    cfg = config_lib.resolve(
        {
            "data": {"root": str(data_root), "input_length": 3, "output_length": 3,
                     "options": {"image_size": 32}, "train_options": {"num_sequences": 12},
                     "val_options": {"num_sequences": 4}},
            "model": {"options": {"hidden_channels": 8, "num_layers": 2}},
            "train": {"max_steps": 2, "batch_size": 2, "val_every": 2, "progress_bar": False},
        }
    )  # fmt: skip
    with pytest.raises(FileNotFoundError, match="not a convrnn run"):
        train(cfg, mine)
    train(cfg, mine, overwrite=True)
    assert (mine / "notes.txt").read_text() == "keep me\n"
    assert config_lib.load_yaml(mine / "config.yaml")["train"]["max_steps"] == 2  # replaced
    assert ckpt(mine)["convrnn"]["iteration"] == 2


def test_stale_temporaries_are_removed_on_the_next_start(tmp_path, tiny):
    run = tmp_path / "run"
    assert main(["train", *tiny, "--out", str(run), "--set", "train.stop_after=3"]) == 0
    stale = [
        run / "checkpoints" / ".last.ckpt.k1ll3d_x.tmp",
        run / "checkpoints" / ".best.ckpt.abcdefgh.tmp",
        run / ".config.yaml.12345678.tmp",
    ]
    others = [run / ".metrics.json.abcdefgh.tmp", run / "notes.tmp", run / "checkpoints" / "x.tmp"]
    for path in stale + others:
        path.write_bytes(b"partial")
    assert main(["train", "--out", str(run), "--resume"]) == 0
    assert not any(p.exists() for p in stale)
    # convrnn test may be writing its metrics right now; files not of that pattern are not ours
    assert all(p.exists() for p in others)
    assert temporaries(run) == [".metrics.json.abcdefgh.tmp"]
    assert ckpt(run)["convrnn"]["iteration"] == 8
