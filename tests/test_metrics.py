import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from convrnn.metrics import FrameMetrics, evaluate, persistence


def reference(pred, true):
    """Direct, loop-by-loop computation of the conventions."""
    pred = np.clip(pred, 0, 1)
    n, t = pred.shape[:2]
    out = {k: np.zeros(t) for k in ("mse", "mae", "psnr", "ssim")}
    for i in range(n):
        for f in range(t):
            p, g = pred[i, f].astype(np.float64), true[i, f].astype(np.float64)
            out["mse"][f] += ((p - g) ** 2).sum() / n
            out["mae"][f] += np.abs(p - g).sum() / n
            p8, g8 = (pred[i, f] * 255).astype(np.uint8), (true[i, f] * 255).astype(np.uint8)
            mse8 = ((p8.astype(float) - g8.astype(float)) ** 2).mean()
            out["psnr"][f] += (20 * np.log10(255) - 10 * np.log10(mse8)) / n
            out["ssim"][f] += structural_similarity(g8[0], p8[0], data_range=255) / n
    return out


def test_evaluate_matches_definitions():
    rng = np.random.default_rng(0)
    true = rng.random((3, 4, 1, 16, 16)).astype(np.float32)
    pred = (true + rng.normal(0, 0.2, true.shape)).astype(np.float32)  # some values outside [0, 1]
    got = evaluate(pred, true)
    ref = reference(pred, true)
    for k in ref:
        np.testing.assert_allclose(got[f"{k}_per_frame"], ref[k], rtol=1e-6)
        assert got[k] == pytest.approx(ref[k].mean(), rel=1e-6)
    assert got["num_sequences"] == 3


def test_mse_is_a_per_frame_sum():
    true = np.zeros((2, 1, 1, 4, 4), np.float32)
    pred = np.full_like(true, 0.5)
    r = evaluate(pred, true, ssim=False)
    assert r["mse"] == pytest.approx(16 * 0.25) and r["mae"] == pytest.approx(16 * 0.5)
    assert r["psnr"] == pytest.approx(20 * np.log10(255) - 10 * np.log10(127.0**2))


def test_streaming_equals_one_shot_and_accepts_tensors():
    rng = np.random.default_rng(1)
    true = rng.random((5, 3, 1, 8, 8)).astype(np.float32)
    pred = rng.random((5, 3, 1, 8, 8)).astype(np.float32)
    acc = FrameMetrics()
    acc.update(torch.from_numpy(pred[:2]), torch.from_numpy(true[:2]))
    acc.update(pred[2:], true[2:])
    one = evaluate(pred, true)
    streamed = acc.compute()
    for k in ("mse", "mae", "psnr", "ssim"):
        assert streamed[k] == pytest.approx(one[k], rel=1e-9)


def test_multichannel_ssim():
    rng = np.random.default_rng(2)
    true = rng.random((1, 1, 3, 16, 16)).astype(np.float32)
    pred = rng.random((1, 1, 3, 16, 16)).astype(np.float32)
    p8, t8 = (pred[0, 0] * 255).astype(np.uint8), (true[0, 0] * 255).astype(np.uint8)
    ref = structural_similarity(t8, p8, data_range=255, channel_axis=0)
    assert evaluate(pred, true)["ssim"] == pytest.approx(ref)


def test_metric_errors():
    with pytest.raises(ValueError, match="shape"):
        evaluate(np.zeros((2, 3, 4, 4)), np.zeros((2, 3, 4, 4)))
    with pytest.raises(ValueError, match="differ"):
        evaluate(np.zeros((1, 2, 1, 8, 8)), np.zeros((1, 3, 1, 8, 8)))
    with pytest.raises(ValueError, match="no data"):
        FrameMetrics().compute()


def test_persistence_repeats_last_input():
    x = torch.rand(2, 3, 1, 4, 4)
    p = persistence(x, 4)
    assert p.shape == (2, 4, 1, 4, 4) and torch.equal(p[:, 2], x[:, -1])
    assert persistence(x.numpy(), 2).shape == (2, 2, 1, 4, 4)


def test_identical_frames_give_infinite_psnr_and_standard_json():
    import json

    from convrnn.metrics.frames import json_ready

    true = np.random.default_rng(3).random((2, 3, 1, 8, 8)).astype(np.float32)
    pred = true.copy()
    pred[:, 1] = 0.0  # frame 1 wrong in every sequence: finite PSNR there only
    got = evaluate(pred, true)
    assert got["psnr"] == float("inf")  # the papers' per-image definition, kept
    assert got["psnr_per_frame"][0] == float("inf") and np.isfinite(got["psnr_per_frame"][1])
    with pytest.raises(ValueError):
        json.dumps(got, allow_nan=False)
    report, non_finite = json_ready({"metrics": got, "extra": [np.float32("nan"), np.int64(2)]})
    text = json.dumps(report, allow_nan=False)
    back = json.loads(text)
    assert back["metrics"]["psnr"] is None and back["metrics"]["psnr_per_frame"][0] is None
    assert back["metrics"]["psnr_per_frame"][1] == pytest.approx(got["psnr_per_frame"][1])
    assert back["metrics"]["mse"] == got["mse"] and back["extra"] == [None, 2]
    assert non_finite == {"metrics.psnr": "inf", "metrics.psnr_per_frame": "inf", "extra": "nan"}
