"""Augmentation of training windows: flips, 90-degree rotations, crops; seeded, training split only."""

import numpy as np
import pytest

from convrnn.data.arrays import ArraySequences
from convrnn.data.augment import Augmentation
from convrnn.errors import ConfigError
from convrnn.train.datamodule import ResumableSampler


def _dihedral(x):
    """The 8 flips/rotations of (T, C, H, W) frames."""
    out = []
    for k in range(4):
        r = np.rot90(x, k, axes=(-2, -1))
        out += [r, r[..., ::-1]]
    return out


def test_one_transform_for_the_whole_window_and_seeded_draws():
    frames = np.random.default_rng(0).random((5, 1, 8, 8)).astype(np.float32)
    aug = Augmentation.from_options("flip+rot90", None, seed=3)
    seen = set()
    for epoch in range(12):
        out = aug.random(frames, epoch, 7)
        matches = [k for k, d in enumerate(_dihedral(frames)) if np.array_equal(out, d)]
        assert matches  # every frame got the same one of the 8 transforms
        assert np.array_equal(out, aug.random(frames, epoch, 7))  # the same draw again
        seen.add(matches[0])
    assert len(seen) > 2  # the epochs draw different transforms


def test_random_crops_inside_the_frame_and_centre_crop():
    frames = np.arange(2 * 1 * 10 * 12, dtype=np.float32).reshape(2, 1, 10, 12)
    aug = Augmentation.from_options("none", [4, 6])
    out = aug.random(frames, 0, 0)
    assert out.shape == (2, 1, 4, 6)
    top, left = divmod(int(out[0, 0, 0, 0]), 12)
    assert np.array_equal(out, frames[..., top : top + 4, left : left + 6])
    assert np.array_equal(aug.centre(frames), frames[..., 3:7, 3:9])


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="augment='mirror'"):
        Augmentation.from_options("mirror", None)
    with pytest.raises(ConfigError, match="larger than"):
        Augmentation.from_options("flip", 32).check_frames(16, 16)
    with pytest.raises(ConfigError, match="square"):
        Augmentation.from_options("rot90", None).check_frames(16, 24)
    assert Augmentation.from_options("rot90", 16).check_frames(16, 24) == (16, 16)


def test_arrays_dataset_augments_training_only(tmp_path):
    path = tmp_path / "series.npy"
    np.save(path, np.random.default_rng(1).random((60, 12, 16)).astype(np.float32))
    opts = {"input_length": 2, "output_length": 2, "augment": "flip", "crop": 8}
    train = ArraySequences(path, "train", **opts)
    val = ArraySequences(path, "val", normalizer=train.normalizer, **opts)
    plain = ArraySequences(
        path, "val", normalizer=train.normalizer, input_length=2, output_length=2
    )
    assert train.info.frame_size == (8, 8) and train.info.options["augment"] == "flip"
    assert any("augmentation" in n for n in train.summary())
    n = len(train)
    assert train[0].shape == (4, 1, 8, 8)
    # a later epoch's draw of window 0 is a crop of the same window
    later = train[3 * n].numpy()
    full = train.read_window(train.windows[0])
    crops = [
        np.ascontiguousarray(f[..., i : i + 8, j : j + 8])
        for f in (full, full[..., ::-1], full[..., ::-1, :], full[..., ::-1, ::-1])
        for i in range(5)
        for j in range(9)
    ]
    assert any(np.array_equal(later, c) for c in crops)
    # validation: the centre crop, never flipped, and no epoch indices
    assert np.array_equal(val[0].numpy(), plain[0].numpy()[..., 2:10, 4:12])
    assert not val.epoch_indexed and train.epoch_indexed
    with pytest.raises(IndexError):
        val[len(val)]


def test_epoch_indexed_sampler_resumes_the_same_stream():
    full = ResumableSampler(5, seed=1, epoch_indexed=True)
    stream = [i for i, _ in zip(full, range(12), strict=False)]
    assert sorted(stream[:5]) == [0, 1, 2, 3, 4] and sorted(stream[5:10]) == [5, 6, 7, 8, 9]
    plain = ResumableSampler(5, seed=1)
    assert [i % 5 for i in stream] == [i for i, _ in zip(plain, range(12), strict=False)]
    resumed = ResumableSampler(5, seed=1, start=7, epoch_indexed=True)
    assert [i for i, _ in zip(resumed, range(5), strict=False)] == stream[7:12]
