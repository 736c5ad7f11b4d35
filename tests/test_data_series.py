"""Several series of different lengths: windowed one by one, split by whole series or by time."""

import h5py
import numpy as np
import pytest

from convrnn.cli import main
from convrnn.data import DatasetError, check_dataset, get_dataset

LENGTHS = {"a": 92, "b": 40, "c": 40}
SCALE = 4000.0  # frame t of series number s holds 1000 * s + t everywhere


def series(s: int, t: int, size: int = 8) -> np.ndarray:
    """Series number ``s`` of ``t`` frames: frame ``i`` is filled with ``1000 * s + i``."""
    values = 1000.0 * s + np.arange(t, dtype=np.float32)
    return np.broadcast_to(values[:, None, None], (t, size, size)).copy()


@pytest.fixture
def events(tmp_path):
    """A folder of three series files of 92, 40 and 40 frames (8x8), and a note that is no array."""
    folder = tmp_path / "events"
    folder.mkdir()
    for s, (name, t) in enumerate(LENGTHS.items(), start=1):
        np.save(folder / f"{name}.npy", series(s, t))
    (folder / "README.txt").write_text("three events")
    return folder


OPTS = {"input_length": 4, "output_length": 12, "normalize": "range", "value_range": (0, SCALE)}


def decoded(ds, i):
    """Window ``i`` back in raw values: one (series, frame) per frame of the window."""
    x = ds[i].numpy()[:, 0] * SCALE
    assert np.allclose(x, x[:, :1, :1], atol=1e-2)  # every pixel of a frame holds one value
    raw = np.round(x[:, 0, 0]).astype(int)
    return raw // 1000, raw % 1000


def test_a_folder_of_series_is_windowed_per_series_and_split_by_whole_series(events):
    splits = {s: get_dataset("arrays", events, s, **OPTS) for s in ("train", "val", "test")}
    # 92 - 16 + 1 windows in the first series; 40 - 16 + 1 in each of the others
    assert [len(splits[s]) for s in ("train", "val", "test")] == [77, 25, 25]
    seen = {}
    for split, ds in splits.items():
        for i in range(len(ds)):
            ids, frames = decoded(ds, i)
            assert len(set(ids)) == 1, f"{split} window {i} crosses series {set(ids)}"
            assert list(frames) == list(range(frames[0], frames[0] + 16))  # consecutive frames
            seen.setdefault(split, set()).add(int(ids[0]))
    assert seen == {"train": {1}, "val": {2}, "test": {3}}  # whole series, in name order
    notes = "\n".join(splits["train"].summary())
    assert "a.npy: 92 frames (train)" in notes and "c.npy: 40 frames (test)" in notes
    assert "not arrays, skipped: README.txt" in notes


def test_minmax_is_fitted_on_the_training_series_only(events):
    train = get_dataset("arrays", events, "train", input_length=4, output_length=12)
    assert "(92 frames)" in train.normalizer.fitted_on
    assert train.normalizer.inverse(np.ones(1)) == pytest.approx(1091)  # max of series a


def test_split_by_time_cuts_every_series_and_no_validation_frame_is_trained_on(events):
    opts = {**OPTS, "input_length": 2, "output_length": 2, "split_by": "time"}
    frames = {}
    for split in ("train", "val", "test"):
        ds = get_dataset("arrays", events, split, **opts)
        for i in range(len(ds)):
            ids, fr = decoded(ds, i)
            assert len(set(ids)) == 1
            frames.setdefault(split, set()).update(zip(ids.tolist(), fr.tolist(), strict=True))
    assert not frames["train"] & frames["val"] and not frames["train"] & frames["test"]
    assert not frames["val"] & frames["test"]
    # every series gives validation windows: a [74, 83), b and c [32, 36)
    assert {s for s, _ in frames["val"]} == {1, 2, 3}
    assert max(f for s, f in frames["train"] if s == 2) == 31


def test_too_few_series_and_frames_of_other_sizes_are_named(tmp_path, events):
    (events / "c.npy").unlink()
    with pytest.raises(DatasetError, match=r"2 series cannot be split.*split_by='time'"):
        get_dataset("arrays", events, "train", **OPTS)
    np.save(events / "c.npy", np.zeros((40, 16, 16), np.float32))
    with pytest.raises(
        DatasetError, match=r"c\.npy has frames \(1, 16, 16\).*a\.npy has \(1, 8, 8\)"
    ):
        get_dataset("arrays", events, "train", **OPTS)
    # with size= every series is resized to one size, so they may differ
    assert len(get_dataset("arrays", events, "train", size=8, **OPTS)) == 77


def test_a_list_a_glob_and_ragged_containers_are_series_sets(tmp_path, events):
    files = sorted(events.glob("*.npy"))
    as_list = get_dataset("arrays", [str(f) for f in files], "val", **OPTS)
    as_glob = get_dataset("arrays", str(events / "*.npy"), "val", **OPTS)
    np.savez(
        tmp_path / "ragged.npz", **{n: series(s, t) for s, (n, t) in enumerate(LENGTHS.items(), 1)}
    )
    as_npz = get_dataset("arrays", tmp_path / "ragged.npz", "val", key="*", **OPTS)
    with h5py.File(tmp_path / "ragged.h5", "w") as f:
        for s, (name, t) in enumerate(LENGTHS.items(), start=1):
            f.create_dataset(f"events/{name}", data=series(s, t))
        f.create_dataset("mask", data=np.ones((8, 8)))
    as_group = get_dataset("arrays", tmp_path / "ragged.h5", "val", key="events", **OPTS)
    for ds in (as_list, as_glob, as_npz, as_group):
        assert len(ds) == 25 and set(decoded(ds, 0)[0]) == {2}
    with pytest.raises(DatasetError, match="key='\\*'"):
        get_dataset("arrays", tmp_path / "ragged.npz", "train", **OPTS)


def test_split_folders_of_series_carve_validation_without_overlap(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "test").mkdir()
    np.save(tmp_path / "train" / "e1.npy", series(1, 30))
    np.save(tmp_path / "train" / "e2.npy", series(2, 25))
    np.save(tmp_path / "test" / "e3.npy", series(3, 12))
    opts = {**OPTS, "input_length": 3, "output_length": 3, "val_fraction": 0.2}
    train = get_dataset("arrays", tmp_path, "train", **opts)
    val = get_dataset("arrays", tmp_path, "val", **opts)
    test = get_dataset("arrays", tmp_path, "test", **opts)
    val_frames = {(s, f) for i in range(len(val)) for s, f in zip(*decoded(val, i), strict=True)}
    for i in range(len(train)):
        ids, fr = decoded(train, i)
        assert len(set(ids)) == 1
        assert not {(s, f) for s, f in zip(ids, fr, strict=True)} & val_frames
    assert len(test) == 7 and set(decoded(test, 0)[0]) == {3}


def test_window_errors_name_the_lengths(tmp_path):
    (tmp_path / "pre").mkdir()
    np.save(tmp_path / "pre" / "train.npy", np.zeros((5, 16, 1, 4, 4), np.float32))
    report = check_dataset("arrays", tmp_path / "pre")  # 16-frame sequences, default 10 -> 10
    text = str(report)
    assert "the longest series in it has 16 frames" in text
    assert "input_length + output_length = 10 + 10 = 20 needs 20 frames" in text
    assert "cannot carve" not in text
    np.save(tmp_path / "one.npy", np.zeros((18, 4, 4), np.float32))
    with pytest.raises(DatasetError, match=r"has 14 frames.*= 8 \+ 8 = 16 needs 16"):
        get_dataset("arrays", tmp_path / "one.npy", "train", input_length=8, output_length=8)


def test_data_check_lists_each_series_with_its_frames(events, capsys):
    args = ["data", "check", "arrays", str(events), "--set", "input_length=4"]
    assert main([*args, "--set", "output_length=12"]) == 0
    out = capsys.readouterr().out
    for name, frames in LENGTHS.items():
        assert f"{name}.npy: {frames} frames" in out
    assert "[val] 25 windows" in out and "[test] 25 windows" in out


def test_a_folder_of_series_mixes_formats_and_sequences_can_be_series(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    with h5py.File(folder / "e1.h5", "w") as f:
        f.create_dataset("rain", data=series(1, 30))
    np.savez(folder / "e2.npz", rain=series(2, 20))
    np.save(folder / "e3.npy", series(3, 20))
    opts = {**OPTS, "input_length": 2, "output_length": 2}
    val = get_dataset("arrays", folder, "val", **opts)
    assert len(val) == 17 and set(decoded(val, 0)[0]) == {2}
    # an (N, T, ...) file with split_by: each sequence is one series
    np.save(tmp_path / "seqs.npy", np.stack([series(s, 10)[:, None] for s in (1, 2, 3)]))
    test = get_dataset("arrays", tmp_path / "seqs.npy", "test", split_by="series", **opts)
    assert len(test) == 7 and set(decoded(test, 0)[0]) == {3}
    assert "seqs.npy[2]: 10 frames (test)" in "\n".join(test.summary())
