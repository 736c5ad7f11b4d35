from datetime import datetime

import h5py
import numpy as np
import pytest

from convrnn.data import DatasetError, MissingDataError, check_dataset, get_dataset
from convrnn.units import GERMANY_ZR, rain_to_pixel
from tests.fixtures.germany import S, keys_from, write_rydl


@pytest.fixture
def rydl(tmp_path):
    write_rydl(tmp_path / "RYDL.hdf5")
    return tmp_path


def test_thirty_minute_windows_by_year_without_gaps(rydl):
    train = get_dataset("germany", rydl, "train", seq_len=4, size=10)
    # 2006: keys 0..59 and 61..99 (a gap); span of a window = 3 x 6 + 1 = 19 keys, stride 24 keys
    assert [w.start for w in train.windows] == [0, 24, 60]
    keys = [train.keys[i] for i in train.windows[2].indices()]
    assert keys == ["200606010505", "200606010535", "200606010605", "200606010635"]
    val = get_dataset("germany", rydl, "val", seq_len=4, size=10)
    test = get_dataset("germany", rydl, "test", seq_len=4, size=10)
    assert val.keys[0].startswith("2015") and test.keys[0].startswith("2016")
    assert len(val) == len(test) == 4  # 100 keys: starts 0, 24, 48, 72


def test_rain_to_pixel_conversion(rydl):
    test = get_dataset("germany", rydl, "test", seq_len=4, size=10)
    x = test[1].numpy()[:, 0, 5, 5]  # keys 24, 30, 36, 42 -> 0.24 .. 0.42 mm / 5 min
    mm_h = 12 * 0.01 * np.array([24, 30, 36, 42])
    dbz = 10 * np.log10(256 * mm_h**1.42)
    np.testing.assert_allclose(x, np.clip((dbz + 10) / 70, 0, 1), rtol=1e-5)
    np.testing.assert_allclose(x, rain_to_pixel(mm_h, GERMANY_ZR), rtol=1e-5)
    np.testing.assert_allclose(
        test.normalizer.transform(mm_h.reshape(4, 1, 1, 1))[:, 0, 0, 0], x, rtol=1e-5
    )
    assert float(test[0][0].max()) == 0.0  # key 0 holds no rain
    assert test[0].shape == (4, 1, 10, 10)
    assert test.info.radar.law.a == 256 and test.info.radar.reported_thresholds == (0.5, 2.0, 5.0)


def test_keys_file_and_bad_keys(rydl, tmp_path):
    (rydl / "RYDL_keys.txt").write_text(repr(keys_from(datetime(2016, 6, 1), 50)))
    test = get_dataset("germany", rydl, "test", seq_len=4, size=10)
    assert len(test.keys) == 50 and len(test) == 2
    (rydl / "RYDL_keys.txt").unlink()
    write_rydl(tmp_path / "bad.hdf5", extra={"latest": np.zeros((S, S))})
    with pytest.raises(DatasetError, match="key 'latest' has no YYYYMMDDHHMM"):
        get_dataset("germany", tmp_path / "bad.hdf5", "train")


def test_broken_files_name_the_file(rydl):
    path = rydl / "RYDL.hdf5"
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 3])
    with pytest.raises(DatasetError, match=r"RYDL\.hdf5.*truncated"):
        get_dataset("germany", rydl, "train")
    path.unlink()
    with pytest.raises(MissingDataError, match=r"RYDL\.hdf5"):
        get_dataset("germany", rydl, "train")
    assert "RYDL.hdf5 not found" in str(check_dataset("germany", rydl))


def test_wrong_frame_shape_is_an_error(tmp_path):
    write_rydl(tmp_path / "RYDL.hdf5")
    with h5py.File(tmp_path / "RYDL.hdf5", "a") as f:
        del f["201606010010"]
        f.create_dataset("201606010010", data=np.zeros((S, S + 1)))
    test = get_dataset("germany", tmp_path, "test", seq_len=4, size=10, sample_every=1)
    with pytest.raises(DatasetError, match=r"dataset '201606010010' is \(30, 31\)"):
        test[0]


def test_pickles_with_an_open_file(rydl):
    import pickle

    test = get_dataset("germany", rydl, "test", seq_len=4, size=10)
    first = test[1].numpy()
    clone = pickle.loads(pickle.dumps(test))
    np.testing.assert_array_equal(clone[1].numpy(), first)


@pytest.mark.parametrize(
    "years, pair",
    [
        ({"train_years": (2006, 2015)}, "train_years and val_years"),
        ({"val_years": (2016,)}, "val_years and test_years"),
        ({"train_years": (2006, 2017)}, "train_years and test_years"),
    ],
)
def test_a_year_in_two_splits_is_an_error(rydl, years, pair):
    with pytest.raises(ValueError, match=rf"years \[20\d\d\] are in both {pair}"):
        get_dataset("germany", rydl, "train", seq_len=4, size=10, **years)


def test_repeated_and_off_minute_keys_name_the_key(rydl, tmp_path):
    keys = keys_from(datetime(2016, 6, 1), 50)
    (rydl / "RYDL_keys.txt").write_text(repr(keys[:10] + keys[9:]))  # key 9 twice
    with pytest.raises(DatasetError, match=r"RYDL_keys\.txt: .*duplicate time, '201606010045'"):
        get_dataset("germany", rydl, "test", seq_len=4, size=10)
    (rydl / "RYDL_keys.txt").unlink()
    write_rydl(tmp_path / "odd.hdf5", extra={"20160601100030": np.zeros((S, S))})
    with pytest.raises(
        DatasetError, match=r"odd\.hdf5: key '20160601100030'.*not on a whole minute"
    ):
        get_dataset("germany", tmp_path / "odd.hdf5", "test", seq_len=4, size=10)
    # a 14-digit key on the whole minute is the same time as its 12-digit twin: a duplicate
    write_rydl(tmp_path / "twin.hdf5", extra={"20160601000000": np.zeros((S, S))})
    with pytest.raises(DatasetError, match=r"'201606010000'.* and '20160601000000'"):
        get_dataset("germany", tmp_path / "twin.hdf5", "test", seq_len=4, size=10)
