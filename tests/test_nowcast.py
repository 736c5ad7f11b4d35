import importlib.util

import numpy as np
import pytest
import torch

import convrnn.metrics as metrics
from convrnn import units as R
from convrnn.metrics import (
    ContingencyTable,
    NowcastMetrics,
    baselines,
    categorical_scores,
    contingency_counts,
    nowcast_scores,
    optical_flow_forecast,
    persistence,
)

HAS_PYSTEPS = (
    importlib.util.find_spec("pysteps") is not None and importlib.util.find_spec("cv2") is not None
)


def frames(*rows):
    """(1, T, 1, 1, W) from per-frame lists of pixel values."""
    return np.asarray(rows, dtype=np.float64)[None, :, None, None, :]


def test_contingency_counts_by_hand_with_ge_event():
    # frame 0: pred/true pairs at threshold 2: (3,3) hit, (2,5) hit (2 >= 2), (1,2) miss, (2,0) false alarm,
    #          (0,0) correct negative, (1.99,1) correct negative
    # frame 1: (5,1) FA, (0,3) miss, (2,2) hit, (0,0) CN x3
    pred = frames([3, 2, 1, 2, 0, 1.99], [5, 0, 2, 0, 0, 0])
    true = frames([3, 5, 2, 0, 0, 1], [1, 3, 2, 0, 0, 0])
    c = contingency_counts(pred, true, [2.0, 4.0])
    np.testing.assert_array_equal(c[0], [[2, 1, 1, 2], [1, 1, 1, 3]])
    # threshold 4: frame 0: (2,5) miss; rest CN -> 0 hits, 1 miss, 0 FA, 5 CN
    #              frame 1: (5,1) FA; rest CN
    np.testing.assert_array_equal(c[1], [[0, 1, 0, 5], [0, 0, 1, 5]])


def test_scores_from_a_hand_table():
    s = categorical_scores(np.array([2, 1, 1, 4]))  # a hits, c misses, b false alarms, d negatives
    assert s["csi"] == pytest.approx(2 / 4)
    assert s["pod"] == pytest.approx(2 / 3)
    assert s["far"] == pytest.approx(1 / 3)
    assert s["hss"] == pytest.approx(2 * (2 * 4 - 1 * 1) / ((2 + 1) * (1 + 4) + (2 + 1) * (1 + 4)))


def test_hss_equals_the_hko_gss_form():
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, c, b, d = rng.integers(1, 1000, size=4).astype(float)
        n = a + b + c + d
        ar = (a + b) * (a + c) / n
        gss = (a - ar) / (a + b + c - ar)
        hss = categorical_scores(np.array([a, c, b, d]))["hss"]
        assert hss == pytest.approx(2 * gss / (1 + gss))


def test_undefined_scores_are_zero():
    s = categorical_scores(np.array([0, 0, 0, 10]))  # the event never happens
    assert all(float(s[k]) == 0.0 for k in ("csi", "pod", "far", "hss"))


def test_counts_are_pooled_over_the_test_set_not_averaged_per_batch():
    pred_a, true_a = frames([1, 1, 0, 0]), frames([1, 0, 0, 0])  # a=1, b=1
    pred_b, true_b = frames([1, 0, 0, 0]), frames([1, 1, 1, 1])  # a=1, c=3
    table = ContingencyTable([0.5])
    table.update(pred_a, true_a)
    table.update(torch.from_numpy(pred_b), torch.from_numpy(true_b))
    np.testing.assert_array_equal(table.counts[0, 0], [2, 3, 1, 2])
    assert table.compute()["csi"][0.5] == pytest.approx(2 / 6)  # pooled, not (1/2 + 1/4) / 2
    one = nowcast_scores(np.concatenate([pred_a, pred_b]), np.concatenate([true_a, true_b]), [0.5])
    assert one["csi"] == table.compute()["csi"]


def test_nowcast_scores_layout_per_frame_and_mean():
    pred = frames([1, 0], [1, 1])
    true = frames([1, 1], [1, 1])
    out = nowcast_scores(pred, true, [0.5])
    assert out["csi_per_frame"][0.5] == [0.5, 1.0]
    assert out["pod_per_frame"][0.5] == [0.5, 1.0]
    assert out["csi"][0.5] == pytest.approx(0.75)
    assert out["far"][0.5] == 0.0 and out["event"] == ">="
    assert out["counts"][0.5]["misses"] == [1, 0]
    assert set(out) >= {f"{k}{s}" for k in ("csi", "hss", "pod", "far") for s in ("", "_per_frame")}


def test_mask_excludes_pixels():
    pred, true = frames([1, 1, 0]), frames([1, 0, 1])
    mask = np.array([True, False, True]).reshape(1, 1, 1, 1, 3)
    c = contingency_counts(pred, true, [0.5], mask=mask)
    np.testing.assert_array_equal(c[0, 0], [1, 1, 0, 0])


def test_nan_inputs_are_refused():
    with pytest.raises(ValueError, match="NaN"):
        nowcast_scores(frames([np.nan, 1]), frames([1, 1]), [0.5])


@pytest.mark.skipif(not HAS_PYSTEPS, reason="pysteps not installed")
def test_counts_match_pysteps_away_from_ties_and_differ_on_ties():
    from pysteps.verification.detcatscores import det_cat_fct

    rng = np.random.default_rng(3)
    pred, true = rng.random((1, 3, 1, 16, 16)), rng.random((1, 3, 1, 16, 16))
    ours = nowcast_scores(pred, true, [0.4])
    for t in range(3):
        ref = det_cat_fct(
            pred[0, t, 0], true[0, t, 0], thr=0.4, scores=["CSI", "POD", "FAR", "HSS"]
        )
        for k in ("csi", "pod", "far", "hss"):
            assert ours[f"{k}_per_frame"][0.4][t] == pytest.approx(ref[k.upper()])
    tie = np.full(
        (1, 1, 1, 2, 2), 0.4
    )  # exactly on the threshold: an event for us, not for pysteps
    assert nowcast_scores(tie, tie, [0.4])["csi"][0.4] == 1.0
    assert det_cat_fct(tie[0, 0, 0], tie[0, 0, 0], thr=0.4, scores=["CSI"])["CSI"] != 1.0


def test_conversions_match_the_reference_tables():
    rates = np.array([0.5, 2, 5, 10, 30])
    np.testing.assert_allclose(
        R.rain_to_dbz(rates, R.HKO7_ZR), [12.98, 22.37, 28.58, 33.27, 40.72], atol=0.01
    )
    np.testing.assert_allclose(
        R.rain_to_pixel(rates, R.HKO7_ZR), [0.3283, 0.4624, 0.5511, 0.6182, 0.7245], atol=1e-4
    )
    np.testing.assert_allclose(
        R.rain_to_pixel(rates, R.GERMANY_ZR), [0.426, 0.548, 0.629, 0.690, 0.787], atol=1e-3
    )
    np.testing.assert_allclose(
        R.rain_to_dbz(rates, R.MARSHALL_PALMER_ZR), [18.19, 27.83, 34.19, 39.01, 46.64], atol=0.01
    )
    assert R.uint8_to_dbz(255) == pytest.approx(60.0) and R.pixel_to_dbz(0.0) == pytest.approx(
        -10.0
    )
    assert float(R.dbz_to_pixel(-30.0)) == 0.0 and float(R.dbz_to_pixel(90.0)) == 1.0
    x = np.linspace(0.05, 0.95, 7)
    for law in (R.HKO7_ZR, R.GERMANY_ZR, R.MARSHALL_PALMER_ZR):
        np.testing.assert_allclose(R.rain_to_pixel(R.pixel_to_rain(x, law), law), x, rtol=1e-12)
    t = torch.tensor([0.5, 2.0])
    assert isinstance(R.rain_to_pixel(t, R.HKO7_ZR), torch.Tensor)
    assert float(R.rain_to_pixel(0.0)) == 0.0  # no rain -> -inf dBZ -> pixel 0
    assert R.zr_law("germany") is R.GERMANY_ZR
    with pytest.raises(ValueError, match="unknown Z-R law"):
        R.zr_law("nope")


def test_nowcast_metrics_pixel_thresholds_and_balanced_errors_by_hand():
    m = NowcastMetrics(thresholds=(0.5, 5.0))
    p05, p5 = (float(R.rain_to_pixel(r, R.HKO7_ZR)) for r in (0.5, 5.0))
    assert m.pixel_thresholds == pytest.approx((p05, p5))
    # truth: one pixel just at 5 mm/h (weight 5), one at 1 mm/h (weight 1), one at 3 mm/h (weight 2)
    p1, p3 = float(R.rain_to_pixel(1.0, R.HKO7_ZR)), float(R.rain_to_pixel(3.0, R.HKO7_ZR))
    true = np.array([p5, p1, p3]).reshape(1, 1, 1, 1, 3)
    pred = np.array([p5 - 0.1, p1 + 0.1, 1.3]).reshape(1, 1, 1, 1, 3)  # the last is clipped to 1
    m.update(pred, true)
    m.update(pred, true)
    out = m.compute()
    errs = np.array([-0.1, 0.1, 1.0 - p3])
    w = np.array([5.0, 1.0, 2.0])
    assert out["b_mse"] == pytest.approx(float((w * errs**2).sum()))
    assert out["b_mae"] == pytest.approx(float((w * np.abs(errs)).sum()))
    # events at 0.5 mm/h: every truth pixel; predictions all >= 0.5 mm/h -> CSI 1
    assert out["csi"][0.5] == 1.0
    # at 5 mm/h: truth pixel 0 only (exactly on the threshold); pred pixel 2 (1.0): 1 miss, 1 FA per update
    assert out["counts"][5.0]["hits"] == [0] and out["counts"][5.0]["misses"] == [2]
    assert out["counts"][5.0]["false_alarms"] == [2] and out["num_sequences"] == 2


def test_exports():
    for name in ("nowcast_scores", "NowcastMetrics", "optical_flow_forecast"):
        assert hasattr(metrics, name)


def moving_blob(t_total=10, size=48):
    y, x = np.mgrid[0:size, 0:size]
    seq = [
        np.exp(-((y - 12 - 1.0 * t) ** 2 + (x - 10 - 2.0 * t) ** 2) / (2 * 4.0**2))
        for t in range(t_total)
    ]
    return np.stack(seq)[None, :, None].astype(np.float32)


@pytest.mark.skipif(not HAS_PYSTEPS, reason="pysteps not installed")
def test_optical_flow_beats_persistence_on_a_moving_blob(capsys):
    seq = moving_blob()
    inputs, target = seq[:, :5], seq[:, 5:]
    fc = optical_flow_forecast(inputs, 5)
    assert "Pysteps configuration" not in capsys.readouterr().out  # banner silenced
    assert fc.shape == target.shape and fc.dtype == np.float32
    assert fc.min() >= 0 and fc.max() <= 1
    err_flow = ((fc - target) ** 2).sum()
    err_pers = ((persistence(inputs, 5) - target) ** 2).sum()
    assert err_flow < 0.05 * err_pers
    t = optical_flow_forecast(torch.from_numpy(inputs), 2)
    assert isinstance(t, torch.Tensor) and t.shape == (1, 2, 1, 48, 48)


def test_optical_flow_without_pysteps_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        baselines.importlib.util, "find_spec", lambda n, *a: None if n == "pysteps" else real(n, *a)
    )
    with pytest.raises(ImportError, match=r"convrnn\[nowcast\]"):
        optical_flow_forecast(np.zeros((1, 3, 1, 8, 8)), 2)


def test_optical_flow_input_checks():
    if not HAS_PYSTEPS:
        pytest.skip("pysteps not installed")
    with pytest.raises(ValueError, match="at least 2"):
        optical_flow_forecast(np.zeros((1, 1, 1, 8, 8)), 2)
    with pytest.raises(ValueError, match=r"\(N, T_in, C, H, W\)"):
        optical_flow_forecast(np.zeros((3, 8, 8)), 2)
