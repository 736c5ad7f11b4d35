"""Peak memory of one step of work: the CUDA allocator's peak, or the RSS high-water mark on CPU.

A leaf: it imports nothing from convrnn but :mod:`convrnn.io`. What runs is a callable, so
the same measurement serves a training step or anything else.
"""

from __future__ import annotations

import gc
import importlib
import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import torch

from convrnn.io import proc_status


def proc_status_bytes(field: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``) in bytes; None without /proc."""
    text = proc_status(field)
    return int(text) * 1024 if text is not None and text.isdigit() else None


def reset_rss_peak() -> bool:
    """Reset this process's ``VmHWM`` to its current RSS (Linux >= 4.0); False where that fails."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    hwm, rss = proc_status_bytes("VmHWM"), proc_status_bytes("VmRSS")
    # a kernel that ignores "5" leaves the old high-water mark (a page of slack for the race)
    return hwm is not None and rss is not None and hwm <= rss + 4096


def release_free_heap() -> None:
    """Give the pages that malloc keeps after ``free`` back to the OS (glibc), so RSS is live memory."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


def step_peak_memory(
    step: Callable[[], Any], device: torch.device, settle: Callable[[], Any] | None = None
) -> dict[str, Any]:
    """Peak memory that one call of ``step`` needs above the live state, after a warm-up call.

    Returns ``{"peak_memory_bytes": int | None, "peak_memory_method": str,
    "process_peak_bytes": int | None}``; the last is the whole process's peak during the step,
    the live state included (memory a kernel keeps between calls counts there). ``step`` runs
    once to warm up (allocator and oneDNN first touch, lazy initialisation, kernel selection),
    then ``settle`` (e.g. free the gradients the warm-up left), then once measured.

    * CUDA (``"cuda-allocator"``): ``max_memory_allocated`` during the step minus
      ``memory_allocated`` before it.
    * CPU on Linux (``"vmhwm"``): the RSS high-water mark is reset through
      ``/proc/self/clear_refs``; the peak is ``VmHWM`` after the step minus ``VmRSS`` before it
      (freed heap pages are returned to the OS first, so the baseline is live memory). Run it
      in a fresh process (:func:`call_in_fresh_process`) so other work does not share the RSS.
    * CPU without a resettable ``VmHWM`` (no ``/proc``: macOS; Linux < 4.0) (``"ru_maxrss"``):
      the growth of ``ru_maxrss`` over the first call, without warm-up (so first-touch costs
      are in). A lower bound only: it reads low, down to 0, whenever the process's high-water
      mark is already above what the step needs (on Linux a child inherits its parent's); its
      process peak is the process's high-water mark so far, the step's or an earlier one.
    """
    settle = settle or (lambda: None)
    if device.type == "cuda":
        step()  # warm-up
        settle()
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        step()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
        return _reading(int(peak - base), "cuda-allocator", int(peak))
    if reset_rss_peak():  # Linux >= 4.0: a resettable high-water mark
        step()  # warm-up
        settle()
        release_free_heap()
        reset_rss_peak()
        base = proc_status_bytes("VmRSS")
        step()
        hwm = proc_status_bytes("VmHWM")
        if base is not None and hwm is not None:
            return _reading(max(hwm - base, 0), "vmhwm", hwm)
    try:
        import resource
    except ImportError:  # Windows
        return _reading(None, "unavailable", None)
    unit = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is bytes on macOS, KiB on Linux
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    step()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return _reading((after - before) * unit, "ru_maxrss", after * unit)


def _reading(step: int | None, method: str, process: int | None) -> dict[str, Any]:
    """The dict :func:`step_peak_memory` returns."""
    return {"peak_memory_bytes": step, "peak_memory_method": method, "process_peak_bytes": process}


def _call_json(target: str, payload: str) -> str:
    """``module:function`` called on the JSON ``payload``; its result as JSON (the child's side)."""
    module, _, name = target.partition(":")
    return json.dumps(getattr(importlib.import_module(module), name)(json.loads(payload)))


def call_in_fresh_process(target: str, payload: Any) -> Any:
    """``module:function`` called on the JSON-able ``payload`` in a fresh Python process; its JSON result.

    A fresh process shares no memory high-water mark, allocator state or caches with this one.
    """
    code = (
        "import sys\n"
        "from convrnn.cost.memory import _call_json\n"
        "print(_call_json(sys.argv[1], sys.argv[2]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, target, json.dumps(payload)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{target} failed in a fresh process:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])
