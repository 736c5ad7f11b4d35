"""Coverage masks: NaN is "not observed", never rain or zero, in the loss and in every score."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from convrnn.data.coverage import blank_unobserved, split_coverage, window_coverage
from convrnn.metrics import ContingencyTable, FrameMetrics, NowcastMetrics
from convrnn.metrics.continuous import ContinuousScores
from convrnn.train.losses import frame_loss


def _with_gaps(seed: int = 0, shape=(2, 4, 1, 8, 8)):
    g = torch.Generator().manual_seed(seed)
    frames = torch.rand(shape, generator=g)
    frames[:, :, :, :2, :] = float("nan")  # two rows outside coverage
    return frames


@pytest.mark.parametrize("reduction", ["frame-sum", "mean"])
@pytest.mark.parametrize("kind", ["l2", "l1", "l1+l2"])
def test_loss_uses_observed_pixels_only_and_stays_finite(kind, reduction):
    target = _with_gaps()
    pred = torch.rand(target.shape, requires_grad=True)
    _, seen = split_coverage(target)
    loss = frame_loss(pred, target, kind, reduction, seen)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pred.grad).all()
    assert (pred.grad[:, :, :, :2] == 0).all()  # unobserved pixels teach nothing
    # the same loss as on the observed rows alone
    kept = frame_loss(pred[..., 2:, :].detach(), target[..., 2:, :], kind, reduction)
    torch.testing.assert_close(loss.detach(), kept)
    # without gaps the mask changes nothing
    full = torch.rand(target.shape)
    ones = torch.ones_like(full, dtype=torch.bool)
    torch.testing.assert_close(
        frame_loss(pred, full, kind, reduction, ones), frame_loss(pred, full, kind, reduction)
    )


def test_split_fill_and_blank():
    frames = _with_gaps()
    filled, seen = split_coverage(frames)
    assert not torch.isnan(filled).any() and (filled[:, :, :, :2] == 0).all()
    assert seen is not None and not seen[:, :, :, :2].any()
    clean = torch.rand(1, 2, 1, 4, 4)
    assert split_coverage(clean)[1] is None and split_coverage(clean)[0] is clean
    inputs = torch.rand(1, 3, 1, 4, 4)
    inputs[:, :2, :, 0, 0] = float("nan")  # seen once: kept
    inputs[:, :, :, 1, 1] = float("nan")  # never seen: NaN in the forecast
    out = blank_unobserved(torch.zeros(1, 5, 1, 4, 4), inputs)
    assert torch.isnan(out[:, :, :, 1, 1]).all() and torch.isnan(out).sum() == 5
    assert window_coverage(~torch.isnan(inputs)).shape == (1, 1, 1, 4, 4)


def test_frame_metrics_with_a_mask_equal_the_metrics_of_the_observed_pixels():
    truth = _with_gaps(1)
    pred = torch.rand(truth.shape)
    mask = ~torch.isnan(truth)
    masked = FrameMetrics(ssim=False)
    masked.update(pred, truth, mask)
    cropped = FrameMetrics(ssim=False)
    cropped.update(pred[..., 2:, :], truth[..., 2:, :])
    a, b = masked.compute(), cropped.compute()
    assert a["mse"] == pytest.approx(b["mse"]) and a["mae"] == pytest.approx(b["mae"])
    assert a["psnr"] == pytest.approx(b["psnr"])
    with pytest.raises(ValueError, match="NaN"):
        FrameMetrics(ssim=False).update(pred, truth)  # NaN without a mask is a mistake


def test_nowcast_scores_leave_unobserved_pixels_out():
    truth = _with_gaps(2)
    pred = torch.rand(truth.shape)
    mask = (~torch.isnan(truth)).numpy()
    full = NowcastMetrics((0.5, 2.0))
    full.update(pred, truth, mask)
    crop = NowcastMetrics((0.5, 2.0))
    crop.update(pred[..., 2:, :], truth[..., 2:, :])
    a, b = full.compute(), crop.compute()
    assert a["counts"] == b["counts"] and a["b_mse"] == pytest.approx(b["b_mse"])


def test_physical_scores_match_pysteps_on_the_observed_pixels():
    pytest.importorskip("pysteps")
    from pysteps.verification import det_cat_fct, det_cont_fct

    rng = np.random.default_rng(3)
    obs = np.round(rng.gamma(0.6, 3.0, (3, 2, 1, 12, 12)), 2) + 0.005  # never on a threshold
    fc = np.round(rng.gamma(0.6, 3.0, obs.shape), 2) + 0.005
    obs[rng.random(obs.shape) < 0.3] = 0.0
    mask = np.ones((*obs.shape[:1], 1, *obs.shape[2:]), dtype=bool)
    mask[..., :3, :] = False
    obs = np.where(np.broadcast_to(mask, obs.shape), obs, np.nan)
    cont, cat = ContinuousScores(), ContingencyTable((0.5, 1.0, 5.0))
    cont.update(fc, obs, mask)
    cat.update(fc, obs, mask)
    ours, table = cont.compute(), cat.compute()
    for t in range(obs.shape[1]):
        o = obs[:, t][np.broadcast_to(mask[:, 0], obs[:, t].shape)]
        f = fc[:, t][np.broadcast_to(mask[:, 0], fc[:, t].shape)]
        ref = det_cont_fct(f, o, scores=["MAE", "RMSE", "ME"])
        assert ours["mae_per_frame"][t] == pytest.approx(ref["MAE"])
        assert ours["rmse_per_frame"][t] == pytest.approx(ref["RMSE"])
        assert ours["me_per_frame"][t] == pytest.approx(ref["ME"])
        for thr in (0.5, 1.0, 5.0):  # no value sits on a threshold: >= and > agree
            ref = det_cat_fct(f, o, thr=thr, scores=["CSI", "POD", "FAR", "HSS"])
            for name in ("csi", "pod", "far", "hss"):
                assert table[f"{name}_per_frame"][thr][t] == pytest.approx(ref[name.upper()])
