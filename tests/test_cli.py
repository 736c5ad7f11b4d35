"""End-to-end: train -> test -> predict through the CLI, resume exactness, DDP, and every error path."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import convrnn
from convrnn.cli import main
from convrnn.errors import ChoiceError, ConfigError
from tests.fixtures.cli import TINY
from tests.fixtures.mnist import write_mnist_cache


def weights(run_dir, which="last"):
    return torch.load(run_dir / "checkpoints" / f"{which}.ckpt", weights_only=True)


@pytest.fixture(scope="module")
def trained_once(tmp_path_factory):
    """One tiny run trained once for the module (6 iterations on blob digits)."""
    root = tmp_path_factory.mktemp("trained")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CONVRNN_DATA", str(write_mnist_cache(root / "data")))
        assert main(["train", *TINY, "--max-steps", "6", "--out", str(root / "run")]) == 0
    return root / "run"


@pytest.fixture
def trained(trained_once, tmp_path, mnist_cache):
    """A private copy of the module's trained run (tests may write into it)."""
    return Path(shutil.copytree(trained_once, tmp_path / "run"))


def test_train_test_predict(trained, tmp_path, capsys):
    run = trained
    assert {p.name for p in run.iterdir()} >= {"config.yaml", "model.json", "checkpoints", "logs"}
    assert (run / "checkpoints" / "best.ckpt").exists()
    assert weights(run)["convrnn"]["iteration"] == 6

    assert main(["test", str(run), "--layer-outputs", "--pictures", "2"]) == 0
    report = json.loads((run / "metrics.json").read_text())
    assert report["frames"] == "future" and report["num_sequences"] == 4
    for key in ("mse", "mae", "psnr", "ssim"):
        assert len(report["metrics"][f"{key}_per_frame"]) == 3
        assert key in report["baselines"]["persistence"]
    assert (run / "metrics_per_frame.csv").read_text().startswith("frame,model_mse")
    pictures = {p.name for p in (run / "test-results").iterdir()}
    assert {"sequence_00.png", "sequence_00.gif", "layers_01.png"} <= pictures
    assert "copy-last" in capsys.readouterr().out

    frames = np.random.default_rng(0).random((5, 32, 32), dtype=np.float32)
    np.save(tmp_path / "in.npy", frames)
    assert main(["predict", str(run), "--input", str(tmp_path / "in.npy"), "--horizon", "4",
                 "--out", str(tmp_path / "fc")]) == 0  # fmt: skip
    forecast = np.load(tmp_path / "fc" / "forecast.npy")
    assert forecast.shape == (1, 4, 1, 32, 32)
    assert (tmp_path / "fc" / "seq000" / "frame_004.png").exists() and (
        tmp_path / "fc" / "seq000.gif"
    ).exists()

    model = convrnn.load(run)
    expected = model.predict(torch.from_numpy(frames)[None, :, None], 4).numpy()
    np.testing.assert_allclose(forecast, expected, atol=1e-6)


def test_predict_from_png_folder(trained, tmp_path):
    import imageio.v3 as iio

    folder = tmp_path / "pngs"
    folder.mkdir()
    for i in range(3):
        iio.imwrite(folder / f"f{i}.png", np.full((32, 32), 40 * i, dtype=np.uint8))
    assert (
        main(
            [
                "predict",
                str(trained),
                "--input",
                str(folder),
                "--horizon",
                "2",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 0
    )
    assert np.load(tmp_path / "o" / "forecast.npy").shape == (1, 2, 1, 32, 32)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((2, 3, 4, 1, 32, 32), np.float32), "rank 6"),
        (np.zeros((3, 2, 32, 32), np.float32), "2 channels"),
        (np.zeros((3, 24, 24), np.float32), "trained on"),
        (np.full((3, 32, 32), np.nan, np.float32), "NaN"),
        (np.full((3, 32, 32), 3.0, np.float32), r"\[0, 1\]"),
        (np.zeros((3, 32, 32), np.int32), "dtype"),
    ],
)
def test_predict_rejects_bad_input_and_writes_nothing(trained, tmp_path, capsys, array, message):
    np.save(tmp_path / "bad.npy", array)
    out = tmp_path / "out"
    assert (
        main(
            [
                "predict",
                str(trained),
                "--input",
                str(tmp_path / "bad.npy"),
                "--horizon",
                "2",
                "--out",
                str(out),
            ]
        )
        == 2
    )
    assert not out.exists()
    import re

    assert re.search(message, capsys.readouterr().err)


def test_predict_unreadable_files(trained, tmp_path, capsys):
    (tmp_path / "broken.npy").write_bytes(b"not numpy")
    assert (
        main(
            [
                "predict",
                str(trained),
                "--input",
                str(tmp_path / "broken.npy"),
                "--horizon",
                "2",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "cannot read" in capsys.readouterr().err
    folder = tmp_path / "pngs"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"\x89PNG broken")
    assert (
        main(
            [
                "predict",
                str(trained),
                "--input",
                str(folder),
                "--horizon",
                "2",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "unreadable PNG" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_resume_equals_uninterrupted_run(tmp_path, mnist_cache):
    straight, interrupted = tmp_path / "a", tmp_path / "b"
    assert main(["train", *TINY, "--max-steps", "8", "--out", str(straight)]) == 0
    assert (
        main(
            [
                "train",
                *TINY,
                "--max-steps",
                "8",
                "--out",
                str(interrupted),
                "--set",
                "train.stop_after=3",
            ]
        )
        == 0
    )
    assert weights(interrupted)["convrnn"]["iteration"] == 3
    assert main(["train", "--out", str(interrupted), "--resume"]) == 0
    a, b = weights(straight), weights(interrupted)
    assert b["convrnn"]["iteration"] == 8
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    assert a["callbacks"] == b["callbacks"]  # same best validation score
    best_a, best_b = weights(straight, "best"), weights(interrupted, "best")
    assert best_a["convrnn"]["iteration"] == best_b["convrnn"]["iteration"]  # not the stop at 3
    for key, value in best_a["state_dict"].items():
        assert torch.equal(value, best_b["state_dict"][key]), key
    assert (
        a["optimizer_states"][0]["state"][0]["step"] == b["optimizer_states"][0]["state"][0]["step"]
    )


def test_train_errors(tmp_path, mnist_cache, capsys):
    assert main(["train", "--model", "convgru", "--out", str(tmp_path / "x")]) == 2
    assert "valid models" in capsys.readouterr().err
    assert main(["train", "--set", "train.lrr=1", "--out", str(tmp_path / "x")]) == 2
    assert "unknown config key 'train.lrr'" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert "run directory" in capsys.readouterr().err
    assert main(["train", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "not found" in capsys.readouterr().err


def test_existing_run_needs_resume(trained, capsys):
    assert main(["train", *TINY, "--max-steps", "6", "--out", str(trained)]) == 2
    assert "--resume" in capsys.readouterr().err


def test_test_errors(tmp_path, capsys):
    assert main(["test", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(
    tmp_path, mnist_cache, monkeypatch, capsys
):
    from convrnn.train.module import ForecastModule

    original = ForecastModule.sequence_loss

    def poisoned(self, preds, frames, seen=None):
        loss = original(self, preds, frames, seen)
        return loss * float("nan") if self.iteration == 4 else loss

    monkeypatch.setattr(ForecastModule, "sequence_loss", poisoned)
    run = tmp_path / "nan"
    assert main(["train", *TINY, "--max-steps", "8", "--out", str(run)]) == 2
    assert "non-finite loss (nan) at training iteration 5" in capsys.readouterr().err
    assert weights(run)["convrnn"]["iteration"] == 4


def test_checkpoint_writes_are_atomic(tmp_path, monkeypatch):
    from convrnn.io import save_atomic

    path = tmp_path / "c.ckpt"
    save_atomic({"a": torch.ones(2)}, path)

    def crash(obj, f, *a, **k):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_atomic({"a": torch.zeros(2)}, path)
    assert torch.equal(torch.load(path, weights_only=True)["a"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["c.ckpt"]


def test_models_command(capsys):
    assert main(["models", "--preset", "ms-rnn"]) == 0
    out = capsys.readouterr().out
    assert "ms-convlstm" in out and "1,772,737" in out


def test_data_check_reports_missing_digits(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CONVRNN_DATA", str(tmp_path))
    assert main(["data", "check", "moving-mnist", str(tmp_path)]) == 1
    assert "convrnn data mnist" in capsys.readouterr().out


@pytest.mark.slow
def test_two_process_ddp_training(tmp_path, mnist_cache):
    run = tmp_path / "ddp"
    env = {**os.environ, "CONVRNN_DATA": str(mnist_cache), "PYTHONWARNINGS": "ignore"}
    env.pop("CONVRNN_RUN_DIR", None)
    cmd = [
        sys.executable,
        "-m",
        "convrnn",
        "train",
        *TINY,
        "--max-steps",
        "4",
        "--devices",
        "2",
        "--out",
        str(run),
        "--set",
        "data.val_options.num_sequences=5",  # odd: a padded shard would score one sequence twice
    ]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "distributed_backend=gloo" in result.stderr + result.stdout
    assert "Starting with 2 processes" in result.stderr + result.stdout
    ckpt = weights(run)
    assert ckpt["convrnn"]["iteration"] == 4
    with (run / "logs" / "csv" / "metrics.csv").open() as f:
        logged = [float(row["val/mse"]) for row in csv.DictReader(f) if row.get("val/mse")]
    # the 2-process validation score equals one process scoring every validation sequence once
    from convrnn.runs import read_config
    from convrnn.train.data import load_split

    model = convrnn.load(run, "last")
    val = torch.stack(list(load_split(read_config(run), "val")))
    assert len(val) == 5
    with torch.no_grad():
        err = model(val, 3)[:, 2:].clamp(0, 1) - val[:, 3:]
    assert logged[-1] == pytest.approx(float(err.square().flatten(2).sum(-1).mean()), rel=1e-5)


def test_attention_and_context_maps_are_drawn(tmp_path, mnist_cache):
    run = tmp_path / "sa"
    args = [a if a != "ms-convlstm" else "sa-convlstm" for a in TINY]
    assert main(["train", *args, "--max-steps", "1", "--out", str(run), "--set", "model.options.ce=true",
                 "--set", "model.options.se=true"]) == 0  # fmt: skip
    assert (
        main(["test", str(run), "--pictures", "1", "--attention-maps", "8,8", "--context-maps"])
        == 0
    )
    results = run / "test-results"
    for kind in ("attention", "context"):  # the first and the last of the 2 layers
        assert {p.name for p in results.glob(f"{kind}_00_*.png")} == {
            f"{kind}_00_layer0.png",
            f"{kind}_00_layer1.png",
        }
    assert main(["test", str(run), "--attention-maps", "8"]) == 2
    assert main(["test", str(run), "--attention-maps", "8,8", "--map-layers", "first"]) == 2
    assert main(["test", str(run), "--attention-maps", "8,8", "--map-layers", "5"]) == 2


def test_trainer_gets_num_nodes_from_config(tmp_path, capsys):
    from convrnn import config as config_lib
    from convrnn.train.fit import _trainer

    assert main(["train", "--num-nodes", "2", "--devices", "3", "--print-config"]) == 0
    printed = config_lib.yaml_load(capsys.readouterr().out)["train"]
    assert (printed["num_nodes"], printed["devices"]) == (2, 3)
    cfg = config_lib.resolve(
        {"train": {"num_nodes": 2, "accelerator": "cpu", "progress_bar": False}}
    )
    trainer = _trainer(cfg, tmp_path, [])
    assert trainer.num_nodes == 2 and trainer.world_size == 2  # 1 device x 2 nodes: DDP
    assert type(trainer.strategy).__name__ == "DDPStrategy"


def test_external_launch_needs_out(monkeypatch, capsys):
    monkeypatch.delenv("CONVRNN_RUN_DIR", raising=False)
    monkeypatch.setenv("WORLD_SIZE", "8")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert main(["train", "--devices", "4", "--num-nodes", "2"]) == 2
    assert "needs --out RUN_DIR" in capsys.readouterr().err


def test_test_command_splits_and_argument_checks(trained, capsys):
    with pytest.raises(SystemExit) as e:
        main(["test", str(trained), "--split", "bogus"])
    assert e.value.code == 2 and "invalid choice: 'bogus'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["test", str(trained), "--max-sequences", "0"])
    assert e.value.code == 2 and "--max-sequences: must be at least 1" in capsys.readouterr().err

    assert main(["test", str(trained), "--pictures", "0"]) == 0
    test_report = (trained / "metrics.json").read_text()
    assert main(["test", str(trained), "--split", "val", "--pictures", "0"]) == 0
    out = capsys.readouterr().out
    assert f"metrics: {trained / 'metrics_val.json'}" in out
    assert (trained / "metrics.json").read_text() == test_report  # test results untouched
    val = json.loads((trained / "metrics_val.json").read_text())
    assert val["split"] == "val" and val["num_sequences"] == 4
    assert (trained / "metrics_per_frame_val.csv").read_text().startswith("frame,model_mse")


def test_resume_errors(trained, tmp_path, capsys):
    assert main(["train", "--resume"]) == 2
    assert "convrnn train: error: --resume needs --out RUN_DIR" in capsys.readouterr().err
    assert main(["train", "--out", str(trained), "--resume", "--lr", "1e-2"]) == 2
    err = capsys.readouterr().err
    assert "changes train.lr: 0.0003 -> 0.01" in err and "another --out" in err
    assert main(["train", "--out", str(trained), "--resume", "--max-steps", "20"]) == 2
    assert "train.max_steps: 6 -> 20" in capsys.readouterr().err
    (tmp_path / "other.yaml").write_text("train:\n  batch_size: 8\n")
    assert main(["train", "--out", str(trained), "--resume", "--config",
                 str(tmp_path / "other.yaml")]) == 2  # fmt: skip
    assert "train.batch_size: 2 -> 8" in capsys.readouterr().err
    # settings that keep the run may change: --print-config shows the resumed config
    assert main(["train", "--out", str(trained), "--resume", "--print-config",
                 "--set", "train.stop_after=3", "--set", "eval.batch_size=2"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "stop_after: 3" in printed and "max_steps: 6" in printed


def test_non_finite_gradient_stops_before_the_step(tmp_path, mnist_cache, monkeypatch, capsys):
    from convrnn.train.module import ForecastModule

    original = ForecastModule.manual_backward

    def poisoned(self, loss, *args, **kwargs):
        original(self, loss, *args, **kwargs)
        if self.iteration == 4:
            next(p for p in self.model.parameters() if p.grad is not None).grad.fill_(float("nan"))

    monkeypatch.setattr(ForecastModule, "manual_backward", poisoned)
    run = tmp_path / "nan-grad"
    assert main(["train", *TINY, "--max-steps", "8", "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert "non-finite gradient" in err and "at training iteration 5" in err
    assert "last.ckpt of iteration 4 was kept" in err
    ckpt = weights(run)
    assert ckpt["convrnn"]["iteration"] == 4
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values())


def test_non_finite_loss_before_any_checkpoint(tmp_path, mnist_cache, monkeypatch, capsys):
    from convrnn.train.module import ForecastModule

    monkeypatch.setattr(
        ForecastModule,
        "sequence_loss",
        lambda self, preds, frames, seen=None: preds.sum() * float("inf"),
    )
    run = tmp_path / "inf"
    assert main(["train", *TINY, "--max-steps", "8", "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert "at training iteration 1" in err and "no checkpoint was written yet" in err
    assert "was kept" not in err and not (run / "checkpoints" / "last.ckpt").exists()


def test_atomic_files_get_normal_permissions(tmp_path):
    from convrnn.io import write_text_atomic

    previous = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "a.txt", "x")
        os.umask(0o002)
        write_text_atomic(tmp_path / "b.txt", "y")
    finally:
        os.umask(previous)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "b.txt").stat().st_mode & 0o777 == 0o664


def test_metrics_json_is_standard_when_psnr_is_infinite(trained, monkeypatch, capsys):
    import convrnn.evaluate as evaluate_module

    def perfect(model, frames, input_length, mode):
        return frames[:, input_length:], frames[:, input_length:]

    monkeypatch.setattr(evaluate_module, "forecast", perfect)
    assert main(["test", str(trained), "--pictures", "0"]) == 0
    assert "metrics.psnr" in capsys.readouterr().out  # says which values were written as null

    def no_constants(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    text = (trained / "metrics.json").read_text()
    report = json.loads(text, parse_constant=no_constants)
    assert report["metrics"]["psnr"] is None and report["metrics"]["mse"] == 0.0
    assert report["non_finite"]["metrics.psnr_per_frame"] == "inf" and report["non_finite_note"]


def test_only_scheduled_validations_choose_best(tmp_path):
    from types import SimpleNamespace

    from convrnn import config as config_lib
    from convrnn.train.fit import RunFiles

    cfg = config_lib.resolve({"train": {"max_steps": 10, "val_every": 4, "stop_after": 3}})
    files = RunFiles(tmp_path, cfg, {})
    saved = []
    trainer = SimpleNamespace(sanity_checking=False, callback_metrics={},
                              save_checkpoint=lambda path, weights_only: saved.append(path.name))  # fmt: skip
    for iteration, score in ((3, 1.0), (4, 5.0), (8, 2.0), (10, 3.0)):
        trainer.callback_metrics = {"val/mse": torch.tensor(score)}
        files.on_validation_end(trainer, SimpleNamespace(iteration=iteration))
        if iteration == 3:  # the stop_after validation: logged, but it never becomes best
            assert files.best is None and "best.ckpt" not in saved
    assert files.best == 2.0 and saved.count("best.ckpt") == 2  # iterations 4 and 8


def test_option_values_are_parsed_by_argparse(capsys):
    from convrnn.cli.types import parse_bytes, parse_frames, parse_layers, parse_point, parse_size

    assert parse_size("64") == (64, 64) and parse_size("64x96") == (64, 96)
    assert parse_frames("10,5") == (10, 5) and parse_point("3,4") == (3, 4)
    assert parse_layers("0,-1") == (0, -1) and parse_bytes("512MB") == 512 * 2**20
    for option, value in (("--size", "0x5"), ("--frames", "10"), ("--budget", "16QB"),
                          ("--probe-sizes", "a")):  # fmt: skip
        with pytest.raises(SystemExit) as e:
            main(["bench", "--models", "convlstm", option, value])
        assert e.value.code == 2 and f"argument {option}: " in capsys.readouterr().err


@pytest.mark.parametrize(
    "error",
    [
        ConfigError("bad option"),
        ChoiceError("unknown thing"),
        PermissionError("no permission"),
        IsADirectoryError("a folder"),
    ],
)
def test_user_errors_exit_2(monkeypatch, capsys, error):
    import convrnn.cli.models

    def fail(args):
        raise error

    monkeypatch.setattr(convrnn.cli.models, "run", fail)
    assert main(["models"]) == 2
    assert capsys.readouterr().err == f"convrnn models: error: {error}\n"


def test_a_bug_keeps_its_traceback(monkeypatch):
    import convrnn.cli.models

    def fail(args):
        raise TypeError("a bug")

    monkeypatch.setattr(convrnn.cli.models, "run", fail)
    with pytest.raises(TypeError, match="a bug"):
        main(["models"])


def test_launch_detection(monkeypatch):
    from convrnn.cli import launch

    for name in (
        "RANK",
        "SLURM_PROCID",
        "LOCAL_RANK",
        "WORLD_SIZE",
        "SLURM_NTASKS",
        launch.RUN_DIR_ENV,
    ):
        monkeypatch.delenv(name, raising=False)
    assert launch.global_rank() == 0 and not launch.external_launch()
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("SLURM_PROCID", "3")
    assert launch.global_rank() == 3  # SLURM's global rank before a node-local one
    monkeypatch.setenv("SLURM_NTASKS", "4")
    assert launch.external_launch()
    monkeypatch.setenv(launch.RUN_DIR_ENV, "runs/x")  # a worker Lightning started for --devices
    assert not launch.external_launch() and launch.inherited_run_dir() == "runs/x"
    with launch.handing_down("runs/y"):
        assert launch.inherited_run_dir() == "runs/y"
    assert launch.inherited_run_dir() == "runs/x"
