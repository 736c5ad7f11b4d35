"""NetCDF/CF input: CF decoding, variables, the time axis, several files, and a real file."""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("xarray")
pytest.importorskip("h5netcdf")

from convrnn.data.netcdf import NetCDFSource, is_netcdf, time_runs, time_step
from convrnn.errors import DatasetError
from tests.fixtures.netcdf import write_rain_netcdf


def test_cf_packing_and_fill_values_are_decoded(tmp_path):
    import h5py

    path = tmp_path / "radar.nc"
    rain = write_rain_netcdf(path, times=6)
    with h5py.File(path) as f:  # really packed on disk
        assert f["rainfall_rate"].dtype == np.int16
    source = NetCDFSource(path)
    frames = source[0:6]
    assert source.shape == (6, 16, 16) and source.key == "rainfall_rate"
    np.testing.assert_allclose(frames, rain, atol=1e-9)  # 44.44 mm/h reads 44.44, not 4444
    assert np.isnan(frames).sum() == np.isnan(rain).sum() > 0  # _FillValue -> NaN
    assert (frames == 0.0).any()  # dry pixels exactly 0
    assert source.grid.units == "mm/h" and source.grid.grid_mapping[0] == "crs"
    assert {"x", "y", "lat", "lon"} <= set(source.grid.coords)


def test_time_axis_step_gap_and_errors(tmp_path):
    path = tmp_path / "gap.nc"
    write_rain_netcdf(path, times=12, gap_after=4)
    source = NetCDFSource(path)
    step = time_step(source.times, path)
    assert step == np.timedelta64(5, "m")
    assert time_runs(source.times, step) == [(0, 5), (5, 12)]
    t = source.times.copy()
    t[7] = t[6]
    with pytest.raises(DatasetError, match=r"position 7\) is repeated"):
        time_step(t, path)
    t = source.times.copy()
    t[7] = t[6] + np.timedelta64(2, "m")
    with pytest.raises(DatasetError, match="irregular time axis"):
        time_step(t, path)


def test_several_files_concatenate_along_time_and_slices_are_lazy(tmp_path):
    a = write_rain_netcdf(tmp_path / "a.nc", times=5, start="2026-06-01T12:00")
    b = write_rain_netcdf(tmp_path / "b.nc", times=5, start="2026-06-01T12:25")
    assert is_netcdf(tmp_path) and is_netcdf(tmp_path / "*.nc")
    source = NetCDFSource(tmp_path)
    assert source.shape[0] == 10 and len(source.files) == 2
    np.testing.assert_allclose(source[3:7], np.concatenate([a, b])[3:7])
    np.testing.assert_allclose(source[1:9:3], np.concatenate([a, b])[1:9:3])
    np.testing.assert_allclose(source[7], b[2])
    assert time_step(source.times, tmp_path) == np.timedelta64(5, "m")
    clone = pickle.loads(pickle.dumps(source))  # DataLoader workers reopen the files
    np.testing.assert_allclose(clone[4:6], source[4:6])


def test_variable_choice_is_named(tmp_path):
    import xarray as xr

    path = tmp_path / "two.nc"
    write_rain_netcdf(path, times=3)
    ds = xr.open_dataset(path).load()
    ds["reflectivity"] = ds["rainfall_rate"] * 2
    ds.to_netcdf(tmp_path / "both.nc", engine="h5netcdf")
    with pytest.raises(DatasetError, match=r"2 gridded variables .*variable="):
        NetCDFSource(tmp_path / "both.nc")
    with pytest.raises(DatasetError, match="no variable 'rain'"):
        NetCDFSource(tmp_path / "both.nc", variable="rain")
    assert NetCDFSource(tmp_path / "both.nc", variable="reflectivity").key == "reflectivity"


def test_netcdf3_through_scipy(tmp_path):
    pytest.importorskip("scipy")
    rain = write_rain_netcdf(tmp_path / "classic.nc", times=4, engine="scipy")
    np.testing.assert_allclose(NetCDFSource(tmp_path / "classic.nc")[:], rain, atol=1e-9)


def test_unreadable_file_is_a_dataset_error(tmp_path):
    bad = tmp_path / "bad.nc"
    bad.write_bytes(b"CDF\x01 truncated")
    with pytest.raises(DatasetError, match="unreadable NetCDF"):
        NetCDFSource(bad)


def real_netcdf() -> Path | None:
    """hvsampledata's 20 six-hourly NCEP air-temperature frames (installed from PyPI in CI)."""
    spec = importlib.util.find_spec("hvsampledata")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "_data" / "air_temperature_small.nc"
    return path if path.exists() else None


@pytest.mark.skipif(real_netcdf() is None, reason="hvsampledata is not installed")
def test_a_real_netcdf_file():
    source = NetCDFSource(real_netcdf())
    assert source.key == "air" and source.shape == (20, 25, 53)
    assert time_step(source.times, "air") == np.timedelta64(6, "h")
    frames = source[0:20]
    assert np.isfinite(frames).all() and 200 < frames.mean() < 300  # Kelvin, CF-decoded
    assert source.grid.units in ("degK", "K") and {"lat", "lon"} <= set(source.grid.coords)


def test_arrays_dataset_reads_netcdf_with_windows_inside_time_runs(tmp_path):
    from convrnn.data import get_dataset

    path = tmp_path / "radar.nc"
    write_rain_netcdf(path, times=40, gap_after=19)
    opts = {"normalize": "rain", "seq_len": 6, "splits": (1.0, 0.0, 0.0)}
    with pytest.raises(Exception, match="val split is empty"):
        get_dataset("arrays", path, "val", **opts)
    train = get_dataset("arrays", path, "train", variable="rainfall_rate", **opts)
    # frames 0..19 and 20..39 are two runs: 15 windows each, none across the gap
    assert len(train) == 30 and all(w.stop <= 20 or w.start >= 20 for w in train.windows)
    assert train.info.interval == "5 min"
    assert any("step 5 min, 2 gap-free run(s)" in n for n in train.summary())
    x = train[0]
    # the _FillValue (outside coverage) stays NaN: not observed, never 0 mm/h
    assert x.shape == (6, 1, 16, 16) and float(x.nan_to_num().max()) > 0.5
    assert bool(x.isnan().any()) and float(x[~x.isnan()].min()) == 0.0


def test_netcdf_trains_and_tests_through_the_cli(tmp_path, capsys):
    from convrnn.cli import main

    path = tmp_path / "radar.nc"
    write_rain_netcdf(path, times=80)
    assert main(["data", "check", "arrays", str(path), "--set", "normalize=rain",
                 "--set", "seq_len=6"]) == 0  # fmt: skip
    assert "interval 5 min" in capsys.readouterr().out
    run = tmp_path / "run"
    args = ["train", "--model", "convlstm", "--data", str(path), "--max-steps", "2", "--out", str(run),
            "--set", "data.options.normalize=rain", "--set", "data.input_length=3",
            "--set", "data.output_length=3", "--set", "model.options.hidden_channels=4",
            "--set", "model.options.num_layers=2", "--set", "model.options.patch_size=2",
            "--set", "train.val_every=2", "--set", "train.progress_bar=false",
            "--batch-size", "2"]  # fmt: skip
    assert main(args) == 0
    assert main(["test", str(run)]) == 0
    report = (run / "metrics.json").read_text()
    assert '"csi"' in report  # a rain run is scored with the radar scores


def test_forecast_netcdf_has_valid_times_grid_crs_units_nan_and_exact_zeros(tmp_path):
    import xarray as xr

    from convrnn.data.netcdf_forecast import forecast_dataset, write_forecast_netcdf

    source = NetCDFSource(_written(tmp_path))
    grid = source.grid
    grid.time_step = source.time_step
    forecast = np.zeros((3, 16, 16), dtype=np.float32)
    forecast[:, 5, 5] = 12.5
    forecast[:, 0, 0] = np.nan  # never observed
    ds = forecast_dataset(forecast, grid, source.times[-1], source="convrnn convlstm, run R")
    path = write_forecast_netcdf(tmp_path / "out" / "forecast.nc", ds)
    back = xr.open_dataset(path)
    expected = source.times[-1] + np.arange(1, 4) * np.timedelta64(5, "m")
    np.testing.assert_array_equal(back["time"].values, expected)
    var = back["rainfall_rate"]
    assert var.attrs["units"] == "mm/h" and var.attrs["grid_mapping"] == "crs"
    assert "source" in var.attrs and back["crs"].attrs["grid_mapping_name"] == "polar_stereographic"
    assert {"x", "y", "lat", "lon"} <= set(back.coords)
    values = var.values
    assert np.isnan(values[:, 0, 0]).all() and (values[:, 5, 5] == 12.5).all()
    assert (values[:, 3, 3] == 0.0).all()  # dry stays exactly dry
    assert not list((tmp_path / "out").glob("*.tmp"))


def _written(tmp_path):
    path = tmp_path / "radar.nc"
    write_rain_netcdf(path, times=6)
    return path
