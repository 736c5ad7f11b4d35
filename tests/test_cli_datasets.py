"""Every real dataset trains, tests and is checked through the CLI, on fixtures in its real on-disk format."""

from __future__ import annotations

import json

import numpy as np
import pytest

from convrnn.cli import main
from convrnn.data import Normalizer
from convrnn.predict import read_frames
from tests.fixtures import germany, hko7, taxibj, typhoon
from tests.fixtures.kth import HAS_AV, write_avi_clip, write_png_clip


def write_taxibj(root):
    taxibj.write_bj(root)
    return {"test_windows": 50, "val_windows": 20}, (4, 4, None)


def write_hko7(root):
    hko7.write_hko7(root)
    return {"size": 8}, (2, 2, None)


def write_germany(root):
    germany.write_rydl(root / "RYDL.hdf5")
    return {"size": 8}, (2, 2, None)


def write_typhoon(root):
    typhoon.write_split_files(root)
    return {}, (8, 4, None)


def write_kth(root):
    write_png_clip(root, "boxing", "person01_boxing_d1", 40)
    write_png_clip(root, "boxing", "person16_boxing_d1", 30)
    write_png_clip(root, "walking", "person20_walking_d1", 50)
    write_avi_clip(root, "jogging", "person17_jogging_d2", 35)
    return {"size": 8, "clip_lists": False, "cache_dir": str(root / "cache")}, (10, 10, 20)


def write_arrays(root):
    t = np.arange(60, dtype=np.float32)[:, None, None] * np.ones((1, 8, 8), np.float32)
    np.save(root / "series.npy", 10.0 + t)  # raw units 10..69
    return {}, (3, 3, None)


def norm_range(norm: dict) -> tuple[float, float]:
    """(low, high) of a saved affine normalisation ``y = x * scale + offset``."""
    scale, offset = norm["scale"][0], norm["offset"][0]
    return round(-offset / scale, 4), round((1 - offset) / scale, 4)


CASES = {
    "taxibj": write_taxibj,
    "hko7": write_hko7,
    "germany": write_germany,
    "typhoon": write_typhoon,
    "kth": write_kth,
    "arrays": write_arrays,
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_dataset_trains_and_tests_through_the_cli(name, tmp_path):
    if name == "kth" and not HAS_AV:
        pytest.skip("PyAV not installed")
    root = tmp_path / "data"
    root.mkdir()
    options, (t_in, t_out, t_test) = CASES[name](root)
    data = str(root / "series.npy") if name == "arrays" else str(root)
    sets = [f"data.options.{k}={v}" for k, v in options.items()]
    sets += [f"data.input_length={t_in}", f"data.output_length={t_out}"]
    if t_test:
        sets.append(f"data.test_output_length={t_test}")
    sets += ["model.options.hidden_channels=4", "model.options.num_layers=2", "model.options.patch_size=1",
             "train.val_every=2", "train.checkpoint_every=2", "train.progress_bar=false", "eval.batch_size=2"]  # fmt: skip
    data_args = ["--data", data] if name == "arrays" else ["--data", name, "--data-root", data]
    run = tmp_path / "run"
    args = [
        "train",
        "--model",
        "ms-convlstm",
        *data_args,
        "--max-steps",
        "2",
        "--batch-size",
        "2",
        "--out",
        str(run),
    ]
    assert main([*args, *[a for s in sets for a in ("--set", s)]]) == 0
    assert main(["test", str(run), "--pictures", "1"]) == 0
    report = json.loads((run / "metrics.json").read_text())
    assert len(report["metrics"]["mse_per_frame"]) == (t_test or t_out)
    if name in ("hko7", "germany"):
        assert set(report["metrics"]["nowcast"]["csi"]) and "radar" in report
        assert report["radar"]["masked"] is False
    if name == "hko7":  # every pixel of the test day marked invalid: nothing left to score
        hko7.write_masks(root, valid=False)
        assert main(["test", str(run), "--pictures", "0", "--masks"]) == 0
        masked = json.loads((run / "metrics.json").read_text())
        assert masked["radar"]["masked"] is True and report["metrics"]["nowcast"]["b_mse"] > 0
        assert masked["metrics"]["nowcast"]["b_mse"] == 0.0
    if name == "germany":
        assert main(["test", str(run), "--masks"]) == 2  # no masks in RYDL.hdf5: a clear error
    if name == "arrays":
        norm = json.loads((run / "normalization.json").read_text())
        assert norm["kind"] != "identity"
        raw = 10.0 + np.arange(5, dtype=np.float32)[:, None, None] * np.ones((1, 8, 8), np.float32)
        np.save(tmp_path / "raw.npy", raw)
        assert main(["predict", str(run), "--input", str(tmp_path / "raw.npy"), "--horizon", "2",
                     "--out", str(tmp_path / "fc")]) == 0  # fmt: skip
        back = np.load(tmp_path / "fc" / "forecast_raw.npy")
        unit = np.load(tmp_path / "fc" / "forecast.npy")
        assert back.shape == unit.shape == (1, 2, 1, 8, 8)
        assert back.min() >= 10.0 - 1e-3 and back.max() <= 69.0 + 1e-3  # raw units again
        lo, hi = norm_range(norm)
        assert lo == 10.0 and 10.0 < hi < 69.0  # fitted on the training frames only
    if name != "arrays":
        check = dict(options)
        if name in ("hko7", "germany"):
            check["seq_len"] = t_in + t_out
        set_args = [a for k, v in check.items() for a in ("--set", f"{k}={v}")]
        assert main(["data", "check", name, data, *set_args]) == 0


def test_data_check_explains_a_broken_copy(tmp_path, capsys):
    assert main(["data", "check", "taxibj", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "BJ13_M32x32_T30_InOut.h5" in out or "missing" in out.lower()


def test_predict_input_goes_through_the_run_normalisation(tmp_path):
    raw = 10.0 + np.arange(4, dtype=np.float32)[:, None, None] * np.ones((1, 2, 2), np.float32)
    np.save(tmp_path / "raw.npy", raw)
    frames = read_frames(tmp_path / "raw.npy", Normalizer.fixed_range(10.0, 20.0))
    np.testing.assert_allclose(frames[0, :, 0, 0, 0], [0.0, 0.1, 0.2, 0.3], atol=1e-6)
    # raw uint8 pixels with a 0..255 normalisation (KTH, HKO-7) are scaled once, not twice
    np.save(tmp_path / "pixels.npy", np.full((3, 2, 2), 255, np.uint8))
    pixels = read_frames(tmp_path / "pixels.npy", Normalizer.fixed_range(0, 255))
    np.testing.assert_allclose(pixels, 1.0)
    np.testing.assert_allclose(read_frames(tmp_path / "pixels.npy"), 1.0)  # no run normalisation
