"""HKO-7 balanced losses (B-MSE/B-MAE): rain-rate weights in the data's pixels, masked to observed pixels."""

import numpy as np
import pytest
import torch

from convrnn.config import DEFAULTS, merge
from convrnn.data.info import RadarSpec
from convrnn.errors import ConfigError
from convrnn.metrics.nowcast import balancing_weights
from convrnn.train.losses import balanced_weights, frame_loss
from convrnn.train.module import loss_thresholds
from convrnn.units import HKO7_ZR, rain_to_pixel

RATES = [0.0, 0.3, 0.5, 1.0, 2.0, 4.9, 5.0, 9.0, 10.0, 29.0, 30.0, 80.0]
EXPECTED = [1, 1, 1, 1, 2, 2, 5, 5, 10, 10, 30, 30]


def _cfg(loss, name="arrays"):
    cfg = merge(DEFAULTS, {"train": {"loss": loss}, "data": {"name": name}})
    return cfg


def _pixels(rates):
    # slightly above the exact pixel of each rate: the rates at a threshold round-trip in float32
    return torch.tensor([float(rain_to_pixel(r, HKO7_ZR)) + 1e-6 for r in rates])


def test_weights_at_known_rain_rates():
    thresholds = loss_thresholds(_cfg("b-mse"), RadarSpec(HKO7_ZR))
    w = balanced_weights(_pixels(RATES), thresholds)
    assert w.tolist() == EXPECTED
    # the same weights as the verification code's, which works in mm/h
    assert np.array_equal(balancing_weights(np.array(RATES)), np.array(EXPECTED, dtype=float))


def test_balanced_losses_weight_each_error():
    thresholds = loss_thresholds(_cfg("b-mae"), RadarSpec(HKO7_ZR))
    target = _pixels(RATES).reshape(1, 1, 1, 3, 4)
    pred = target + 0.1
    expected_sum = 0.1 * sum(EXPECTED)
    mae = frame_loss(pred, target, "b-mae", pixel_thresholds=thresholds)
    assert mae.item() == pytest.approx(expected_sum, rel=1e-5)
    mse = frame_loss(pred, target, "b-mse", pixel_thresholds=thresholds)
    assert mse.item() == pytest.approx(0.01 * sum(EXPECTED), rel=1e-4)
    both = frame_loss(pred, target, "b-mse+b-mae", pixel_thresholds=thresholds)
    assert both.item() == pytest.approx(mae.item() + mse.item(), rel=1e-5)


def test_balanced_loss_is_masked_and_finite_with_nan_targets():
    thresholds = loss_thresholds(_cfg("b-mse"), RadarSpec(HKO7_ZR))
    target = _pixels(RATES).reshape(1, 1, 1, 3, 4)
    observed = torch.ones_like(target, dtype=torch.bool)
    observed[..., 2, :] = False  # the heaviest row is outside coverage
    target = torch.where(observed, target, torch.nan)
    pred = (target.nan_to_num(0.5) + 0.1).requires_grad_()
    loss = frame_loss(pred, target, "b-mse", "mean", observed, thresholds)
    seen = [w for w, o in zip(EXPECTED, observed.flatten().tolist(), strict=True) if o]
    assert loss.item() == pytest.approx(0.01 * sum(seen) / len(seen), rel=1e-4)
    loss.backward()
    assert torch.isfinite(pred.grad).all()
    assert (pred.grad[~observed] == 0).all() and (pred.grad[observed] != 0).all()


def test_balanced_loss_needs_radar_data():
    with pytest.raises(ConfigError, match="normalize=rain"):
        loss_thresholds(_cfg("b-mse"), None)
    assert loss_thresholds(_cfg("l1+l2"), None) is None
    with pytest.raises(ConfigError, match="pixel_thresholds"):
        frame_loss(torch.zeros(1, 1, 1, 2, 2), torch.zeros(1, 1, 1, 2, 2), "b-mae")


def _train_args(path, run, *extra):
    return ["train", "--model", "convlstm", "--data", str(path), "--max-steps", "2", "--out", str(run),
            "--set", "data.input_length=3", "--set", "data.output_length=3",
            "--set", "model.options.hidden_channels=4", "--set", "model.options.num_layers=2",
            "--set", "model.options.patch_size=2", "--set", "train.val_every=2",
            "--set", "train.progress_bar=false", "--batch-size", "2", *extra]  # fmt: skip


def test_balanced_loss_trains_on_rain_and_is_refused_on_minmax(tmp_path, capsys):
    pytest.importorskip("h5netcdf")
    from convrnn.cli import main
    from tests.fixtures.netcdf import write_rain_netcdf

    path = tmp_path / "radar.nc"
    write_rain_netcdf(path, times=80)
    rain = ["--set", "data.options.normalize=rain", "--set", "train.loss=b-mse+b-mae",
            "--set", "model.options.residual=true"]  # fmt: skip
    assert main(_train_args(path, tmp_path / "run", *rain)) == 0
    capsys.readouterr()
    minmax = ["--set", "train.loss=b-mse"]
    assert main(_train_args(path, tmp_path / "minmax", *minmax)) == 2
    err = capsys.readouterr().err
    assert "normalize=rain" in err and "b-mse" in err
    assert not (tmp_path / "minmax").exists()
