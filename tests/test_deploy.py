"""ONNX and torch.export files of the rollout reproduce the eager forecast; a mismatch writes nothing."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from convrnn.blocks.tracing import exporting
from convrnn.errors import ExportError, InputError
from convrnn.export import TOLERANCE, Rollout, export_onnx, export_program
from tests.conftest import tiny_model


def small(**overrides):
    return tiny_model("ms-convlstm", num_layers=2, image_size=16, **overrides).eval()


def test_torch_export_of_predict_has_a_dynamic_batch_and_checks_stay_for_eager_calls():
    model = small()
    x = torch.rand(2, 3, 1, 16, 16)
    program = torch.export.export(
        Rollout(model, 2).eval(), (x,), dynamic_shapes={"frames": {0: torch.export.Dim.DYNAMIC}}
    )
    for batch in (1, 5):
        y = torch.rand(batch, 3, 1, 16, 16)
        torch.testing.assert_close(program.module()(y), model.predict(y, 2), rtol=0, atol=1e-6)
    assert not exporting()  # eager calls still read the values
    with pytest.raises(InputError, match="NaN"):
        model.predict(torch.full((1, 3, 1, 16, 16), float("nan")), 2)
    with pytest.raises(InputError, match=r"lie in \[2, 2\]"):
        model.predict(torch.full((1, 3, 1, 16, 16), 2.0), 2)


@pytest.mark.parametrize("targets", [None, [1]])
def test_torch_export_file_reloads_and_matches_eager(tmp_path, targets):
    model = small(in_channels=2, target_channels=targets)
    info = export_program(model, tmp_path / "model.pt2", input_length=3, horizon=4)
    assert info["checked"]["max_abs_diff"] <= TOLERANCE
    loaded = torch.export.load(str(tmp_path / "model.pt2")).module()
    y = torch.rand(4, 3, 2, 16, 16)
    got = loaded(y)
    assert got.shape == (4, 4, model.out_channels, 16, 16)
    assert float((got - model.predict(y, 4)).abs().max()) <= TOLERANCE
    assert info["output"]["shape"] == ["batch", 4, model.out_channels, 16, 16]


@pytest.mark.slow
@pytest.mark.parametrize("targets", [None, [0]])
def test_onnx_file_runs_in_onnxruntime_like_eager(tmp_path, targets):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    model = small(in_channels=2, target_channels=targets)
    info = export_onnx(model, tmp_path / "model.onnx", input_length=3, horizon=3)
    assert info["checked"]["max_abs_diff"] <= TOLERANCE and info["opset"] >= 17
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["frames"]
    for batch in (1, 4):  # the batch axis is dynamic
        y = torch.rand(batch, 3, 2, 16, 16)
        (got,) = session.run(None, {"frames": y.numpy()})
        assert got.shape == (batch, 3, model.out_channels, 16, 16)
        assert np.abs(got - model.predict(y, 3).numpy()).max() <= TOLERANCE


def test_a_mismatch_fails_and_writes_nothing(tmp_path, monkeypatch):
    import convrnn.export.deploy as deploy

    monkeypatch.setattr(deploy, "TOLERANCE", -1.0)  # no difference passes, not even 0
    with pytest.raises(ExportError, match="differs from the eager model by up to"):
        export_program(small(), tmp_path / "model.pt2", input_length=3, horizon=2)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_cli_onnx_export_prints_the_check_and_fails_with_status_2(
    tmp_path, mnist_cache, capsys, monkeypatch
):
    from convrnn.cli import main
    from tests.fixtures.cli import TINY

    run = tmp_path / "run"
    assert main(["train", *TINY, "--max-steps", "2", "--out", str(run)]) == 0
    capsys.readouterr()
    out = tmp_path / "b"
    args = ["export", str(run), "--out", str(out), "--format", "onnx", "--horizon", "5"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    diff = float(
        re.search(r"model\.onnx: onnx, 5 frames; max \|exported - eager\| = (\S+)", printed)[1]
    )
    assert diff <= TOLERANCE and (out / "model.onnx").is_file() and (out / "config.json").is_file()
    import convrnn.export.deploy as deploy

    monkeypatch.setattr(deploy, "TOLERANCE", -1.0)
    args = ["export", str(run), "--out", str(tmp_path / "c"), "--format", "torch-export"]
    assert main(args) == 2
    assert "differs from the eager model" in capsys.readouterr().err
    assert not (tmp_path / "c" / "model.pt2").exists()
    assert not (tmp_path / "c" / "config.json").exists()
