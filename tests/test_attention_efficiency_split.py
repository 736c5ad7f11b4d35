"""benchmarks/attention_efficiency.py --split: where an attention model's step goes, and its floor."""

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import attention_efficiency  # a script beside the benchmarks, not a package


def row(
    model: str,
    gmacs: float,
    step_s: float,
    attention_gmacs: float,
    share: float,
    useful_gmacs: float | None = None,
) -> dict:
    return {
        "model": model,
        "gmacs": gmacs,
        "useful_gmacs": gmacs if useful_gmacs is None else useful_gmacs,
        "step_s": step_s,
        "s_per_gmac": step_s / gmacs,
        "attention_gmacs": attention_gmacs,
        "attention_share": share,
    }


def test_split_prints_the_attention_rate_and_the_floor_with_the_rest_at_convlstms_rate(capsys):
    rows = [
        row("convlstm", 100.0, 2.0, 0.0, 0.0),  # 0.02 s per GMAC
        # 2 s of attention, 2 s for the other 40 GMACs; queries and keys half the values' width:
        # padded forward 2v = 60, useful a + v = 45 (a = 15, v = 30), so 85 useful GMACs in all
        row("sa-convlstm", 100.0, 4.0, 60.0, 0.5, useful_gmacs=85.0),
        row("ms-convlstm", 10.0, 1.0, 0.0, 0.0),
    ]
    attention_efficiency.print_split(rows, peak_gflops=300.0)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3  # header, rule, and only the model with attention
    cells = [c.strip() for c in lines[-1].strip("|").split("|")]
    # 60 GMACs x 2 FLOPs x (1 + 2.5) over 2 s; rest 2 s / 40 GMACs = 0.05, 2.5x of 0.02;
    # floor: (2 s + 40 GMACs x 0.02 s) / 100 GMACs = 0.028 s per GMAC, 1.4x of 0.02;
    # ideal: 4a + 3v = 150 GMACs = 300 GFLOP at 300 GFLOP/s = 1 s, + 0.8 s, over 85 x 0.02 s
    assert cells == [
        "sa-convlstm", "60.0", "50%", "2.00", "210", "0.0500", "2.50x", "1.40x", "1.06x"
    ]  # fmt: skip


def test_unpadded_training_work_is_seven_products_of_the_right_widths():
    # a = 32, v = 64 (SA-ConvLSTM): padded 2v = 128, useful a + v = 96 -> 4a + 3v = 320
    assert attention_efficiency.unpadded_training_gmacs(128.0, 96.0) == 320.0
    # no padding (a = v): the fused kernel's 3.5 forwards
    assert attention_efficiency.unpadded_training_gmacs(128.0, 128.0) == 3.5 * 128.0


def test_matmul_peak_is_a_finite_positive_rate():
    assert 0.0 < attention_efficiency.matmul_peak_gflops(size=64, repeats=2) < math.inf


def test_ms_twins_are_compared_with_ms_convlstm():
    rows = [row("convlstm", 1.0, 1.0, 0.0, 0.0), row("ms-convlstm", 1.0, 3.0, 0.0, 0.0)]
    assert attention_efficiency.baseline(rows, "ms-sa-convlstm")["s_per_gmac"] == 3.0
    assert attention_efficiency.baseline(rows, "cms-lstm")["s_per_gmac"] == 1.0
