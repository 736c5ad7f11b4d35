"""The practitioner's radar path: a CF-packed NetCDF rain series with NaN coverage through
``data check``, ``train``, ``test`` and ``predict`` (``forecast.nc``), and ``convrnn.nowcast``."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from tests.fixtures.netcdf import coverage, write_rain_netcdf

pytest.importorskip("xarray")
pytest.importorskip("h5netcdf")
pytestmark = pytest.mark.slow

TINY = ["--model", "ms-convlstm", "--max-steps", "4", "--batch-size", "2",
        "--set", "data.options.normalize=rain", "--set", "data.options.variable=rainfall_rate",
        "--set", "data.input_length=3", "--set", "data.output_length=3",
        "--set", "model.options.hidden_channels=4", "--set", "model.options.num_layers=2",
        "--set", "model.options.patch_size=2", "--set", "train.val_every=2",
        "--set", "train.progress_bar=false"]  # fmt: skip


@pytest.fixture(scope="module")
def radar_run(tmp_path_factory):
    from convrnn.cli import main

    root = tmp_path_factory.mktemp("radar")
    archive = root / "archive.nc"
    write_rain_netcdf(archive, times=60)
    run = root / "run"
    assert main(["train", "--data", str(archive), "--out", str(run), *TINY]) == 0
    assert main(["test", str(run)]) == 0
    return root, run


def test_data_check_reports_the_unobserved_fraction(tmp_path, capsys):
    from convrnn.cli import main

    path = tmp_path / "radar.nc"
    write_rain_netcdf(path, times=80)
    args = ["data", "check", "arrays", str(path), "--set", "normalize=rain", "--set", "seq_len=6"]
    assert main(args) == 0
    out = capsys.readouterr().out
    outside = 1 - coverage(16).mean()
    assert f"{100 * outside:.1f}% of pixels not observed" in out


def test_test_scores_observed_pixels_in_physical_units_per_lead_time(radar_run):
    _, run = radar_run
    report = json.loads((run / "metrics.json").read_text())
    physical = report["physical"]
    assert physical["units"] == "mm/h" and physical["lead_time_minutes"] == [5.0, 10.0, 15.0]
    model = physical["model"]
    assert len(model["rmse_per_frame"]) == 3 and all(v >= 0 for v in model["mae_per_frame"])
    assert set(model["csi"]) >= {"1.0", "0.1"}  # thresholds in mm/h
    # only pixels inside coverage are scored: windows x observed pixels of one frame
    observed = int(coverage(16).sum())
    assert model["valid_pixels_per_frame"][0] == report["num_sequences"] * observed
    assert np.isfinite(report["metrics"]["mse"])  # NaN truth outside coverage left out
    rows = list(csv.DictReader((run / "metrics_per_frame.csv").open()))
    assert [r["lead_time_min"] for r in rows] == ["5.0", "10.0", "15.0"]
    assert "model_rmse_mm_per_h" in rows[0] and "persistence_csi_1" in rows[0]
    pictures = sorted((run / "test-results").glob("sequence_*.png"))
    assert pictures, "the test wrote no picture"


def test_predict_writes_a_georeferenced_forecast_with_nan_and_exact_zeros(radar_run):
    import xarray as xr

    from convrnn.cli import main

    root, run = radar_run
    latest = root / "latest.nc"
    rain = write_rain_netcdf(latest, times=3, start="2026-06-02T08:00")
    out = root / "forecast"
    assert (
        main(["predict", str(run), "--input", str(latest), "--horizon", "4", "--out", str(out)])
        == 0
    )
    ds = xr.open_dataset(out / "forecast.nc")
    var = ds["rainfall_rate"]
    last = np.datetime64("2026-06-02T08:10", "ns")
    np.testing.assert_array_equal(
        ds["time"].values, last + np.arange(1, 5) * np.timedelta64(5, "m")
    )
    assert var.attrs["units"] == "mm/h" and var.attrs["grid_mapping"] == "crs"
    assert "ms-convlstm" in var.attrs["source"] and {"x", "y", "lat", "lon"} <= set(ds.coords)
    values = var.values
    outside = np.isnan(rain).all(axis=0)
    assert np.isnan(values[:, outside]).all() and not np.isnan(values[:, ~outside]).any()
    raw = np.load(out / "forecast_raw.npy")[0, :, 0]
    np.testing.assert_allclose(values, raw, atol=0.01)  # packed as written, same numbers
    inside = raw[:, ~outside]
    assert (inside == 0).any() and (inside[inside != 0] >= 0.1).all()  # dry is exactly 0
    assert (out / "seq000.png").exists() and (out / "seq000.gif").exists()


def test_nowcast_takes_and_returns_pysteps_arrays(radar_run):
    import convrnn

    root, run = radar_run
    precip = write_rain_netcdf(root / "p.nc", times=3)  # (T, H, W) mm/h, NaN outside coverage
    fc = convrnn.nowcast(run, precip, 5)
    assert fc.shape == (5, 16, 16) and fc.dtype == np.float32
    outside = ~coverage(16)
    assert np.isnan(fc[:, outside]).all() and not np.isnan(fc[:, ~outside]).any()
    model, normalizer = convrnn.load(run), convrnn.runs.read_normalizer(run)
    np.testing.assert_array_equal(convrnn.nowcast(model, precip, 5, normalizer=normalizer), fc)
    with pytest.raises(ValueError, match="timesteps"):
        convrnn.nowcast(run, precip, 0)
    with pytest.raises(ValueError, match=r"\(T, H, W\)"):
        convrnn.nowcast(run, precip[0], 3)
