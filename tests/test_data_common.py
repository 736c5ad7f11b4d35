import json

import numpy as np
import pytest
import torch

from convrnn.data import Normalizer, dataset_info, fit_minmax, list_datasets
from convrnn.data.windows import Window, carve_validation, contiguous_runs, sliding_windows


def test_sliding_windows_by_hand():
    w = sliding_windows(0, 1, 31, length=20, stride=3)  # frames 1..30
    assert [x.start for x in w] == [1, 4, 7, 10]
    assert list(w[-1].indices()) == list(range(10, 30))
    spaced = sliding_windows(2, 0, 50, length=4, stride=24, step=6)
    assert [list(x.indices()) for x in spaced] == [[0, 6, 12, 18], [24, 30, 36, 42]]
    assert spaced[0].stop == 19 and spaced[0].source == 2


def test_contiguous_runs_split_at_gaps():
    times = [0, 6, 12, 24, 30, 36, 42, 100]
    assert contiguous_runs(times, 6) == [(0, 3), (3, 7), (7, 8)]
    with pytest.raises(ValueError, match="not strictly increasing"):
        contiguous_runs([0, 6, 6], 6)


def test_carve_validation_drops_overlapping_training_windows():
    windows = sliding_windows(0, 0, 20, length=4, stride=1)  # starts 0..16
    train, val = carve_validation(windows, count=3)
    assert [w.start for w in val] == [14, 15, 16]
    assert [w.start for w in train] == list(range(0, 11))  # 11..13 share frames with window 14
    assert max(w.stop for w in train) <= 14
    other = [
        Window(0, 0, 4),
        Window(1, 0, 4),
        Window(2, 0, 4),
    ]  # separate sequences: nothing dropped
    tr, va = carve_validation(other, fraction=1 / 3)
    assert tr == other[:2] and va == other[2:]
    with pytest.raises(ValueError, match="cannot carve"):
        carve_validation(other, count=3)


def test_normalizer_round_trips_and_json():
    x = np.array([[[[0.0, 5.0]], [[10.0, 20.0]]]], dtype=np.float32)  # (1, C=2, 1, 2)
    n = fit_minmax([x[:, :, :, :1], x[:, :, :, 1:]], per_channel=True)
    y = n.transform(x)
    np.testing.assert_allclose(y[0, 0, 0], [0.0, 1.0])
    np.testing.assert_allclose(y[0, 1, 0], [0.0, 1.0])
    again = Normalizer.from_dict(json.loads(json.dumps(n.to_dict())))
    np.testing.assert_allclose(again.transform(x), y)
    np.testing.assert_allclose(again.inverse(y), x, rtol=1e-6)
    t = again.inverse(torch.from_numpy(y))
    assert isinstance(t, torch.Tensor) and torch.allclose(t, torch.from_numpy(x))
    glob = fit_minmax([x])
    np.testing.assert_allclose(glob.transform(x)[0, :, 0], [[0.0, 0.25], [0.5, 1.0]])
    assert np.all(glob.transform(np.full((1, 1, 1, 1), 99.0)) == 1.0)  # clipped


def test_normalizer_radar_kinds():
    rain = Normalizer.rain("hko7")
    x = rain.transform(np.array([0.0, 0.5, -1.0, np.nan]).reshape(1, 1, 1, 4))
    # negative rates are dry; NaN (not observed) stays NaN, never 0 mm/h
    np.testing.assert_allclose(x[0, 0, 0], [0.0, 0.3283, 0.0, np.nan], atol=1e-4)
    assert np.isnan(rain.inverse(x)[0, 0, 0, 3])
    assert rain.inverse(np.float64(0.3283)) == pytest.approx(0.5, rel=1e-3)
    dbz = Normalizer.from_dict(Normalizer.dbz().to_dict())
    np.testing.assert_allclose(dbz.transform(np.array([-10.0, 25.0, 60.0])), [0.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="constant"):
        fit_minmax([np.ones((2, 1, 2, 2))])


@pytest.mark.parametrize(
    "name", ["kth", "taxibj", "hko7", "germany", "typhoon", "arrays", "moving-mnist"]
)
def test_every_dataset_has_info(name):
    info = dataset_info(name)
    d = json.loads(json.dumps(info.to_dict()))
    assert d["input_length"] >= 1 and d["output_length"] >= 1
    assert name in list_datasets()


def test_info_values_of_the_papers():
    assert dataset_info("kth").test_seq_len == 30 and dataset_info("kth").frame_size == (88, 88)
    lstm = dataset_info("kth", protocol="ms-lstm")
    assert lstm.frame_size == (128, 128) and lstm.test_seq_len == 20
    assert (
        dataset_info("taxibj").seq_len == 8 and dataset_info("taxibj", flows="both").channels == 2
    )
    hko = dataset_info("hko7")
    assert hko.radar.law.a == 58.53 and hko.radar.reported_thresholds == (0.5, 5.0, 30.0)
    np.testing.assert_allclose(
        hko.radar.pixel_thresholds(), [0.3283, 0.4624, 0.5511, 0.6182, 0.7245], atol=1e-4
    )
    de = dataset_info("germany")
    assert de.radar.law.a == 256 and de.seq_len == 8 and de.frame_size == (180, 180)
    ty = dataset_info("typhoon")
    assert (ty.input_length, ty.output_length) == (8, 4)
    assert dataset_info("arrays", normalize="rain").radar is not None
    assert dataset_info("arrays").radar is None


def test_contiguous_runs_names_the_repeated_entries():
    files = ["a.png", "b.png", "c.png", "d.png"]
    with pytest.raises(
        ValueError, match=r"^frames/: .*duplicate time, 'b\.png' \(time 6\) and 'c\.png'"
    ):
        contiguous_runs([0, 6, 6, 12], 6, names=files, where="frames/")
    with pytest.raises(ValueError, match=r"time goes backwards, 'c\.png' \(time 12\) and 'd\.png'"):
        contiguous_runs([0, 6, 12, 7], 6, names=files)
    with pytest.raises(ValueError, match=r"times 6 and 6; 2 duplicate\(s\) in all"):
        contiguous_runs([0, 6, 6, 6], 6)
