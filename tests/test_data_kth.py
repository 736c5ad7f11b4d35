import importlib.util
import shutil

import numpy as np
import pytest
from PIL import Image

from convrnn.data import DatasetError, MissingDataError, check_dataset, get_dataset
from convrnn.data import video as video_module
from tests.fixtures.kth import HAS_AV, H, W, write_avi_clip, write_png_clip


@pytest.fixture(scope="module")
def avi_clips(tmp_path_factory):
    """The two .avi clips, encoded once per module (encoding dominates the fixture's time)."""
    if not HAS_AV:
        pytest.skip("PyAV not installed")
    root = tmp_path_factory.mktemp("avi")
    write_avi_clip(root, "jogging", "person17_jogging_d2", 35)
    write_avi_clip(root, "running", "person02_running_d1", 25)
    return root


@pytest.fixture
def kth_root(tmp_path, avi_clips):
    root = tmp_path / "kth"
    write_png_clip(root, "boxing", "person01_boxing_d1", 40)
    write_png_clip(root, "boxing", "person16_boxing_d1", 30)
    write_png_clip(root, "walking", "person20_walking_d1", 50)
    shutil.copytree(avi_clips, root, dirs_exist_ok=True)
    lists = root / "kth_txt"
    lists.mkdir()
    (lists / "train_data_list_trimmed.txt").write_text(
        "person01_boxing_d1 1 40\nperson02_running_d1 5 30\nperson16_boxing_d1 1 30\n"
    )
    (lists / "test_data_list_trimmed.txt").write_text(
        "person17_jogging_d2 1 35\nperson20_walking_d1 1 50\n"
    )
    return root


def opts(tmp_path, **kw):
    return {"size": 8, "cache_dir": tmp_path / "cache", **kw}


@pytest.mark.slow
def test_ms_rnn_protocol_windows_by_hand(kth_root, tmp_path):
    train = get_dataset("kth", kth_root, "train", **opts(tmp_path))
    # person01 boxing 1..40, stride 1, windows of 20: starts 1..21; person02 running 5..25 (list says 30,
    # the video has 25 frames): starts 5, 6; person16 is the validation person
    assert [(train.clips[w.source].name, w.start) for w in train.windows][:2] == [
        ("person01_boxing_d1", 1),
        ("person01_boxing_d1", 2),
    ]
    assert len(train) == 21 + 2
    assert any("clamped" in n and "person02_running_d1 5-30" in n for n in train.summary())
    val = get_dataset("kth", kth_root, "val", **opts(tmp_path))
    assert [(val.clips[w.source].name, w.start, w.length) for w in val.windows] == [
        ("person16_boxing_d1", 1, 20)
    ]
    test = get_dataset("kth", kth_root, "test", **opts(tmp_path))
    # seq 30: jogging stride 3 -> starts 1, 4; walking stride 20 -> starts 1, 21
    assert [(test.clips[w.source].action, w.start) for w in test.windows] == [
        ("jogging", 1),
        ("jogging", 4),
        ("walking", 1),
        ("walking", 21),
    ]
    assert test[0].shape == (30, 1, 8, 8)


@pytest.mark.slow
def test_ms_lstm_protocol(kth_root, tmp_path):
    train = get_dataset("kth", kth_root, "train", **opts(tmp_path, protocol="ms-lstm"))
    assert [(train.clips[w.source].action, w.start) for w in train.windows] == [
        ("running", 5)
    ]  # stride 3
    test = get_dataset("kth", kth_root, "test", **opts(tmp_path, protocol="ms-lstm"))
    assert [w.start for w in test.windows] == [
        1,
        11,
        1,
        11,
        21,
        31,
    ]  # jogging 1..35, walking 1..50, stride 10
    assert test[0].shape == (20, 1, 8, 8)
    assert (
        get_dataset("kth", kth_root, "test", cache_dir=tmp_path / "c", protocol="ms-lstm")[0].shape[
            -1
        ]
        == 128
    )


def test_frames_from_png_and_avi_hold_the_right_values(kth_root, tmp_path):
    train = get_dataset("kth", kth_root, "train", **opts(tmp_path))
    x = train[1].numpy()  # boxing frames 2..21 (PNG)
    np.testing.assert_allclose(x[:, 0, 0, 0], np.arange(2, 22) * 5 / 255, rtol=1e-6)
    assert x.min() >= 0 and x.max() <= 1 and x.dtype == np.float32
    run = train[21].numpy()  # running frames 5..24 (AVI, lossless)
    np.testing.assert_allclose(run[:, 0, 3, 3], np.arange(5, 25) * 5 / 255, rtol=1e-6)
    assert list((tmp_path / "cache" / "8x8").glob("*.npy"))  # decoded once, cached


def test_resize_stretches_to_a_square_bilinearly(kth_root, tmp_path):
    folder = kth_root / "boxing" / "person01_boxing_d1"
    img = np.zeros((H, W), np.uint8)
    img[:, W // 2 :] = 200
    Image.fromarray(img).save(folder / "1.png")
    x = get_dataset("kth", kth_root, "train", **opts(tmp_path))[0].numpy()[0, 0]
    assert x.shape == (8, 8)
    np.testing.assert_allclose(x[:, 0], 0.0)
    np.testing.assert_allclose(x[:, -1], 200 / 255, rtol=1e-6)


def test_missing_clip_and_leaking_lists_are_errors(kth_root, tmp_path):
    lists = kth_root / "kth_txt"
    (lists / "test_data_list_trimmed.txt").write_text("person21_running_d1 1 30\n")
    with pytest.raises(MissingDataError, match=r"running/person21_running_d1_uncomp\.avi"):
        get_dataset("kth", kth_root, "test", **opts(tmp_path))
    (lists / "train_data_list_trimmed.txt").write_text("person18_boxing_d1 1 30\n")
    with pytest.raises(DatasetError, match="person 18"):
        get_dataset("kth", kth_root, "train", **opts(tmp_path))
    (lists / "train_data_list_trimmed.txt").write_text("person01_boxing_d1 1\n")
    with pytest.raises(DatasetError, match=r"train_data_list_trimmed\.txt:1"):
        get_dataset("kth", kth_root, "train", **opts(tmp_path))


def test_without_lists_every_frame_is_used_with_a_warning(kth_root, tmp_path):
    for p in (kth_root / "kth_txt").iterdir():
        p.unlink()
    with pytest.warns(UserWarning, match="no KTH train clip list"):
        train = get_dataset("kth", kth_root, "train", **opts(tmp_path))
    assert len(train) == 21 + 6  # boxing 1..40 and running 1..25, stride 1


def test_broken_frames_name_the_file(kth_root, tmp_path):
    folder = kth_root / "boxing" / "person01_boxing_d1"
    (folder / "3.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    train = get_dataset("kth", kth_root, "train", **opts(tmp_path))
    with pytest.raises(DatasetError, match=r"person01_boxing_d1/3\.png"):
        train[0]
    (folder / "7.png").unlink()
    with pytest.raises(DatasetError, match=r"frames \[7\] of 1..40 are missing"):
        get_dataset("kth", kth_root, "train", **opts(tmp_path))


def test_avi_without_pyav_names_the_extra(kth_root, tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        video_module.importlib.util, "find_spec", lambda n, *a: None if n == "av" else real(n, *a)
    )
    with pytest.raises(ImportError, match=r"convrnn\[video\]"):
        get_dataset("kth", kth_root, "test", **opts(tmp_path))


@pytest.mark.slow
def test_check_reports_counts_and_missing_clips(kth_root, tmp_path):
    report = check_dataset("kth", kth_root, **opts(tmp_path))
    assert report.ok, str(report)
    text = str(report)
    assert "[train] 23 windows" in text and "[test] 4 windows" in text and "(20, 1, 8, 8)" in text
    (kth_root / "walking" / "person20_walking_d1" / "9.png").unlink()
    bad = check_dataset("kth", kth_root, **opts(tmp_path))
    assert not bad.ok and "frames [9] of 1..50 are missing" in str(bad)
    assert bad.splits["train"].error is None


@pytest.mark.slow
def test_quick_check_says_what_it_read_and_deep_check_reads_every_window(kth_root, tmp_path):
    # train: person01 boxing starts 1..21 (windows 0..20), then person02 running (AVI, windows 21, 22);
    # frame 30 of person01 is only in windows 10..20, so the quick check never opens it
    folder = kth_root / "boxing" / "person01_boxing_d1"
    (folder / "30.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    quick = check_dataset("kth", kth_root, **opts(tmp_path))
    text = str(quick)
    assert quick.ok, text
    assert "read only the first and last window of each split" in text and "--deep" in text
    assert "[train] 23 windows (2 read)" in text
    deep = check_dataset("kth", kth_root, deep=True, **opts(tmp_path))
    text = str(deep)
    assert not deep.ok and "read every window of each split" in text
    error = deep.splits["train"].error
    assert "11 of 23 windows could not be read" in error and "window 10: " in error
    assert "person01_boxing_d1/30.png" in error
    assert deep.splits["val"].error is None and deep.splits["test"].read == 4
    with pytest.raises(TypeError, match="deep must be True or False"):
        check_dataset("kth", kth_root, deep="yes", **opts(tmp_path))


def test_a_frame_of_another_size_names_the_file(kth_root, tmp_path):
    folder = kth_root / "boxing" / "person01_boxing_d1"
    Image.fromarray(np.zeros((H + 2, W), np.uint8)).save(folder / "5.png")
    train = get_dataset("kth", kth_root, "train", **opts(tmp_path))
    with pytest.raises(
        DatasetError, match=r"person01_boxing_d1/5\.png: frame is 16x14 .*expected 16x12"
    ):
        train[0]
    assert train[5].shape == (20, 1, 8, 8)  # frames 6..25 are all 16x12
    Image.fromarray(np.zeros((H, W + 4), np.uint8)).save(folder / "1.png")
    with pytest.raises(DatasetError, match=r"6\.png: frame is 16x12 .*expected 20x12 like frame 1"):
        get_dataset("kth", kth_root, "train", **opts(tmp_path))[5]


@pytest.mark.slow
def test_cli_deep_check_names_a_bad_frame_the_quick_check_misses(kth_root, tmp_path, capsys):
    from convrnn.cli import main

    (kth_root / "boxing" / "person01_boxing_d1" / "30.png").write_bytes(b"\x89PNG\r\n\x1a\n bad")
    sets = [a for k, v in opts(tmp_path).items() for a in ("--set", f"{k}={v}")]
    assert main(["data", "check", "kth", str(kth_root), *sets]) == 0
    assert main(["data", "check", "kth", str(kth_root), *sets, "--deep"]) == 1
    assert "person01_boxing_d1/30.png" in capsys.readouterr().out
