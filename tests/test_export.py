"""``convrnn export``: bundles load and predict exactly as their run; the card, the files, the errors."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch

import convrnn
from convrnn.cli import main
from convrnn.runs import read_normalizer
from tests.fixtures.cli import TINY
from tests.fixtures.mnist import write_mnist_cache


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny trained and tested ms-convlstm run (metrics.json present)."""
    root = tmp_path_factory.mktemp("export")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CONVRNN_DATA", str(write_mnist_cache(root / "data")))
        out = root / "run"
        assert main(["train", *TINY, "--max-steps", "2", "--out", str(out)]) == 0
        assert main(["test", str(out), "--pictures", "0"]) == 0
    return out


@pytest.fixture(scope="module")
def bundle(run, tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "b"
    assert main(["export", str(run), "--out", str(out)]) == 0
    return out


def safetensors_header(path) -> dict:
    """The JSON header of a safetensors file (8-byte little-endian length, then JSON)."""
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + n])


def test_bundle_files_hold_weights_config_card_and_metrics(run, bundle):
    names = {p.name for p in bundle.iterdir()}
    assert {"model.safetensors", "config.json", "README.md", "metrics.json"} <= names
    assert not [n for n in names if n.endswith((".ckpt", ".pt", ".pkl", ".tmp"))]
    model = convrnn.load(run)
    header = safetensors_header(bundle / "model.safetensors")
    assert set(header) - {"__metadata__"} == set(model.state_dict())  # tensors only, every one
    config = json.loads((bundle / "config.json").read_text())
    assert config["format"] == "convrnn-bundle"
    assert config["build"] == json.loads((run / "model.json").read_text())
    assert (config["input_length"], config["output_length"]) == (3, 3)
    assert config["model"]["parameters"] == convrnn.count_parameters(model)
    assert config["normalization"] is None and config["units"] == "[0, 1]"
    assert config["interval"] == "1 frame"
    assert config["source"]["iteration"] == 2 and config["source"]["run"] == "run"
    assert "devices" not in config["training"] and config["training"]["max_steps"] == 2
    assert (bundle / "metrics.json").read_bytes() == (run / "metrics.json").read_bytes()


def test_bundle_loads_and_predicts_exactly_as_the_run(run, bundle, tmp_path, capsys):
    a, b = convrnn.load(run), convrnn.load(bundle)
    assert a.state_dict().keys() == b.state_dict().keys()
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    frames = np.random.default_rng(0).random((2, 4, 32, 32), dtype=np.float32)
    np.save(tmp_path / "in.npy", frames)
    for source, out in ((run, "from_run"), (bundle, "from_bundle")):
        args = ["predict", str(source), "--input", str(tmp_path / "in.npy"), "--horizon", "4"]
        assert main([*args, "--layout", "NTHW", "--out", str(tmp_path / out)]) == 0
    got = np.load(tmp_path / "from_bundle" / "forecast.npy")
    assert got.shape == (2, 4, 1, 32, 32)
    np.testing.assert_array_equal(got, np.load(tmp_path / "from_run" / "forecast.npy"))


def test_model_card_names_model_data_recipe_scores_and_loading(run, bundle):
    card = (bundle / "README.md").read_text()
    report = json.loads((run / "metrics.json").read_text())
    params = convrnn.count_parameters(convrnn.load(run))
    assert card.startswith("---\nlibrary_name: convrnn\n")
    assert "# ms-convlstm trained on moving-mnist" in card
    assert f"| Parameters | {params:,} |" in card
    assert "ConvLSTM (Shi et al. 2015)" in card  # the paper, from the registry entry
    assert "| train.max_steps | `2` |" in card and '| train.loss | `"l1+l2"` |' in card
    base = report["baselines"]["persistence"]
    assert f"| model | {report['metrics']['mse']:.2f} | {report['metrics']['mae']:.2f} |" in card
    assert f"| copy-last-frame | {base['mse']:.2f} | {base['mae']:.2f} |" in card
    assert "## Intended use and limitations" in card
    assert 'convrnn.load("BUNDLE")' in card and "convrnn predict BUNDLE" in card


def test_an_untested_run_says_so_in_its_card(run, tmp_path):
    import shutil

    copy = tmp_path / "untested"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("metrics*", "test-results"))
    assert main(["export", str(copy), "--out", str(tmp_path / "b")]) == 0
    assert not (tmp_path / "b" / "metrics.json").exists()
    assert "Not scored: run `convrnn test RUN`" in (tmp_path / "b" / "README.md").read_text()


def test_export_refuses_bad_targets_and_bundles_refuse_what_they_lack(
    run, bundle, tmp_path, capsys
):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    assert main(["export", str(run), "--out", str(taken)]) == 2
    assert "not empty and is not a convrnn bundle" in capsys.readouterr().err
    assert main(["export", str(run)]) == 2
    assert "give --out DIR" in capsys.readouterr().err
    assert main(["export", str(run), "--out", str(run)]) == 2
    assert "is the exported run itself" in capsys.readouterr().err
    assert main(["export", str(run), "--out", str(tmp_path / "x"), "--horizon", "3"]) == 2
    assert "--horizon applies to --format onnx" in capsys.readouterr().err
    assert main(["test", str(bundle)]) == 2
    assert "is a model bundle" in capsys.readouterr().err
    frames = tmp_path / "in.npy"
    np.save(frames, np.zeros((3, 32, 32), np.float32))
    args = [
        "predict",
        str(bundle),
        "--input",
        str(frames),
        "--horizon",
        "1",
        "--out",
        str(tmp_path),
    ]
    assert main([*args, "--checkpoint", "last"]) == 2
    assert "holds one set of weights" in capsys.readouterr().err


def test_a_corrupt_bundle_is_a_clear_error(bundle, tmp_path, capsys):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(bundle, broken)
    data = (broken / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(data[: len(data) // 2])
    frames = tmp_path / "in.npy"
    np.save(frames, np.zeros((3, 32, 32), np.float32))
    args = ["predict", str(broken), "--input", str(frames), "--horizon", "1"]
    assert main([*args, "--out", str(tmp_path / "f")]) == 2
    assert "model.safetensors is corrupt or truncated" in capsys.readouterr().err
    (broken / "config.json").write_text('{"format": "something-else"}')
    with pytest.raises(convrnn.errors.RunError, match="not the config of a convrnn bundle"):
        convrnn.load(broken)


def test_reexport_keeps_deployment_files_of_the_same_weights_only(run, tmp_path):
    out = tmp_path / "b"
    assert main(["export", str(run), "--out", str(out), "--format", "torch-export"]) == 0
    assert main(["export", str(run), "--out", str(out)]) == 0  # same weights: model.pt2 stays
    config = json.loads((out / "config.json").read_text())
    assert set(config["exports"]) == {"torch-export"} and (out / "model.pt2").is_file()
    config["weights_sha256"] = "0" * 64  # as if the bundle held other weights
    (out / "config.json").write_text(json.dumps(config))
    assert main(["export", str(run), "--out", str(out)]) == 0
    assert not (out / "model.pt2").exists()
    assert json.loads((out / "config.json").read_text())["exports"] == {}


@pytest.mark.slow
def test_normalised_multichannel_run_bundle_predicts_raw_units_like_the_run(tmp_path, capsys):
    """Per-channel min-max data with a target channel: the bundle carries the normalisation."""
    rng = np.random.default_rng(0)
    data = rng.random((10, 6, 16, 16, 2), dtype=np.float32)
    data[..., 0] *= 40.0
    data[..., 1] = data[..., 1] * 3.0 - 1.0
    np.save(tmp_path / "two.npy", data)
    run = tmp_path / "run"
    train = [
        "train", "--data", str(tmp_path / "two.npy"), "--model", "ms-convlstm",
        "--batch-size", "2", "--max-steps", "2", "--out", str(run),
        "--set", "data.options.layout=NTHWC", "--set", "data.options.target_channels=[0]",
        "--set", "data.options.per_channel=true", "--set", "model.options.hidden_channels=8",
        "--set", "model.options.num_layers=2", "--set", "data.input_length=3",
        "--set", "data.output_length=3", "--set", "train.val_every=2",
        "--set", "train.checkpoint_every=2", "--set", "train.progress_bar=false",
    ]  # fmt: skip
    assert main(train) == 0
    assert main(["test", str(run), "--pictures", "1"]) == 0
    report = json.loads((run / "metrics.json").read_text())
    assert np.isfinite(report["metrics"]["mse"])
    assert main(["export", str(run), "--out", str(tmp_path / "b")]) == 0
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    assert config["build"]["target_channels"] == [0]
    assert config["model"]["out_channels"] == 1 and config["model"]["in_channels"] == 2
    assert config["normalization"] == json.loads((run / "normalization.json").read_text())
    frames = tmp_path / "in.npy"
    np.save(frames, data[:3, :3])
    outs = {}
    for name, source in (("run", run), ("bundle", tmp_path / "b")):
        args = ["predict", str(source), "--input", str(frames), "--layout", "NTHWC"]
        assert main([*args, "--horizon", "4", "--out", str(tmp_path / name)]) == 0
        outs[name] = [np.load(tmp_path / name / f) for f in ("forecast.npy", "forecast_raw.npy")]
    (fc, raw), (fc_b, raw_b) = outs["run"], outs["bundle"]
    assert fc.shape == raw.shape == (3, 4, 1, 16, 16)
    np.testing.assert_array_equal(fc_b, fc)
    np.testing.assert_array_equal(raw_b, raw)
    norm = read_normalizer(tmp_path / "b")  # channel 0's min-max, mapped back to its units
    np.testing.assert_allclose(raw, (fc - norm.offset[0]) / norm.scale[0], rtol=1e-5, atol=1e-4)
