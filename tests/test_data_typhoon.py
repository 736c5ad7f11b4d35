import pickle

import h5py
import numpy as np
import pytest

from convrnn.data import DatasetError, check_dataset, get_dataset


def seqs(n, seed=0, dtype=np.float32):
    x = np.random.default_rng(seed).random((n, 12, 1, 8, 8))
    return (x * 255).astype(np.uint8) if dtype == np.uint8 else x.astype(dtype)


def test_split_files_and_carved_validation(tmp_path):
    train, test = seqs(10), seqs(4, seed=1)
    np.save(tmp_path / "train.npy", train)
    np.savez(tmp_path / "test.npz", test)
    tr = get_dataset("typhoon", tmp_path, "train")
    va = get_dataset("typhoon", tmp_path, "val")
    te = get_dataset("typhoon", tmp_path, "test")
    assert (len(tr), len(va), len(te)) == (9, 1, 4)
    np.testing.assert_allclose(va[0].numpy(), train[9])
    np.testing.assert_allclose(te[3].numpy(), test[3])
    assert tr[0].shape == (12, 1, 8, 8)
    assert (tr.info.input_length, tr.info.output_length, tr.info.frame_size) == (8, 4, (8, 8))
    np.save(tmp_path / "val.npy", seqs(3, seed=2))
    assert (
        len(get_dataset("typhoon", tmp_path, "val")) == 3
        and len(get_dataset("typhoon", tmp_path, "train")) == 10
    )


def test_uint8_single_file_with_user_split(tmp_path):
    data = seqs(10, dtype=np.uint8)
    with h5py.File(tmp_path / "typhoon.h5", "w") as f:
        f.create_dataset("frames", data=data)
    with pytest.raises(ValueError, match="split_at"):
        get_dataset("typhoon", tmp_path / "typhoon.h5", "train")
    parts = [
        get_dataset("typhoon", tmp_path / "typhoon.h5", s, split_at=(7, 9))
        for s in ("train", "val", "test")
    ]
    assert [len(p) for p in parts] == [7, 2, 1]
    np.testing.assert_allclose(parts[2][0].numpy(), data[9] / 255.0, rtol=1e-6)


def test_wrong_shapes_and_values(tmp_path):
    np.save(tmp_path / "train.npy", np.zeros((4, 10, 1, 8, 8), np.float32))
    np.save(tmp_path / "test.npy", seqs(2))
    with pytest.raises(DatasetError, match=r"train\.npy.*\(N, 12, 1, H, W\)"):
        get_dataset("typhoon", tmp_path, "train")
    np.save(tmp_path / "train.npy", seqs(4) * 3)
    with pytest.raises(DatasetError, match=r"train\.npy.*needs \[0, 1\]"):
        get_dataset("typhoon", tmp_path, "train")[0]
    report = check_dataset("typhoon", tmp_path)
    assert not report.ok and "needs [0, 1]" in str(report)


def test_datasets_pickle_for_dataloader_workers(tmp_path):
    with h5py.File(tmp_path / "t.h5", "w") as f:
        f.create_dataset("x", data=seqs(6))
    ds = get_dataset("typhoon", tmp_path / "t.h5", "train", split_at=(4, 5))
    first = ds[0].numpy()
    clone = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(clone[0].numpy(), first)
