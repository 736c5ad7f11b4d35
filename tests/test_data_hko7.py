import zlib
from datetime import datetime, timedelta

import numpy as np
import pytest
from PIL import Image

from convrnn.data import DatasetError, MissingDataError, check_dataset, get_dataset
from convrnn.units import pixel_to_dbz
from tests.fixtures.hko7 import S, write_hko7


@pytest.fixture
def hko_root(tmp_path):
    return write_hko7(tmp_path)


def test_windows_never_cross_a_time_gap(hko_root):
    train = get_dataset("hko7", hko_root, "train", seq_len=4, size=10)
    # run 00:00-00:54 (10 frames): starts 0, 4; run 01:06-02:54 (19 frames, indices 10..28): 10, 14, 18, 22
    assert [w.start for w in train.windows] == [0, 4, 10, 14, 18, 22]
    for w in train.windows:
        t = train.times[list(w.indices())]
        assert (np.diff(t) == 6).all()
    spaced = get_dataset("hko7", hko_root, "train", seq_len=3, stride=1, sample_every=2, size=10)
    assert len(spaced) == 6 + 15  # spans of 5 frames, stride 1, in runs of 10 and 19
    assert (np.diff(spaced.times[list(spaced.windows[-1].indices())]) == 12).all()


def test_day_lists_make_the_splits_and_pixels_map_to_dbz(hko_root):
    val = get_dataset("hko7", hko_root, "val", seq_len=5, size=10)
    test = get_dataset("hko7", hko_root, "test", seq_len=5, size=10)
    assert [w.start for w in val.windows] == [0, 5] and [w.start for w in test.windows] == [0, 5]
    x = test[1].numpy()  # frames 5..9 of 2009-03-20, PNG values 105..109
    assert x.shape == (5, 1, 10, 10)
    np.testing.assert_allclose(x[:, 0, 4, 4], np.arange(105, 110) / 255, rtol=1e-6)
    np.testing.assert_allclose(
        pixel_to_dbz(x[:, 0, 4, 4]), np.arange(105, 110) * 70 / 255 - 10, rtol=1e-5
    )
    assert test.info.radar.law.a == 58.53
    raw = np.arange(105, 110, dtype=np.float32).reshape(5, 1, 1, 1)
    np.testing.assert_allclose(test.normalizer.transform(raw)[:, 0, 0, 0], x[:, 0, 4, 4], rtol=1e-6)


def test_masks(hko_root):
    mask = np.zeros((S, S), bool)
    mask[:, : S // 2] = True
    folder = hko_root / "radarPNG_mask" / "2009" / "03" / "20"
    folder.mkdir(parents=True)
    for k in range(12):
        t = datetime(2009, 3, 20) + timedelta(minutes=6 * k)
        (folder / f"RAD{t:%y%m%d%H%M}00.mask").write_bytes(zlib.compress(mask.tobytes()))
    test = get_dataset("hko7", hko_root, "test", seq_len=4, size=10, masked=True)
    x = test[0].numpy()
    assert float(x[:, 0, :, :4].min()) > 0 and float(x[:, 0, :, 6:].max()) == 0.0
    m = test.masks(0)
    assert m.shape == (4, 1, 10, 10) and m[:, :, :, :5].all() and not m[:, :, :, 5:].any()
    (folder / "RAD090320000000.mask").write_bytes(b"not zlib")
    with pytest.raises(DatasetError, match=r"RAD090320000000\.mask"):
        test[0]


def test_split_folders_layout_carves_validation(tmp_path):
    for split, n in (("train", 40), ("test", 10)):
        folder = tmp_path / split
        folder.mkdir()
        for k in range(n):
            t = datetime(2015, 6, 1) + timedelta(minutes=6 * k)
            Image.fromarray(np.full((S, S), k, np.uint8)).save(folder / f"{t:%Y%m%d%H%M}.png")
    train = get_dataset("hko7", tmp_path, "train", seq_len=4, size=None)
    val = get_dataset("hko7", tmp_path, "val", seq_len=4, size=None)
    assert len(train) + len(val) == 10 and len(val) == 1 and val.windows[0].start == 36
    assert train[0].shape == (4, 1, S, S)
    assert len(get_dataset("hko7", tmp_path, "test", seq_len=4)) == 2


def test_broken_copies_name_the_file(hko_root):
    test = get_dataset("hko7", hko_root, "test", seq_len=4, size=10)
    bad = hko_root / "radarPNG" / "2009" / "03" / "20" / "RAD090320001800.png"
    bad.write_bytes(bad.read_bytes()[:30])
    with pytest.raises(DatasetError, match=r"RAD090320001800\.png"):
        test[0]
    (hko_root / "hko7_rainy_test_days.txt").write_text("20090320\n20090321\n")
    with pytest.raises(MissingDataError, match=r"2009/03/21"):
        get_dataset("hko7", hko_root, "test")
    (hko_root / "hko7_rainy_test_days.txt").write_text("March 20\n")
    with pytest.raises(DatasetError, match=r"hko7_rainy_test_days\.txt:1"):
        get_dataset("hko7", hko_root, "test")
    (hko_root / "radarPNG" / "2009" / "03" / "18" / "frame.png").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"frame\.png: no timestamp"):
        get_dataset("hko7", hko_root, "train")


def test_check_lists_windows_and_the_missing_day_list(hko_root):
    report = check_dataset("hko7", hko_root, seq_len=4, size=10)
    assert report.ok, str(report)
    assert "[train] 6 windows" in str(report) and "Z = 58.53 R^1.56" in str(report)
    (hko_root / "hko7_rainy_valid_days.txt").unlink()
    bad = check_dataset("hko7", hko_root, seq_len=4, size=10)
    assert "hko7_rainy_valid_days.txt not found" in str(bad) and bad.splits["train"].error is None


def test_a_timestamp_off_the_whole_minute_names_the_file(hko_root):
    # 01:00:30 would have been truncated to 01:00, silently filling the gap at 01:00
    folder = hko_root / "radarPNG" / "2009" / "03" / "18"
    Image.fromarray(np.zeros((S, S), np.uint8)).save(folder / "RAD090318010030.png")
    with pytest.raises(
        DatasetError, match=r"RAD090318010030\.png: timestamp .* not on a whole minute"
    ):
        get_dataset("hko7", hko_root, "train", seq_len=4, size=10)
    assert get_dataset("hko7", hko_root, "test", seq_len=4, size=10)  # other days unaffected
