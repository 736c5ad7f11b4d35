"""Which precision a device runs fast: native bf16 detection and ``auto`` precision (a leaf).

A CPU runs bf16 natively with AVX512-BF16 or AMX (oneDNN's bf16 kernels); without them
(AVX2 only, e.g. many AMD EPYC and older Xeons) PyTorch emulates bf16 and a bf16 step is
several times slower than fp32. A CUDA device runs it natively from Ampere on.
The environment variable ``CONVRNN_NATIVE_BF16=0`` or ``1`` overrides the detection (the
test suite pins it, so results do not depend on the machine's CPU).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

#: training precisions that compute in bf16 (Lightning's names)
BF16_PRECISIONS = ("bf16-mixed", "bf16-true")
#: what ``auto`` resolves to
AUTO_FAST, AUTO_SAFE = "bf16-mixed", "32-true"
#: /proc/cpuinfo flags of native bf16 arithmetic
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
#: the slowdown a bf16 step shows on a CPU that emulates it (issue 15's measurement)
EMULATED_SLOWDOWN = "several times (3-10x) slower than fp32"
OVERRIDE = "CONVRNN_NATIVE_BF16"


def cpu_flags(path: str | Path = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (empty where there is no such file)."""
    try:
        text = Path(path).read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.partition(":")[2].split())
    return set()


def cpu_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), per oneDNN or /proc/cpuinfo."""
    try:
        if torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return True
    except (AttributeError, RuntimeError):  # a build without oneDNN
        pass
    return bool(cpu_flags() & set(CPU_BF16_FLAGS))


def cuda_native_bf16() -> bool:
    """Whether the current CUDA device computes bf16 natively (Ampere or later)."""
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)


def native_bf16(device_type: str) -> bool:
    """Whether a ``cpu`` or ``cuda``/``gpu`` device runs bf16 natively (``CONVRNN_NATIVE_BF16`` overrides)."""
    forced = os.environ.get(OVERRIDE)
    if forced in ("0", "1"):
        return forced == "1"
    if device_type in ("cuda", "gpu"):
        return cuda_native_bf16()
    return device_type == "cpu" and cpu_native_bf16()


def resolve_precision(requested: str, device_type: str) -> tuple[str, str | None]:
    """``(precision, warning)``: ``auto`` -> bf16-mixed where bf16 is native, else 32-true.

    The warning (None if none) is for an explicit bf16 precision on a CPU that emulates bf16.
    """
    native = native_bf16(device_type)
    if requested == "auto":
        return (AUTO_FAST if native else AUTO_SAFE), None
    if requested in BF16_PRECISIONS and device_type == "cpu" and not native:
        return requested, (
            f"precision {requested} on a CPU without native bf16 (no AVX512-BF16 or AMX): bf16 is "
            f"emulated and typically {EMULATED_SLOWDOWN}; use --precision auto or 32-true"
        )
    return requested, None


def describe(requested: str, resolved: str, device_type: str) -> str:
    """One line for a run's summary: the precision and why it was chosen."""
    if requested != "auto":
        return f"precision: {resolved}"
    why = "native bf16" if resolved == AUTO_FAST else "no native bf16"
    return f"precision: {resolved} (auto: {device_type} with {why})"
