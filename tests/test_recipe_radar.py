"""The radar recipe: one line from a NetCDF rain archive to a trained, persistence-anchored model."""

from pathlib import Path

import pytest
import yaml

RECIPE = Path(__file__).parents[1] / "recipes" / "radar-nowcast.yaml"


def test_radar_recipe_trains_on_a_netcdf_rain_archive(tmp_path, capsys):
    pytest.importorskip("h5netcdf")
    from convrnn.cli import main
    from tests.fixtures.netcdf import write_rain_netcdf

    path = tmp_path / "my_archive.nc"
    write_rain_netcdf(path, times=200)
    run = tmp_path / "run"
    args = ["train", "--config", str(RECIPE), "--data", str(path), "--max-steps", "2",
            "--out", str(run), "--set", "train.progress_bar=false"]  # fmt: skip
    assert main(args) == 0
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["data"]["name"] == "arrays"
    assert saved["data"]["options"]["normalize"] == "rain"
    assert saved["data"]["options"]["augment"] == "flip"
    assert saved["model"]["options"]["residual"] is True
    assert saved["model"]["options"]["anchor"] == "advection"
    assert saved["train"]["loss"] == "b-mse+b-mae"
    assert (saved["data"]["input_length"], saved["data"]["output_length"]) == (4, 12)
    assert (run / "checkpoints" / "last.ckpt").exists()
