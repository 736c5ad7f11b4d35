"""Advice where the data say so: min-max on rain-like data, and a model that forecasts no rain."""

import numpy as np
import pytest
import torch

from convrnn.config import DEFAULTS, merge
from convrnn.data.advice import scaling_advice
from convrnn.data.check import check_dataset
from convrnn.data.normalize import Normalizer


def _rain(times=60, size=16, seed=0):
    """Mostly dry frames with a few heavy showers (mm/h)."""
    rng = np.random.default_rng(seed)
    rain = np.zeros((times, size, size), dtype=np.float32)
    wet = rng.random(rain.shape) < 0.08
    rain[wet] = rng.gamma(0.5, 4.0, wet.sum())
    rain[rng.random(rain.shape) < 0.001] = 120.0  # a few extreme pixels
    return rain


def test_data_check_advises_rain_transform_for_heavy_tailed_minmax_data(tmp_path):
    path = tmp_path / "rain.npy"
    np.save(path, _rain())
    report = check_dataset("arrays", path, input_length=2, output_length=2)
    assert report.ok and len(report.advice) == 1
    text = str(report)
    assert "normalize=rain" in text and "normalize=dbz" in text and "minimum" in text
    under_rain = check_dataset("arrays", path, input_length=2, output_length=2, normalize="rain")
    assert under_rain.ok and not under_rain.advice


def test_no_advice_for_spread_out_data():
    frames = np.random.default_rng(0).random((4, 3, 1, 8, 8)).astype(np.float32)
    assert scaling_advice(frames, Normalizer.fixed_range(0.0, 1.0)) is None
    rainy = np.zeros_like(frames)
    rainy[0, 0, 0, 0, 0] = 1.0  # one extreme pixel
    rainy[..., 1, 1] = 0.01
    assert "normalize=rain" in scaling_advice(rainy, Normalizer.fixed_range(0.0, 1.0))
    assert scaling_advice(rainy, Normalizer.rain()) is None  # already a rain transform


@pytest.mark.parametrize("rains", [False, True])
def test_validation_warns_when_the_forecast_has_no_rain(rains, capsys):
    import lightning.pytorch as pl
    from torch.utils.data import DataLoader

    from convrnn.train.module import ForecastModule

    cfg = merge(DEFAULTS, {"data": {"input_length": 2, "output_length": 2}})
    build = {"name": "convlstm", "hidden_channels": 4, "num_layers": 2, "patch_size": 1}
    module = ForecastModule(cfg, build, rain_pixel=0.3)
    with torch.no_grad():  # a model that forecasts 0 (dry) everywhere, or 0.5 (rain)
        module.model.head.weight.zero_()
        module.model.head.bias.fill_(0.5 if rains else 0.0)
    frames = torch.zeros(2, 4, 1, 8, 8)
    frames[:, :, :, 2:4, 2:4] = 0.6  # the truth rains
    trainer = pl.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    trainer.validate(module, DataLoader(frames, batch_size=2), verbose=False)
    err = capsys.readouterr().err
    assert ("predicts no rain" in err) is not rains
