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


def test_metric_errors_are_input_errors():
    from convrnn.errors import InputError
    from convrnn.metrics import NowcastMetrics

    with pytest.raises(InputError, match=r"pred must have shape \(N, T, C, H, W\)"):
        FrameMetrics().update(np.zeros((2, 3, 4, 4)), np.zeros((2, 3, 4, 4)))
    for metric in (FrameMetrics(), NowcastMetrics()):
        metric.update(np.zeros((1, 2, 1, 8, 8)), np.zeros((1, 2, 1, 8, 8)))
        with pytest.raises(InputError, match="batch has 3 frames, earlier batches had 2"):
            metric.update(np.zeros((1, 3, 1, 8, 8)), np.zeros((1, 3, 1, 8, 8)))
    with pytest.raises(InputError, match="at least 7x7"):
        FrameMetrics().update(np.zeros((1, 2, 1, 4, 4)), np.zeros((1, 2, 1, 4, 4)))
    with pytest.raises(InputError, match="no data"):
        NowcastMetrics().compute()


def test_metrics_are_torchmetrics_with_summed_states():
    from torchmetrics import Metric

    from convrnn.metrics import ContingencyTable, NowcastMetrics

    for metric in (FrameMetrics(), NowcastMetrics(), ContingencyTable([0.5])):
        assert isinstance(metric, Metric)
        assert all(fx.__name__ == "dim_zero_sum" for fx in metric._reductions.values())
    acc = FrameMetrics()
    acc.update(np.zeros((1, 2, 1, 8, 8)), np.ones((1, 2, 1, 8, 8)))
    acc.reset()  # back to no frames: a batch of another length is welcome
    acc.update(np.zeros((2, 3, 1, 8, 8)), np.zeros((2, 3, 1, 8, 8)))
    assert acc.compute()["mse_per_frame"] == [0.0, 0.0, 0.0] and acc.compute()["num_sequences"] == 2


def _sharded_scores(rank, world, init_file, splits, pred, true, out):
    import pickle

    from convrnn.metrics import NowcastMetrics

    torch.distributed.init_process_group(
        "gloo", init_method=f"file://{init_file}", rank=rank, world_size=world
    )
    results = []
    try:
        for split in splits:  # sequences [0, split) on rank 0, the rest on rank 1
            mine = slice(0, split) if rank == 0 else slice(split, None)
            frame, nowcast = FrameMetrics(), NowcastMetrics()
            if len(pred[mine]):  # a process may score no sequence at all
                frame.update(pred[mine], true[mine])
                nowcast.update(pred[mine], true[mine])
            results.append((frame.compute(), nowcast.compute()))
    finally:
        torch.distributed.destroy_process_group()
    (out / f"{rank}.pkl").write_bytes(pickle.dumps(results))


@pytest.mark.slow
def test_sharded_scores_equal_one_process_scores(tmp_path):
    import pickle

    import torch.multiprocessing as mp

    from convrnn.metrics import NowcastMetrics

    rng = np.random.default_rng(4)
    true = rng.random((5, 3, 1, 16, 16)).astype(np.float32)
    pred = np.clip(true + rng.normal(0, 0.2, true.shape), -0.1, 1.1).astype(np.float32)
    splits = (3, 5)  # 3 + 2 sequences, then 5 + 0
    mp.spawn(_sharded_scores, args=(2, tmp_path / "init", splits, pred, true, tmp_path), nprocs=2)
    frame, nowcast = FrameMetrics(), NowcastMetrics()
    frame.update(pred, true)
    nowcast.update(pred, true)
    one = (frame.compute(), nowcast.compute())
    for rank in range(2):
        for got in pickle.loads((tmp_path / f"{rank}.pkl").read_bytes()):
            for k in ("mse", "mae", "psnr", "ssim"):
                assert got[0][k] == pytest.approx(one[0][k], rel=1e-12)
                np.testing.assert_allclose(
                    got[0][f"{k}_per_frame"], one[0][f"{k}_per_frame"], rtol=1e-12
                )
            assert got[0]["num_sequences"] == 5 and got[1]["num_sequences"] == 5
            assert got[1]["counts"] == one[1]["counts"] and got[1]["csi"] == one[1]["csi"]
            assert got[1]["b_mse"] == pytest.approx(one[1]["b_mse"], rel=1e-12)
