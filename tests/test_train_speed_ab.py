"""benchmarks/train_speed_ab.py: the levers' two sides and the options they refuse."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import train_speed_ab  # a script beside the benchmarks, not a package


def test_precision_lever_runs_the_bf16_side_under_cpu_autocast():
    fp32, bf16 = train_speed_ab.LEVERS["precision"]
    with fp32.precision():
        assert not torch.is_autocast_enabled("cpu")
    with bf16.precision():
        assert torch.is_autocast_enabled("cpu")
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16
    assert fp32.options == bf16.options == {}


def test_every_lever_changes_exactly_one_thing():
    for before, after in train_speed_ab.LEVERS.values():
        changed = (before.options != after.options) + (before.autocast != after.autocast)
        assert changed == 1 and before.label != after.label


def test_memory_of_bf16_steps_is_refused_with_exit_status_2(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["train_speed_ab.py", "--lever", "precision", "--memory"])
    with pytest.raises(SystemExit) as exit_info:
        train_speed_ab.main()
    assert exit_info.value.code == 2
    assert "--lever precision" in capsys.readouterr().err
