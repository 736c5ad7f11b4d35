"""Precision that fits the hardware: native bf16 detection, ``auto``, the emulated-bf16 warning."""

from __future__ import annotations

import pytest
import torch

from convrnn import config as config_lib
from convrnn import hardware
from convrnn.train.fit import run_precision


@pytest.fixture
def detect(monkeypatch):
    """Let the detection run (no override) with the CPU's bf16 support faked to ``native``."""
    monkeypatch.delenv(hardware.OVERRIDE, raising=False)

    def fake(native: bool) -> None:
        monkeypatch.setattr(hardware, "cpu_native_bf16", lambda: native)

    return fake


def test_cpu_flags_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512_bf16 amx_bf16\n\n")
    assert {"avx2", "avx512_bf16", "amx_bf16"} <= hardware.cpu_flags(info)
    assert hardware.cpu_flags(tmp_path / "missing") == set()


def test_cpu_detection_falls_back_to_cpuinfo_flags(monkeypatch):
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    monkeypatch.setattr(hardware, "cpu_flags", lambda path="/proc/cpuinfo": {"avx2", "fma"})
    assert hardware.cpu_native_bf16() is False
    monkeypatch.setattr(hardware, "cpu_flags", lambda path="/proc/cpuinfo": {"avx2", "amx_bf16"})
    assert hardware.cpu_native_bf16() is True


@pytest.mark.parametrize("native, expected", [(True, "bf16-mixed"), (False, "32-true")])
def test_auto_picks_bf16_only_where_native(detect, native, expected):
    detect(native)
    assert hardware.resolve_precision("auto", "cpu") == (expected, None)


def test_auto_on_gpu_follows_cuda_bf16(monkeypatch):
    monkeypatch.delenv(hardware.OVERRIDE, raising=False)
    monkeypatch.setattr(hardware, "cuda_native_bf16", lambda: True)
    assert hardware.resolve_precision("auto", "gpu")[0] == "bf16-mixed"
    monkeypatch.setattr(hardware, "cuda_native_bf16", lambda: False)
    assert hardware.resolve_precision("auto", "gpu")[0] == "32-true"


def test_environment_overrides_the_detection(monkeypatch):
    monkeypatch.setattr(hardware, "cpu_native_bf16", lambda: True)
    monkeypatch.setenv(hardware.OVERRIDE, "0")
    assert not hardware.native_bf16("cpu")
    monkeypatch.setattr(hardware, "cpu_native_bf16", lambda: False)
    monkeypatch.setenv(hardware.OVERRIDE, "1")
    assert hardware.native_bf16("cpu")


def test_explicit_bf16_on_emulating_cpu_warns_with_the_slowdown(detect):
    detect(False)
    precision, warning = hardware.resolve_precision("bf16-mixed", "cpu")
    assert precision == "bf16-mixed"  # an explicit choice is kept, but not silently
    assert "slower than fp32" in warning and "AVX512-BF16" in warning
    detect(True)
    assert hardware.resolve_precision("bf16-mixed", "cpu") == ("bf16-mixed", None)
    assert hardware.resolve_precision("32-true", "cpu") == ("32-true", None)


def test_train_resolves_and_warns(detect, capsys):
    cfg = config_lib.resolve({"train": {"accelerator": "cpu"}})
    assert cfg["train"]["precision"] == "auto"  # the default
    detect(True)
    assert run_precision(cfg, warn=True) == "bf16-mixed"
    detect(False)
    assert run_precision(cfg, warn=True) == "32-true"
    assert capsys.readouterr().err == ""
    explicit = config_lib.resolve({"train": {"accelerator": "cpu", "precision": "bf16-mixed"}})
    assert run_precision(explicit, warn=True) == "bf16-mixed"
    assert "convrnn train: warning: precision bf16-mixed" in capsys.readouterr().err


def test_summary_line_names_the_resolved_precision():
    assert hardware.describe("auto", "bf16-mixed", "cpu") == (
        "precision: bf16-mixed (auto: cpu with native bf16)"
    )
    assert hardware.describe("32-true", "32-true", "gpu") == "precision: 32-true"


@pytest.mark.parametrize("saved_precision", ["32-true", "auto", "bf16-mixed"])
def test_resume_keeps_the_saved_precision(saved_precision):
    # runs saved before "auto" became the default hold an explicit precision: resume keeps it
    saved = config_lib.resolve({"train": {"precision": saved_precision}})
    again = config_lib.resolve(saved, {"train": {"devices": 1}})
    assert again["train"]["precision"] == saved_precision
    assert config_lib.resume_changes(saved, again) == []


def test_bad_precision_is_a_config_error():
    with pytest.raises(config_lib.ConfigError, match=r"train\.precision"):
        config_lib.resolve({"train": {"precision": "fp8"}})
