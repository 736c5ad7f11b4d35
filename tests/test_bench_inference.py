"""``convrnn bench --inference``: the nowcast rows are produced (their timings are not checked)."""

from __future__ import annotations

import json

import pytest

from convrnn.cli import main
from convrnn.cost.nowcast import moving_rain


def test_nowcast_rows_for_each_model_and_size(capsys):
    argv = ["bench", "--inference", "--models", "convlstm,ms-convlstm", "--size", "16,16x32"]
    argv += ["--set", "hidden_channels=4", "--set", "num_layers=2", "--precision", "32", "--json"]
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["model"], r["size"]) for r in rows] == [
        ("convlstm", "16x16"), ("convlstm", "16x32"), ("ms-convlstm", "16x16"),
        ("ms-convlstm", "16x32"),
    ]  # fmt: skip
    for row in rows:
        assert row["frames"] == "4->12" and row["precision"] == "32" and row["device"] == "cpu"
        assert row["latency_seconds"] > 0 and row["throughput_seq_per_second"] > 0
        assert row["best_batch"] in (1, 4, 16)
        pytest.importorskip("pysteps")
        assert row["pysteps_lk_seconds"] > 0
        assert row["speedup_vs_pysteps"] == pytest.approx(
            row["pysteps_lk_seconds"] / row["latency_seconds"]
        )


def test_table_has_a_header_and_a_row(capsys):
    argv = ["bench", "--inference", "--models", "convlstm", "--size", "16"]
    argv += ["--set", "hidden_channels=4", "--set", "num_layers=2"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["model", "size", "prec", "latency"]
    assert lines[1].split()[:2] == ["convlstm", "16x16"]


def test_bad_size_exits_2(capsys):
    with pytest.raises(SystemExit) as e:  # argparse checks every size of the list
        main(["bench", "--inference", "--models", "convlstm", "--size", "16,abc"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "argument --size: " in err and "'abc'" in err


def test_moving_rain_moves():
    frames = moving_rain(1, 3, 32, 32)
    assert frames.shape == (1, 3, 1, 32, 32) and frames.min() >= 0 and frames.max() <= 1
    assert not frames[0, 0].equal(frames[0, 2])
