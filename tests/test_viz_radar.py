"""Radar pictures: colour scales, lead-time titles, no coverage vs dry, files, and ``convrnn test``."""

from __future__ import annotations

import warnings

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from convrnn.data.normalize import Normalizer
from convrnn.errors import InputError
from convrnn.evaluate import TestOptions
from convrnn.evaluate.pictures import save_pictures
from convrnn.viz import (
    colorize,
    frame_labels,
    radar_gif,
    radar_gif_frames,
    radar_scale,
    radar_strip,
    step_minutes,
    strip_figure,
)
from convrnn.viz.scales import DRY, NO_COVERAGE, OVER, PYSTEPS_COLOURS


def rgb(hex_colour: str) -> tuple[int, int, int]:
    """``#rrggbb`` -> an (r, g, b) tuple of ints."""
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))


def quadrants(size: int = 16) -> np.ndarray:
    """One frame: NaN top left, dry (0) top right, 5 mm/h bottom left, 50 mm/h bottom right."""
    frame = np.zeros((size, size))
    half = size // 2
    frame[:half, :half] = np.nan
    frame[half:, :half] = 5.0
    frame[half:, half:] = 50.0
    return frame


def test_step_minutes_reads_dataset_intervals():
    assert step_minutes("5 min") == 5.0 and step_minutes("6 min") == 6.0
    assert step_minutes("30 min (every 6th 5-minute key)") == 30.0
    assert step_minutes("2.5 min") == 2.5 and step_minutes("1 h") == 60.0
    assert step_minutes("30 s") == 0.5 and step_minutes(np.timedelta64(10, "m")) == 10.0
    assert step_minutes(15) == 15.0
    for not_a_time in (None, "1 frame", "3 frames", "40 ms (25 fps)"):
        assert step_minutes(not_a_time) is None
    for bad in (0, -5, float("nan"), True, [5]):
        with pytest.raises(InputError, match="time step"):
            step_minutes(bad)


def test_frame_labels_give_offsets_and_lead_times():
    assert frame_labels(3, 2, 5.0) == (["-10 min", "-5 min", "0 min"], ["+5 min", "+10 min"])
    assert frame_labels(2, 3, 2.5) == (["-2.5 min", "0 min"], ["+2.5 min", "+5 min", "+7.5 min"])
    assert frame_labels(2, 2) == (["-1", "0"], ["+1", "+2"])


def test_rain_and_dbz_scales_colour_values_by_class():
    rain, dbz = radar_scale("rain"), radar_scale("dbz")
    assert rain.units == "mm/h" and rain.levels[0] == 0.08 and rain.levels[-1] == 160
    assert dbz.units == "dBZ" and dbz.levels == tuple(float(v) for v in range(5, 75, 5))
    assert radar_scale("rain", "mm h-1").units == "mm h-1"
    with pytest.raises(InputError, match="choose one of"):
        radar_scale("snow")
    # NaN is no coverage, 0 and below the first level are dry, above the last level dark red
    values = np.array([[np.nan, 0.0, 0.05, 0.1, 200.0]])
    colours = [tuple(c[:3]) for c in colorize(values)[0]]
    assert colours == [rgb(NO_COVERAGE), rgb(DRY), rgb(DRY), rgb(PYSTEPS_COLOURS[0]), rgb(OVER)]
    # every class has its own colour, and 30 is a different class in mm/h and in dBZ
    centres = np.array(
        [[(a + b) / 2 for a, b in zip(rain.levels[:-1], rain.levels[1:], strict=True)]]
    )
    assert len({tuple(c) for c in colorize(centres)[0]}) == len(rain.levels) - 1
    assert tuple(colorize([[30.0]], "rain")[0, 0]) != tuple(colorize([[30.0]], "dbz")[0, 0])
    assert tuple(colorize([[3.0]], "dbz")[0, 0, :3]) == rgb(DRY)


def _pixel(fig, ax, row: float, col: float, shape: tuple[int, int]) -> tuple[int, int, int]:
    """The rendered colour at data pixel (row, col) of an ``imshow`` panel (origin upper)."""
    image = np.asarray(fig.canvas.buffer_rgba())
    box = ax.get_window_extent()
    x = box.x0 + (col + 0.5) / shape[1] * box.width
    y = box.y1 - (row + 0.5) / shape[0] * box.height
    return tuple(int(v) for v in image[round(image.shape[0] - y), round(x), :3])


def test_rendered_picture_draws_no_coverage_grey_and_dry_white():
    frame = quadrants()
    fig = strip_figure(frame[None], frame[None], truth=frame[None], step_minutes=5)
    fig.canvas.draw()
    expected = colorize(frame)
    for ax in (fig.axes[0], fig.axes[1], fig.axes[2]):  # input, observed, forecast
        for row, col in ((4, 4), (4, 12), (12, 4), (12, 12)):
            drawn = np.array(_pixel(fig, ax, row, col, frame.shape))
            assert np.abs(drawn - expected[row, col, :3]).max() <= 2
    no_coverage, dry = (
        _pixel(fig, fig.axes[0], 4, 4, (16, 16)),
        _pixel(fig, fig.axes[0], 4, 12, (16, 16)),
    )
    assert no_coverage != dry and no_coverage == rgb(NO_COVERAGE) and dry == rgb(DRY)
    assert _pixel(fig, fig.axes[0], 12, 4, (16, 16)) != _pixel(fig, fig.axes[0], 12, 12, (16, 16))
    flipped = strip_figure(frame[None], frame[None], origin="lower")  # row 0 at the bottom
    flipped.canvas.draw()
    assert _pixel(flipped, flipped.axes[0], 4, 4, (16, 16)) == tuple(expected[12, 4, :3])


def test_strip_titles_rows_and_colour_bar_name_times_and_units():
    frames = np.full((3, 8, 8), 2.0)
    fig = strip_figure(frames, frames[:2], truth=frames[:2], step_minutes=5, title="seq 0")
    panels = fig.axes[:9]  # 3 rows x 3 columns, then the colour bar
    assert [ax.get_title() for ax in panels[:3]] == ["-10 min", "-5 min", "0 min"]
    assert [ax.get_title() for ax in panels[3:5]] == ["+5 min", "+10 min"]
    assert [ax.get_title() for ax in panels[6:8]] == ["+5 min", "+10 min"]
    assert not panels[5].axison and not panels[8].axison  # no third lead time
    assert [panels[i].get_ylabel() for i in (0, 3, 6)] == ["input", "observed", "forecast"]
    assert fig.get_suptitle() == "seq 0"
    bar = fig.axes[9]
    assert bar.get_ylabel() == "mm/h" and [t.get_text() for t in bar.get_yticklabels()][:3] == [
        "0.08",
        "0.16",
        "0.25",
    ]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["dry (< 0.08 mm/h)", "no coverage (not observed)"]

    fig = strip_figure(frames[:2], frames[:1], kind="dbz")
    assert [ax.get_title() for ax in fig.axes[:2]] == ["-1", "0"] and fig.axes[
        2
    ].get_title() == "+1"
    bar = fig.axes[-1]
    assert bar.get_ylabel() == "dBZ" and bar.get_yticklabels()[-1].get_text() == "70"
    assert "times in steps (time step unknown)" in [
        t.get_text() for t in fig.legends[0].get_texts()
    ]


def test_files_are_written_atomically_and_read_back(tmp_path):
    rng = np.random.default_rng(0)
    inputs = rng.gamma(0.5, 4.0, (3, 12, 20))
    inputs[:, :, :4] = np.nan
    forecast = inputs[-1:].repeat(4, axis=0)
    png = radar_strip(inputs, forecast, tmp_path / "strip.png", step_minutes=5)
    image = iio.imread(png)
    assert image.ndim == 3 and image.shape[2] in (3, 4) and image.shape[1] > image.shape[0]
    gif = radar_gif(inputs, forecast, tmp_path / "loop.gif", step_minutes=5)
    assert iio.imread(gif, index=None).shape[0] == 3 + 4
    radar_gif(inputs, forecast, tmp_path / "beside.gif", truth=forecast * 0.5)
    assert iio.imread(tmp_path / "beside.gif", index=None).shape[0] == 3 + 4
    # a failing picture leaves the previous file as it was, and no temporary behind
    before = png.read_bytes()
    with pytest.raises(InputError, match=r"\(T, H, W\)"):
        radar_strip(inputs[0], forecast, png)
    assert png.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["beside.gif", "loop.gif", "strip.png"]


def test_gif_shows_the_inputs_then_the_forecast():
    frames = np.ones((2, 6, 6))
    headings = [h for h, _ in radar_gif_frames(frames, frames[:1].repeat(3, 0), step_minutes=10)]
    assert headings == ["-10 min (input)", "0 min (input)", "+10 min (forecast)",
                        "+20 min (forecast)", "+30 min (forecast)"]  # fmt: skip
    images = [image for _, image in radar_gif_frames(frames, frames[:1], truth=frames[:1] * 0)]
    assert len(images) == 3 and len({image.shape for image in images}) == 1
    assert not np.array_equal(images[1], images[2])  # the forecast panel appears


def test_all_nan_and_all_dry_frames_draw_without_warnings(tmp_path):
    nan, dry = np.full((2, 8, 8), np.nan), np.zeros((2, 8, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        radar_strip(nan, dry, tmp_path / "a.png", truth=nan, kind="dbz")
        radar_gif(dry, nan, tmp_path / "a.gif", truth=dry, step_minutes=5)
    assert iio.imread(tmp_path / "a.gif", index=None).shape[0] == 4


def test_bad_frames_are_named():
    ok = np.zeros((2, 8, 8))
    with pytest.raises(InputError, match="truth has 1 frames and the forecast 2"):
        radar_strip(ok, ok, "unused.png", truth=ok[:1])
    with pytest.raises(InputError, match="different sizes"):
        radar_strip(ok, np.zeros((2, 8, 9)), "unused.png")
    with pytest.raises(InputError, match="forecast has shape"):
        radar_strip(ok, np.zeros((2, 3, 8, 8)), "unused.png")
    with pytest.raises(InputError, match="origin='bottom'"):
        radar_gif(ok, ok, "unused.gif", origin="bottom")
    assert strip_figure(ok[:, None], ok[:, None]) is not None  # (T, 1, H, W) is one field


def _grey_count(path) -> int:
    image = iio.imread(path)[..., :3]
    return int((image == rgb(NO_COVERAGE)).all(axis=-1).sum())


@pytest.mark.parametrize("mode", ["future", "all"])
def test_test_pictures_are_radar_pictures_for_rain_runs_and_grey_otherwise(tmp_path, mode, tiny):
    rain = Normalizer.rain(threshold=0.1)
    raw = np.full((5, 1, 16, 16), 4.0)
    sequence = torch.as_tensor(rain.transform(raw))
    truth_nan = sequence.clone()
    truth_nan[3:, :, :8, :8] = float("nan")  # not observed in the truth frames
    pred = sequence[3:] if mode == "future" else sequence[1:]
    pictures = [(sequence, pred), (truth_nan, pred)]
    save_pictures(tiny(), pictures, 3, mode, tmp_path / "radar", TestOptions(), rain, "5 min")
    for i in (0, 1):
        assert iio.imread(tmp_path / "radar" / f"sequence_{i:02d}.png").ndim == 3
        gif = iio.imread(tmp_path / "radar" / f"sequence_{i:02d}.gif", index=None)
        assert gif.shape[0] == 3 + 2  # the inputs, then the two forecast frames
    # the NaN of the truth frames is drawn as no coverage (grey), not as rain or dry
    assert (
        _grey_count(tmp_path / "radar" / "sequence_01.png")
        > 2 * _grey_count(tmp_path / "radar" / "sequence_00.png") + 500
    )
    save_pictures(tiny(), pictures[:1], 3, mode, tmp_path / "grey", TestOptions(), None, "5 min")
    assert iio.imread(tmp_path / "grey" / "sequence_00.png").ndim == 2  # the grey strip


def test_convrnn_test_of_a_rain_run_writes_radar_pictures(tmp_path):
    pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    from convrnn.cli import main
    from tests.fixtures.netcdf import write_rain_netcdf

    path = tmp_path / "radar.nc"
    write_rain_netcdf(path, times=60)
    run = tmp_path / "run"
    args = ["train", "--model", "convlstm", "--data", str(path), "--max-steps", "1", "--out", str(run),
            "--set", "data.options.normalize=rain", "--set", "data.input_length=3",
            "--set", "data.output_length=2", "--set", "model.options.hidden_channels=4",
            "--set", "model.options.num_layers=2", "--set", "train.val_every=1",
            "--set", "train.progress_bar=false", "--batch-size", "2"]  # fmt: skip
    assert main(args) == 0
    assert main(["test", str(run), "--pictures", "1"]) == 0
    picture = iio.imread(run / "test-results" / "sequence_00.png")
    assert picture.ndim == 3 and (picture[..., 0] != picture[..., 1]).any()  # in colour
    assert iio.imread(run / "test-results" / "sequence_00.gif", index=None).shape[0] == 3 + 2
