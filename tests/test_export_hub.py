"""``hf://owner/name`` and ``convrnn export --push``, offline: the Hub client's calls are replaced.

The fakes stand in for ``huggingface_hub``'s network functions only (``snapshot_download``,
``HfApi.create_repo``, ``HfApi.upload_folder``); a local folder plays the repository.
"""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest
import torch

import convrnn
from convrnn.cli import main
from convrnn.errors import ConfigError, RunError
from tests.fixtures.cli import TINY
from tests.fixtures.mnist import write_mnist_cache

hub = pytest.importorskip("huggingface_hub")
from huggingface_hub import errors as hub_errors  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CONVRNN_DATA", str(write_mnist_cache(root / "data")))
        out = root / "run"
        assert main(["train", *TINY, "--max-steps", "2", "--out", str(out)]) == 0
    return out


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    """Repositories as folders under ``tmp_path/hub/<owner>/<name>``; records every call."""
    root = tmp_path / "hub"
    calls: list[tuple] = []

    def create_repo(self, repo_id, repo_type=None, private=False, exist_ok=False, **kw):
        calls.append(("create_repo", repo_id, repo_type, private, exist_ok))
        (root / repo_id).mkdir(parents=True, exist_ok=True)

    def upload_folder(self, folder_path, repo_id, repo_type=None, ignore_patterns=None, **kw):
        calls.append(("upload_folder", repo_id, repo_type))
        shutil.copytree(folder_path, root / repo_id, dirs_exist_ok=True)

    def snapshot_download(repo_id, revision=None, allow_patterns=None, **kw):
        calls.append(("snapshot_download", repo_id, revision, tuple(allow_patterns or ())))
        if not (root / repo_id).is_dir():
            # what the client raises when it cannot reach or find the repository
            raise hub_errors.LocalEntryNotFoundError(f"{repo_id} is not in the cache")
        cache = tmp_path / "cache" / repo_id.replace("/", "--") / (revision or "main")
        shutil.copytree(root / repo_id, cache, dirs_exist_ok=True)
        return str(cache)

    monkeypatch.setattr(hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(hub.HfApi, "upload_folder", upload_folder)
    monkeypatch.setattr(hub, "snapshot_download", snapshot_download)
    return root, calls


def test_push_then_load_from_the_hub(run, fake_hub, tmp_path, capsys):
    root, calls = fake_hub
    assert main(["export", str(run), "--push", "someone/tiny-convlstm"]) == 0  # no --out
    assert "load it with convrnn.load('hf://someone/tiny-convlstm')" in capsys.readouterr().out
    assert calls[:2] == [
        ("create_repo", "someone/tiny-convlstm", "model", False, True),
        ("upload_folder", "someone/tiny-convlstm", "model"),
    ]
    pushed = {p.name for p in (root / "someone" / "tiny-convlstm").iterdir()}
    assert {"model.safetensors", "config.json", "README.md"} <= pushed

    model = convrnn.load("hf://someone/tiny-convlstm@v1")
    assert calls[-1][:3] == ("snapshot_download", "someone/tiny-convlstm", "v1")
    assert "model.safetensors" in calls[-1][3] and "config.json" in calls[-1][3]
    expected = convrnn.load(run).state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in model.state_dict().items())

    frames = tmp_path / "in.npy"
    np.save(frames, np.random.default_rng(0).random((3, 32, 32), dtype=np.float32))
    for source, out in (("hf://someone/tiny-convlstm", "hub"), (str(run), "run")):
        args = ["predict", source, "--input", str(frames), "--horizon", "2"]
        assert main([*args, "--out", str(tmp_path / out)]) == 0
    np.testing.assert_array_equal(
        np.load(tmp_path / "hub" / "forecast.npy"), np.load(tmp_path / "run" / "forecast.npy")
    )


def test_hub_errors_name_the_fix(fake_hub, monkeypatch, capsys):
    with pytest.raises(
        RunError, match="cannot download hf://nobody/nothing: LocalEntryNotFoundError"
    ):
        convrnn.load("hf://nobody/nothing")
    with pytest.raises(ConfigError, match="hf://owner/name"):
        convrnn.load("hf://just-a-name")
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"pip install convrnn\[hub\]"):
        convrnn.load("hf://someone/model")


def test_push_failures_exit_2_with_the_login_hint(run, tmp_path, monkeypatch, capsys):
    def refuse(self, *args, **kwargs):
        raise OSError("401 Client Error: Unauthorized")

    monkeypatch.setattr(hub.HfApi, "create_repo", refuse)
    assert main(["export", str(run), "--out", str(tmp_path / "b"), "--push", "me/m"]) == 2
    err = capsys.readouterr().err
    assert "cannot push to me/m" in err and "hf auth login" in err
    assert (tmp_path / "b" / "config.json").is_file()  # the local bundle was written first
