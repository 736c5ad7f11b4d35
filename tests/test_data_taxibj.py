import h5py
import numpy as np
import pytest

from convrnn.data import DatasetError, MissingDataError, check_dataset, get_dataset, taxibj
from tests.fixtures.taxibj import write_bj

OPTS = {"test_windows": 50, "val_windows": 20}


@pytest.fixture
def bj_root(tmp_path):
    write_bj(tmp_path)
    return tmp_path


def test_cleaning_windows_and_splits_by_hand(bj_root):
    train = get_dataset("taxibj", bj_root, "train", **OPTS)
    val = get_dataset("taxibj", bj_root, "val", **OPTS)
    test = get_dataset("taxibj", bj_root, "test", **OPTS)
    # complete slots: 2013: 3 days (144, 2013-07-04 dropped); 2014: 96 + 48 (gap); 2015: 96; 2016: 96
    # windows need 8 slots plus the next one: 136 + (88 + 40) + 88 + 88 = 440
    assert len(test) == 50 and len(val) == 20
    assert (
        len(train) == 440 - 50 - 20 - 7
    )  # the 7 windows overlapping the first validation window go
    assert any("1 incomplete days dropped" in n for n in train.summary())
    sources = [w.source for w in test.windows]
    assert set(sources) == {3} and [w.start for w in test.windows][-1] == 96 - 9
    bj14 = [w.start for w in train.windows if w.source == 1]
    assert bj14 == list(range(0, 88)) + list(range(96, 136))  # two runs around the missing day
    assert [w.start for w in val.windows] == list(range(18, 38))  # in the 2016 file


def test_windows_are_in_time_order_and_never_cross_a_gap(bj_root):
    train = get_dataset("taxibj", bj_root, "train", **OPTS)
    n = train.normalizer
    for i in (0, 140, 200):
        inflow = n.inverse(train[i].numpy())[:, 0, 0, 5]
        np.testing.assert_allclose(np.diff(inflow), 1.0, atol=1e-3)  # consecutive, oldest first
    starts = {w.start for w in train.windows if w.source == 1}
    assert 88 not in starts and 96 in starts  # no window starts in the last 8 slots before the gap


def test_minmax_from_the_training_part_only(bj_root):
    train = get_dataset("taxibj", bj_root, "train", **OPTS)
    test = get_dataset("taxibj", bj_root, "test", **OPTS)
    # frames kept: 144 + 144 + 96 + 96 = 480; fit over the first 430, both flows; counter of frame 430
    # is 430 + 1 (one 2013 slot was dropped before it, 47 slots of 2013-07-04 as well)
    kept_counters = [k for k in range(1, 144 + 1)] + list(range(144 + 47 + 1, 144 + 47 + 1 + 336))
    hi = 2.0 * kept_counters[429]
    assert train.normalizer.inverse(np.float64(0.0)) == pytest.approx(0.0)  # negative clamped to 0
    assert train.normalizer.inverse(np.float64(1.0)) == pytest.approx(hi)
    assert test.normalizer.to_dict() == train.normalizer.to_dict()
    assert float(test[-1].max()) == 1.0  # the spike is clipped, not fitted
    assert train[0].shape == (8, 1, 32, 32)  # inflow only by default


def test_both_flows_and_quantisation(bj_root):
    both = get_dataset("taxibj", bj_root, "train", flows="both", **OPTS)
    x = both[0].numpy()
    assert x.shape == (8, 2, 32, 32)
    np.testing.assert_allclose(x[:, 1, 1, 1], 2 * x[:, 0, 1, 1], rtol=1e-6)
    q = get_dataset("taxibj", bj_root, "train", quantize=True, **OPTS)[3].numpy()
    np.testing.assert_array_equal(q * 255, np.floor(q * 255))


def test_openstl_npz(tmp_path):
    rng = np.random.default_rng(0)
    parts = {
        k: rng.uniform(-1, 1, (n, 4, 2, 32, 32)).astype(np.float32)
        for k, n in (("X_train", 30), ("Y_train", 30), ("X_test", 6), ("Y_test", 6))
    }
    np.savez(tmp_path / "dataset.npz", **parts)
    train = get_dataset("taxibj", tmp_path, "train", val_windows=5)
    val = get_dataset("taxibj", tmp_path, "val", val_windows=5)
    test = get_dataset("taxibj", tmp_path, "test", flows="both")
    assert len(val) == 5 and len(train) == 30 - 5 - 7 and len(test) == 6
    np.testing.assert_allclose(test[2].numpy()[:4], (parts["X_test"][2] + 1) / 2, rtol=1e-6)
    np.testing.assert_allclose(test[2].numpy()[4:], (parts["Y_test"][2] + 1) / 2, rtol=1e-6)
    np.testing.assert_allclose(
        val[0].numpy()[:4, 0], (parts["X_train"][25, :, 0] + 1) / 2, rtol=1e-6
    )


def test_broken_copies_name_the_file(bj_root):
    p13 = bj_root / taxibj.FILE_PATTERN.format(13)
    blob = p13.read_bytes()
    p13.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DatasetError, match=r"BJ13_M32x32_T30_InOut\.h5.*truncated"):
        get_dataset("taxibj", bj_root, "train", **OPTS)
    p13.unlink()
    with pytest.raises(MissingDataError, match=r"BJ13_M32x32_T30_InOut\.h5"):
        get_dataset("taxibj", bj_root, "train", **OPTS)
    with h5py.File(p13, "w") as f:
        f.create_dataset("data", data=np.zeros((4, 2, 16, 16)))
        f.create_dataset("date", data=np.array([b"2013070101"] * 4))
    with pytest.raises(DatasetError, match=r"BJ13.*expected \(T, 2, 32, 32\)"):
        get_dataset("taxibj", bj_root, "train", **OPTS)


def test_check_explains_what_is_missing(tmp_path):
    report = check_dataset("taxibj", tmp_path)
    assert not report.ok
    assert "BJ13_M32x32_T30_InOut.h5" in str(report) and "dataset.npz" in str(report)
    write_bj(tmp_path)
    good = check_dataset("taxibj", tmp_path, **OPTS)
    assert good.ok, str(good)
    assert "[test] 50 windows" in str(good) and "min-max over the first 430" in str(good)


@pytest.mark.parametrize("paper", ["ms-rnn", "ms-lstm"])
def test_recipe_max_steps_count_the_training_windows_left_after_validation(paper):
    import inspect
    import math
    from pathlib import Path

    from convrnn.config import load_yaml
    from convrnn.data.windows import carve_validation, sliding_windows

    recipe = load_yaml(Path(__file__).parents[1] / "recipes" / f"{paper}-taxibj.yaml")
    options = recipe["data"].get("options", {})
    default = inspect.signature(taxibj.TaxiBJ).parameters["val_windows"].default
    # the official 19,560 training windows (stride 1, 8 slots), then our validation carve
    official = sliding_windows(0, 0, 19_560 + 7, length=8, stride=1)
    assert len(official) == 19_560
    train, _ = carve_validation(official, count=options.get("val_windows", default))
    assert len(train) == 18_209
    epochs = taxibj.taxibj_info().papers[paper]["epochs"]
    batch = recipe["train"]["batch_size"]
    assert recipe["train"]["max_steps"] == math.ceil(epochs * len(train) / batch)
