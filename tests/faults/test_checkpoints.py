"""Checkpoints that must not load (malicious, corrupt, foreign) and writes that cannot finish."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest
import torch

import convrnn
from convrnn.cli import main
from convrnn.errors import CheckpointError, OutputError
from convrnn.io import save_atomic
from tests.faults.common import ckpt, temporaries


class RunsCode:
    """Unpickling this runs a shell command (``__reduce__``): what a malicious checkpoint does."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def run(tmp_path, tiny):
    """A freshly trained 2-iteration run."""
    path = tmp_path / "run"
    assert main(["train", *tiny, "--max-steps", "2", "--set", "train.val_every=2",
                 "--out", str(path)]) == 0  # fmt: skip
    return path


def test_malicious_checkpoint_runs_no_code_anywhere(run, tmp_path, capsys):
    marker = tmp_path / "code-ran"
    for name in ("best.ckpt", "last.ckpt"):
        good = ckpt(run, name[:-5])
        torch.save({**good, "payload": RunsCode(marker)}, run / "checkpoints" / name)
    np.save(tmp_path / "in.npy", np.zeros((3, 32, 32), np.float32))
    commands = [
        ["test", str(run)],
        ["test", str(run), "--checkpoint", "last"],
        ["predict", str(run), "--input", str(tmp_path / "in.npy"), "--horizon", "2",
         "--out", str(tmp_path / "fc")],
        ["train", "--out", str(run), "--resume"],
    ]  # fmt: skip
    for command in commands:
        assert main(command) == 2, command
        err = capsys.readouterr().err
        assert "holds objects convrnn does not load" in err and "was not written by convrnn" in err
        assert "weights_only" not in err and "Traceback" not in err
    for which in ("best", "last"):
        with pytest.raises(CheckpointError, match="loads only tensors and plain containers"):
            convrnn.load(run, which)
    from convrnn.train.checkpoint_io import AtomicCheckpointIO

    with pytest.raises(CheckpointError):  # the path Lightning's resume takes
        AtomicCheckpointIO().load_checkpoint(run / "checkpoints" / "last.ckpt")
    assert not marker.exists()
    assert not (tmp_path / "fc").exists()


def _text(path):
    path.write_text("this is not a checkpoint\n")


def _truncated(path):
    path.write_bytes((path.parent / "last.ckpt").read_bytes()[:3000])


def _empty(path):
    path.write_bytes(b"")


def _no_state_dict(path):
    torch.save({"weights": {"a": torch.zeros(2)}}, path)


def _a_list(path):
    torch.save([torch.zeros(2)], path)


def _other_model(path):
    torch.save({"state_dict": {"model.head.weight": torch.zeros(3, 3)}}, path)


def _folder(path):
    path.mkdir()


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (_text, "is corrupt or truncated, or not a checkpoint"),
        (_truncated, "is corrupt or truncated, or not a checkpoint"),
        (_empty, "is corrupt or truncated, or not a checkpoint"),
        (_no_state_dict, "is not a Lightning checkpoint of a convrnn run"),
        (_a_list, "is not a Lightning checkpoint of a convrnn run"),
        (_other_model, "does not hold the weights of the model in"),
        (_folder, "is a folder, not a .ckpt file"),
    ],
)
def test_unusable_checkpoint_files(run, capsys, write, message):
    path = run / "checkpoints" / "other.ckpt"
    write(path)
    assert main(["test", str(run), "--checkpoint", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"checkpoint {path} {message}" in err, err
    assert "Traceback" not in err and "weights_only" not in err
    if message != "is a folder, not a .ckpt file":
        assert "use the run's other checkpoint (best or last)" in err or "use a checkpoint" in err


def test_missing_checkpoint(run, capsys):
    assert main(["test", str(run), "--checkpoint", str(run / "nope.ckpt")]) == 2
    assert "not found (choose best, last or a .ckpt path)" in capsys.readouterr().err


def _disk_full_after_some_bytes(obj, f, *args, **kwargs):
    f.write(b"x" * 100)
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_during_a_checkpoint_write(tmp_path, tiny, monkeypatch, capsys):
    real = torch.save

    def save(obj, f, *args, **kwargs):
        if isinstance(obj, dict) and obj.get("convrnn", {}).get("iteration") == 4:
            return _disk_full_after_some_bytes(obj, f)
        return real(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    run = tmp_path / "run"
    assert main(["train", *tiny, "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert f"cannot write {run / 'checkpoints' / 'best.ckpt'}: no space left on device" in err
    assert f"{run / 'checkpoints' / 'last.ckpt'} of iteration 2 is intact" in err
    assert f"convrnn train --out {run} --resume" in err and "enforce fail" not in err
    monkeypatch.undo()
    assert ckpt(run)["convrnn"]["iteration"] == 2 and temporaries(run) == []


class _FullDisk:
    """A file whose writes fail with ENOSPC after ``room`` bytes, as a full disk's do."""

    def __init__(self, file, room: int) -> None:
        self.file, self.room = file, room

    def write(self, data) -> int:
        self.room -= len(data)
        if self.room < 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.file.write(data)

    def __getattr__(self, name):
        return getattr(self.file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()


def test_disk_full_inside_torch_writer_is_named(tmp_path, monkeypatch):
    path = tmp_path / "c.ckpt"
    save_atomic({"a": torch.ones(2)}, path)
    fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda fd, mode: _FullDisk(fdopen(fd, mode), 1000))
    with pytest.raises(OutputError, match=f"cannot write {path}: no space left on device") as e:
        save_atomic({"a": torch.zeros(10_000)}, path)  # torch turns the OSError into "enforce fail"
    monkeypatch.undo()
    assert e.value.errno == errno.ENOSPC and isinstance(e.value, OSError)
    assert torch.equal(torch.load(path, weights_only=True)["a"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["c.ckpt"]


def test_disk_full_and_no_permission_at_training_start(tmp_path, tiny, monkeypatch, capsys):
    import torch.utils.tensorboard as tensorboard

    def full(self, log_dir=None, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(log_dir))

    monkeypatch.setattr(tensorboard.SummaryWriter, "__init__", full)
    run = tmp_path / "run"
    assert main(["train", *tiny, "--out", str(run)]) == 2
    err = capsys.readouterr().err.splitlines()[-1]  # (Lightning may log about earlier tests)
    assert err.startswith("convrnn train: error: cannot write")
    assert f"{run / 'logs' / 'tensorboard'}: no space left on device; free some space" in err
    assert "or choose another --out; no checkpoint was written yet" in err

    from convrnn.train import lock

    def denied(self):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self.path))

    monkeypatch.setattr(lock.RunLock, "__enter__", denied)
    other = tmp_path / "other"
    assert main(["train", *tiny, "--out", str(other)]) == 2
    err = capsys.readouterr().err
    assert f"cannot write {other / '.lock'}: permission denied; make it writable or choose" in err
