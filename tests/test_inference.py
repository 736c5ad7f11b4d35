"""Fast inference: device, batches, precision and compile of ``convrnn test`` and ``predict``."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from convrnn.cli import main
from convrnn.errors import ConfigError
from convrnn.models.inference import InferenceOptions, predict, prepare, run_batches
from tests.conftest import tiny_model
from tests.fixtures.cli import TINY
from tests.fixtures.mnist import write_mnist_cache


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A tiny run trained for one iteration (shared by the module's CLI tests)."""
    root = tmp_path_factory.mktemp("inference")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CONVRNN_DATA", str(write_mnist_cache(root / "data")))
        assert main(["train", *TINY, "--max-steps", "1", "--out", str(root / "run")]) == 0
    return root / "run"


def inputs(n: int = 5, t: int = 3, size: int = 16) -> torch.Tensor:
    return torch.rand(n, t, 1, size, size, generator=torch.Generator().manual_seed(0))


def test_batch_size_one_gives_the_default_forecast():
    model = prepare(tiny_model("ms-convlstm"), InferenceOptions(device="cpu"))
    frames = inputs()
    one = predict(model, frames, 4, InferenceOptions(device="cpu", batch_size=1))
    default = predict(model, frames, 4, InferenceOptions(device="cpu"))
    assert one.shape == default.shape == (5, 4, 1, 16, 16)
    torch.testing.assert_close(one, default, rtol=0, atol=1e-6)
    # and what the model itself forecasts, in one call
    torch.testing.assert_close(default, model.predict(frames, 4), rtol=0, atol=1e-6)


def test_chunks_are_reported_and_results_are_cpu_float32():
    model = prepare(tiny_model("convlstm"), InferenceOptions(device="cpu"))
    seen = []
    out = predict(model, inputs(), 2, InferenceOptions(device="cpu", batch_size=2), seen.append)
    assert seen == [2, 2, 1]
    assert out.device.type == "cpu" and out.dtype == torch.float32 and not out.requires_grad


def test_bf16_runs_on_cpu_close_to_fp32():
    model = prepare(tiny_model("ms-convlstm"), InferenceOptions(device="cpu"))
    frames = inputs()
    fp32 = predict(model, frames, 3, InferenceOptions(device="cpu"))
    seen_dtypes = []
    hook = model.head.register_forward_hook(lambda m, i, o: seen_dtypes.append(o.dtype))
    bf16 = predict(model, frames, 3, InferenceOptions(device="cpu", precision="bf16"))
    hook.remove()
    assert torch.bfloat16 in seen_dtypes  # bf16 really ran
    assert bf16.dtype == torch.float32
    assert not torch.equal(bf16, fp32)
    torch.testing.assert_close(bf16, fp32, rtol=0, atol=1e-2)


@pytest.mark.parametrize("native, dtype", [("1", torch.bfloat16), ("0", None)])
def test_auto_precision_follows_the_detection(monkeypatch, native, dtype):
    monkeypatch.setenv("CONVRNN_NATIVE_BF16", native)
    assert InferenceOptions(device="cpu", precision="auto").dtype == dtype
    assert InferenceOptions(device="cpu", precision="32").dtype is None


def test_every_next_frame_call_runs_in_inference_mode():
    model = prepare(tiny_model("convlstm"), InferenceOptions(device="cpu"))
    modes = []

    def call(m, x):
        modes.append(torch.is_inference_mode_enabled())
        return m(x, 2)

    out = run_batches(model, inputs(3, 4), call, InferenceOptions(device="cpu", batch_size=2))
    assert modes == [True, True] and out.shape == (3, 3, 1, 16, 16)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"batch_size": 0}, "batch_size must be at least 1"),
        ({"precision": "fp16"}, "precision 'fp16' is not one of auto, 32, bf16"),
        ({"device": "tpu"}, "device 'tpu'"),
    ],
)
def test_bad_options_are_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        InferenceOptions(**kwargs)


def test_cuda_without_a_gpu_names_the_fix(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="use --device cpu"):
        InferenceOptions(device="cuda")


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--batch-size", "0"], "--batch-size: must be at least 1"),
        (["--precision", "fp16"], "--precision: invalid choice: 'fp16'"),
        (["--device", "tpu"], "--device: device 'tpu'"),
    ],
)
@pytest.mark.parametrize("command", ["test", "predict"])
def test_bad_values_exit_2_with_a_message(tmp_path, capsys, command, extra, message):
    args = [command, str(tmp_path)]
    if command == "predict":
        args += ["--input", "x.npy", "--horizon", "2", "--out", str(tmp_path / "o")]
    with pytest.raises(SystemExit) as exit_:
        main([*args, *extra])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_predict_batch_size_and_precision_options(trained_run, tmp_path, capsys):
    frames = np.random.default_rng(0).random((5, 3, 32, 32), dtype=np.float32)  # N T H W
    np.save(tmp_path / "in.npy", frames)
    common = ["predict", str(trained_run), "--input", str(tmp_path / "in.npy"), "--horizon", "3"]
    common += ["--layout", "NTHW", "--device", "cpu"]
    assert main([*common, "--out", str(tmp_path / "a")]) == 0
    assert main([*common, "--batch-size", "1", "--out", str(tmp_path / "b")]) == 0
    assert main([*common, "--precision", "bf16", "--out", str(tmp_path / "c")]) == 0
    a, b, c = (np.load(tmp_path / d / "forecast.npy") for d in "abc")
    assert a.shape == (5, 3, 1, 32, 32)
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-6)
    np.testing.assert_allclose(c, a, rtol=0, atol=1e-2)


def test_test_command_takes_the_inference_options(trained_run, tmp_path, mnist_cache):
    trained_run = shutil.copytree(trained_run, tmp_path / "run")
    assert main(["test", str(trained_run), "--device", "cpu", "--pictures", "0"]) == 0
    default = json.loads((trained_run / "metrics.json").read_text())["metrics"]
    assert main(["test", str(trained_run), "--batch-size", "1", "--pictures", "0"]) == 0
    one = json.loads((trained_run / "metrics.json").read_text())["metrics"]
    assert one["num_sequences"] == default["num_sequences"] == 4
    assert one["mse"] == pytest.approx(default["mse"], rel=1e-5)


def test_auto_inference_precision_is_fp32_on_cuda_even_where_bf16_is_native(monkeypatch):
    from convrnn.models import inference

    monkeypatch.setenv("CONVRNN_NATIVE_BF16", "1")
    # an H200 measured fp32 faster for one nowcast: auto picks bf16 only on the listed devices
    assert inference.BF16_INFERENCE_DEVICES == ("cpu",)
    monkeypatch.setattr(inference, "BF16_INFERENCE_DEVICES", ())
    assert InferenceOptions(device="cpu", precision="auto").dtype is None
    assert InferenceOptions(device="cpu", precision="bf16").dtype == torch.bfloat16
