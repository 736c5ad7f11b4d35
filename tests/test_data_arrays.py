import importlib.util
import json
import tracemalloc

import h5py
import numpy as np
import pytest
import torch

from convrnn.data import DatasetError, MissingDataError, Normalizer, check_dataset, get_dataset
from convrnn.data.arrays import ArraySequences

HAS_ZARR = importlib.util.find_spec("zarr") is not None


def ramp(t=100, h=4, w=4):
    """Frame i is filled with the value i."""
    return np.broadcast_to(np.arange(t, dtype=np.float32)[:, None, None], (t, h, w)).copy()


def test_series_windows_splits_and_training_only_minmax(tmp_path):
    np.save(tmp_path / "x.npy", ramp())
    opts = {"input_length": 3, "output_length": 3, "stride": 2}
    train = get_dataset("arrays", tmp_path / "x.npy", "train", **opts)
    val = get_dataset("arrays", tmp_path / "x.npy", "val", **opts)
    test = get_dataset("arrays", tmp_path / "x.npy", "test", **opts)
    # THW -> frames [0, 80) / [80, 90) / [90, 100); windows of 6, stride 2, inside each part
    assert len(train) == len(range(0, 75, 2)) == 38
    assert [w.start for w in val.windows] == [80, 82, 84]
    assert [w.start for w in test.windows] == [90, 92, 94]
    x = train[1]
    assert x.shape == (6, 1, 4, 4) and x.dtype.is_floating_point
    np.testing.assert_allclose(
        x[:, 0, 0, 0].numpy(), np.arange(2, 8) / 79, rtol=1e-6
    )  # min 0, max 79
    assert train.normalizer.to_dict()["scale"] == [pytest.approx(1 / 79)]
    assert float(test[0].min()) == 1.0  # test frames (>= 90) lie above the training max: clipped
    assert val.normalizer.to_dict() == train.normalizer.to_dict()  # fitted on the training split


def test_saved_normalizer_is_reapplied(tmp_path):
    data = ramp() * 3 + 7
    np.save(tmp_path / "x.npy", data)
    train = get_dataset("arrays", tmp_path / "x.npy", "train", input_length=2, output_length=2)
    stored = json.loads(json.dumps(train.normalizer.to_dict()))
    test = get_dataset(
        "arrays", tmp_path / "x.npy", "test", input_length=2, output_length=2, normalizer=stored
    )
    assert test.normalizer.to_dict() == stored
    back = Normalizer.from_dict(stored).inverse(test[0].numpy())
    np.testing.assert_allclose(back, np.minimum(data[90:94, None], data[79]), rtol=1e-5)


def test_sequences_layout_split_at_and_stored_npz(tmp_path):
    rng = np.random.default_rng(0)
    seqs = rng.random((10, 8, 1, 4, 4)).astype(np.float32)
    np.savez(tmp_path / "s.npz", frames=seqs, other=np.zeros(3))
    opts = {"key": "frames", "seq_len": 4, "stride": 4, "split_at": (6, 8), "normalize": "none"}
    train = get_dataset("arrays", tmp_path / "s.npz", "train", **opts)
    test = get_dataset("arrays", tmp_path / "s.npz", "test", **opts)
    assert len(train) == 12 and len(test) == 4
    assert isinstance(
        train.tracks[0].source._open(), np.memmap
    )  # stored npz member mapped in place
    np.testing.assert_allclose(train[3].numpy(), seqs[1, 4:8])
    np.testing.assert_allclose(test[1].numpy(), seqs[8, 4:8])
    with pytest.raises(DatasetError, match="choose one with key="):
        get_dataset("arrays", tmp_path / "s.npz", "train")


def test_channels_last_layout_and_layout_errors(tmp_path):
    data = np.zeros((30, 5, 6, 2), np.float32)
    data[..., 1] = 1.0
    np.save(tmp_path / "c.npy", data)
    ds = get_dataset(
        "arrays", tmp_path / "c.npy", "train", layout="THWC", normalize="none", seq_len=4
    )
    x = ds[0]
    assert x.shape == (4, 2, 5, 6) and float(x[:, 1].min()) == 1.0 and float(x[:, 0].max()) == 0.0
    with pytest.raises(DatasetError, match="layout NTCHW needs a 5-D"):
        get_dataset("arrays", tmp_path / "c.npy", "train", layout="NTCHW")
    np.save(tmp_path / "six.npy", np.zeros((2, 2, 2, 2, 2, 2)))
    with pytest.raises(DatasetError, match="pass layout="):
        get_dataset("arrays", tmp_path / "six.npy", "train")


def test_compressed_npz_is_refused_above_the_memory_limit(tmp_path):
    np.savez_compressed(tmp_path / "z.npz", x=np.ones((50, 8, 8), np.float32))
    with pytest.raises(DatasetError, match="compressed"):
        get_dataset(
            "arrays",
            tmp_path / "z.npz",
            "train",
            max_in_memory_bytes=1000,
            normalize="none",
            seq_len=4,
        )
    ds = get_dataset("arrays", tmp_path / "z.npz", "train", normalize="none", seq_len=4)
    assert len(ds) == 37


def test_hdf5_and_zarr_sources(tmp_path):
    data = ramp(40)[:, None]  # TCHW
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f.create_dataset("radar/frames", data=data, chunks=(4, 1, 4, 4))
        f.create_dataset("radar/extra", data=np.zeros(3))
    ds = get_dataset(
        "arrays",
        tmp_path / "d.h5",
        "train",
        key="radar/frames",
        seq_len=5,
        stride=5,
        sample_every=2,
    )
    np.testing.assert_allclose(
        ds[1][:, 0, 0, 0].numpy() * 31, [5, 7, 9, 11, 13], rtol=1e-5
    )  # train max 31
    if HAS_ZARR:
        import zarr

        z = zarr.create_array(
            store=str(tmp_path / "d.zarr"), shape=data.shape, chunks=(4, 1, 4, 4), dtype="f4"
        )
        z[:] = data
        dz = get_dataset(
            "arrays", tmp_path / "d.zarr", "train", seq_len=5, stride=5, sample_every=2
        )
        np.testing.assert_allclose(dz[1].numpy(), ds[1].numpy())


def test_folder_of_split_files_carves_validation(tmp_path):
    np.save(tmp_path / "train.npy", ramp(50))
    np.save(tmp_path / "test.npy", ramp(20) + 100)
    opts = {"seq_len": 5, "stride": 1, "val_fraction": 0.2}
    train = get_dataset("arrays", tmp_path, "train", **opts)
    val = get_dataset("arrays", tmp_path, "val", **opts)
    test = get_dataset("arrays", tmp_path, "test", **opts)
    assert len(val) == 9 and val.windows[0].start == 37  # 46 windows, last 9
    assert max(w.stop for w in train.windows) <= 37
    assert len(test) == 16 and test.normalizer.to_dict() == train.normalizer.to_dict()
    # min-max over the frames trained on (0..36), not over the carved validation frames
    assert "37 frames" in train.normalizer.fitted_on
    np.testing.assert_allclose(train.normalizer.inverse(np.ones(1)), ramp(50)[36].max())


def test_bad_values_are_errors_naming_the_file(tmp_path):
    data = ramp(30) / 30
    data[12, 1, 1] = np.inf
    data[2, 1, 1] = np.nan  # NaN is "not observed": kept, never an error
    np.save(tmp_path / "n.npy", data)
    ds = get_dataset("arrays", tmp_path / "n.npy", "train", normalize="none", seq_len=4, stride=4)
    first = ds[0].numpy()
    assert np.isnan(first[2, 0, 1, 1]) and np.isnan(first).sum() == 1
    with pytest.raises(DatasetError, match=r"n\.npy.*infinite values.*NaN"):
        ds[3]  # frames 12..15
    np.save(tmp_path / "big.npy", ramp(30))
    ds = get_dataset("arrays", tmp_path / "big.npy", "train", normalize="none", seq_len=4, stride=4)
    with pytest.raises(DatasetError, match=r"big\.npy.*needs \[0, 1\]"):
        ds[1]
    with pytest.raises(MissingDataError):
        get_dataset("arrays", tmp_path / "absent.npy", "train")
    (tmp_path / "t.npy").write_bytes((tmp_path / "big.npy").read_bytes()[:200])
    with pytest.raises(DatasetError, match=r"t\.npy.*truncated"):
        get_dataset("arrays", tmp_path / "t.npy", "train")


def test_radar_normalisation_gives_radar_info(tmp_path):
    np.save(tmp_path / "r.npy", np.full((20, 4, 4), 2.0, np.float32))  # 2 mm/h everywhere
    ds = get_dataset("arrays", tmp_path / "r.npy", "train", normalize="rain", zr="hko7", seq_len=4)
    assert ds.info.radar.law.name == "hko7"
    assert float(ds[0][0, 0, 0, 0]) == pytest.approx(0.4624, abs=1e-4)


def test_a_50_gb_npy_file_is_never_loaded(tmp_path):
    path = tmp_path / "huge.npy"
    frames = 3_000_000  # 3e6 x 64 x 64 float32 = 49 GB, a sparse file: no disk is used
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(frames, 1, 64, 64))
    mm[2_390_005, 0, 3, 3] = 0.5
    del mm
    tracemalloc.start()
    ds = ArraySequences(path, "train", normalize="none", seq_len=20, stride=10_000)
    x = ds[239]  # frames 2,390,000 .. 2,390,019
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert float(x[5, 0, 3, 3]) == 0.5 and len(ds) == 240
    assert peak < 8 * 1024**2, f"peak {peak / 2**20:.1f} MiB"


def test_minmax_fit_streams_in_chunks(tmp_path):
    path = tmp_path / "mid.npy"
    mm = np.lib.format.open_memmap(
        path, mode="w+", dtype=np.float32, shape=(4000, 1, 64, 64)
    )  # 62 MiB
    mm[10, 0, 0, 0] = -2.0
    mm[3100, 0, 0, 0] = 6.0  # training part: frames [0, 3200)
    mm[3900, 0, 0, 0] = 99.0  # test part: ignored by the fit
    del mm
    tracemalloc.start()
    ds = ArraySequences(path, "train", seq_len=4, stride=500, chunk_bytes=2 * 1024**2)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert ds.normalizer.inverse(np.float64(0.0)) == pytest.approx(-2.0)
    assert ds.normalizer.inverse(np.float64(1.0)) == pytest.approx(6.0)
    assert peak < 12 * 1024**2, f"peak {peak / 2**20:.1f} MiB"


def test_a_huge_hdf5_dataset_is_read_by_chunks(tmp_path):
    path = tmp_path / "huge.h5"
    with h5py.File(
        path, "w"
    ) as f:  # 3e6 x 64 x 64 float32 = 49 GB declared, unwritten chunks take no space
        d = f.create_dataset("x", shape=(3_000_000, 1, 64, 64), dtype="f4", chunks=(8, 1, 64, 64))
        d[1_000_003] = 0.25
    tracemalloc.start()
    ds = ArraySequences(
        path, "test", normalize="none", seq_len=10, stride=100_000, splits=(0.3, 0.0, 0.7)
    )
    x = ds[1]  # frames 1,000,000 .. 1,000,009
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert float(x[3].max()) == 0.25
    assert peak < 8 * 1024**2, f"peak {peak / 2**20:.1f} MiB"


def test_check_reuses_the_training_normalisation(tmp_path):
    np.save(tmp_path / "x.npy", ramp())
    report = check_dataset("arrays", tmp_path / "x.npy", seq_len=4)
    assert report.ok, str(report)
    assert "[val] 7 windows" in str(
        report
    ) and "min-max over the training split (80 frames)" in str(report)
    assert report.splits["test"].value_range == (1.0, 1.0)  # above the training range: clipped


def test_dataloader_workers_reopen_hdf5(tmp_path):
    from torch.utils.data import DataLoader

    with h5py.File(tmp_path / "d.h5", "w") as f:
        f.create_dataset("x", data=ramp(60)[:, None] / 60)
    ds = get_dataset("arrays", tmp_path / "d.h5", "train", normalize="none", seq_len=4, stride=4)
    ds[0]  # open the file in the parent first
    batches = list(DataLoader(ds, batch_size=4, num_workers=2))
    got = np.concatenate([b.numpy() for b in batches])
    np.testing.assert_allclose(got[:, 0, 0, 0, 0], np.arange(0, 48, 4) / 60, rtol=1e-6)


def test_zarr_stores_are_recognised_by_their_metadata(tmp_path):
    from convrnn.data.array_sources import array_kind

    for marker in ("zarr.json", ".zarray", ".zgroup"):  # v3, v2 array, v2 group, any folder name
        store = tmp_path / f"store_{marker.strip('.')}"
        store.mkdir()
        (store / marker).write_text("{}")
        assert array_kind(store) == "zarr"
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(ValueError, match="unsupported array file"):
        array_kind(plain)


@pytest.mark.parametrize("law", ["marshall-palmer", "hko7", "germany"])
def test_rain_transform_round_trips_with_exact_dry_zeros(law):

    n = Normalizer.rain(law, threshold=0.1)
    rates = np.array([0.0, 1e-4, 0.05, 0.0999, 0.1, 0.3, 1.0, 7.5, 44.44, 150.0])
    for back in (
        n.inverse(n.transform(rates[:, None, None]))[:, 0, 0],
        n.inverse(torch.from_numpy(n.transform(rates[:, None, None])))[:, 0, 0].numpy(),
        Normalizer.from_dict(json.loads(json.dumps(n.to_dict()))).inverse(
            n.transform(rates[:, None, None])
        )[:, 0, 0],
    ):
        dry = rates < 0.1
        assert (back[dry] == 0.0).all()  # every value below the threshold is exactly dry
        np.testing.assert_allclose(back[~dry], rates[~dry], rtol=1e-4)
    # a forecast pixel anywhere below the threshold's pixel is exactly 0 mm/h, never 0.009
    pixels = np.linspace(0.0, n.dry_pixel() * 0.999, 50, dtype=np.float32)
    assert (n.inverse(pixels) == 0.0).all()
    assert Normalizer.rain(law).inverse(np.float32(0.0)) == 0.0  # no threshold: 0 -> 0 exactly


def test_arrays_rain_threshold_is_a_data_option(tmp_path):
    rain = np.full((8, 4, 4), 0.05, dtype=np.float32)
    rain[:, 0, 0] = 3.0
    np.save(tmp_path / "r.npy", rain)
    ds = get_dataset("arrays", tmp_path / "r.npy", "train", normalize="rain", seq_len=4)
    assert ds.normalizer.threshold == 0.1 and float(ds[0][0, 0, 1, 1]) == 0.0
    ds = get_dataset(
        "arrays", tmp_path / "r.npy", "train", normalize="rain", rain_threshold=0.01, seq_len=4
    )
    assert float(ds[0][0, 0, 1, 1]) > 0.0
