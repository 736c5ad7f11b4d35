"""Table-driven: every bad input of the hardening issue gets a message naming the fix, exit 2, nothing written."""

from __future__ import annotations

import numpy as np
import pytest

import convrnn
from convrnn.cli import main
from convrnn.errors import ConfigError


@pytest.fixture
def series(tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((60, 8, 8), dtype=np.float32))
    (tmp_path / "folder").mkdir()
    return tmp_path


BAD_SETTINGS = [
    ("train.lr=[1,", "not valid YAML"),
    ("train.min_lr=abc", "train.min_lr must be a finite number"),
    ("train.lr=.nan", "train.lr must be a finite number"),
    ("train.lr=.inf", "train.lr must be a finite number"),
    ("train.seed=abc", "train.seed must be an integer"),
    ("train.progress_bar=3", "must be true or false"),
    ("train.min_lr=-1", "train.min_lr must be >= 0"),
    ("data.options.normalise=rain", "normalise"),
    ("model.options.hidden_channels=0", "hidden_channels"),
]


@pytest.mark.parametrize(("setting", "message"), BAD_SETTINGS)
def test_bad_settings_are_named_before_anything_is_written(series, capsys, setting, message):
    out = series / "run"
    code = main(["train", "--data", str(series / "x.npy"), "--max-steps", "1", "--out", str(out),
                 "--set", "data.input_length=2", "--set", "data.output_length=2", "--set", setting])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--config", "folder"], "is a folder; give a YAML file"),
        (["--data", "missing/x.npy"], "no such file or folder"),
        (["--data", "truncated.npz"], "truncated"),
    ],
)
def test_bad_files_are_named(series, capsys, monkeypatch, args, message):
    monkeypatch.chdir(series)
    (series / "truncated.npz").write_bytes((series / "x.npy").read_bytes()[:100])
    full = ["train", "--max-steps", "1", "--out", "run", *args]
    if "--data" not in args:
        full += ["--data", "x.npy"]
    assert main(full) == 2
    assert message in capsys.readouterr().err
    assert not (series / "run").exists()


def test_splits_of_different_frame_sizes_fail_the_data_check(tmp_path, capsys):
    (tmp_path / "two").mkdir()
    np.save(
        tmp_path / "two" / "train.npy",
        np.random.default_rng(0).random((20, 8, 8), dtype=np.float32),
    )
    np.save(
        tmp_path / "two" / "test.npy",
        np.random.default_rng(1).random((20, 16, 16), dtype=np.float32),
    )
    assert main(["data", "check", "arrays", str(tmp_path / "two"), "--set", "seq_len=4"]) == 1
    assert "training split's are (1, 8, 8)" in capsys.readouterr().out


def test_a_relative_data_path_is_stored_absolute(series, monkeypatch):
    monkeypatch.chdir(series)
    assert main(["train", "--model", "convlstm", "--data", "x.npy", "--max-steps", "1", "--out", "run",
                 "--set", "data.input_length=2", "--set", "data.output_length=2",
                 "--set", "model.options.hidden_channels=4", "--set", "model.options.num_layers=2",
                 "--set", "model.options.patch_size=1", "--set", "train.progress_bar=false",
                 "--set", "train.val_every=1", "--batch-size", "2"]) == 0  # fmt: skip
    from convrnn.runs import read_config

    cfg = read_config(series / "run")
    assert cfg["data"]["root"] == str(series / "x.npy")


def test_python_api_errors_name_the_value():
    with pytest.raises(ConfigError, match="hidden_channels"):
        convrnn.build_model("convlstm", hidden_channels=0)


@pytest.mark.parametrize(
    "error",
    [
        MemoryError(),
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"
        ),
        RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    ],
)
def test_out_of_memory_gives_a_hint(monkeypatch, capsys, error):
    import convrnn.cli.models as models_command

    def boom(args):
        raise error

    monkeypatch.setattr(models_command, "run", boom)
    assert main(["models"]) == 2
    err = capsys.readouterr().err
    assert "out of memory" in err and "--batch-size" in err and "checkpointing=step" in err


def test_a_bug_keeps_its_traceback(monkeypatch):
    import convrnn.cli.models as models_command

    def bug(args):
        raise RuntimeError("shape mismatch inside a kernel")

    monkeypatch.setattr(models_command, "run", bug)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        main(["models"])
