"""GPU costs of the flat models and their MS twins at the ``ms-rnn`` preset.

Usage: python benchmarks/gpu.py [--device cuda] [--sizes 64,256] [--batch 4] [--frames 10,10]
       [--models convlstm,ms-convlstm,predrnn,ms-predrnn] [--compile-budget 240] [--out F.jsonl]
       python benchmarks/gpu.py --device cpu --quick     (tiny models, to check the script runs)

Per model and size it prints the median training-step seconds (forward, L2 loss, backward,
Adam; :func:`convrnn.cost.training_step_seconds`) in fp32, under bf16 autocast and in fp32
with channels-last weights and states; the peak memory of one training step
(:func:`convrnn.cost.measure_peak_memory`: the CUDA allocator's peak, or the RSS high-water
mark on CPU) and the MS twin's peak relative to its flat model (MS-RNN Table I reports 30-53%
less); and the latency of one forecast at batch 1 in fp32, bf16 and channels-last
(``convrnn.models.inference``). A second pass times the step under ``torch.compile`` until
``--compile-budget`` seconds are spent. Each row is printed (and appended to ``--out`` as a
JSON line) as soon as it is measured, so a run cut short keeps what it measured.
``--quick`` uses 16x16 frames, 2 -> 2, batch 1, two layers of 4 channels, no compile.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from contextlib import nullcontext
from dataclasses import replace
from typing import Any

import torch

from convrnn.cost import BenchSpec, measure_peak_memory, training_step_seconds
from convrnn.cost.timing import call_seconds
from convrnn.models.inference import InferenceOptions, predict, prepare

MODELS = ("convlstm", "ms-convlstm", "predrnn", "ms-predrnn")
QUICK = {"hidden_channels": 4, "num_layers": 2}
#: step-time columns: fp32, bf16 autocast, fp32 channels-last, fp32 torch.compile
STEP_KINDS = ("32", "bf16", "cl", "compiled")
LATENCY_KINDS = ("32", "bf16", "cl")


def with_options(spec: BenchSpec, **options: Any) -> BenchSpec:
    """``spec`` with extra model options (``compile``, ``channels_last``)."""
    return replace(spec, options={**(spec.options or {}), **options})


def autocast_for(spec: BenchSpec, kind: str) -> Any:
    """bf16 autocast for ``kind == "bf16"``, else nothing."""
    if kind != "bf16":
        return nullcontext()
    return torch.autocast(torch.device(spec.device).type, dtype=torch.bfloat16)


def model_spec(spec: BenchSpec, kind: str) -> BenchSpec:
    """The spec a column measures: channels-last for ``cl``, compiled for ``compiled``."""
    if kind == "cl":
        return with_options(spec, channels_last=True)
    if kind == "compiled":
        return with_options(spec, compile=True)
    return spec


def step_seconds(spec: BenchSpec, kind: str, steps: int) -> float | None:
    """Median training-step seconds of ``spec`` for one of :data:`STEP_KINDS`."""
    if kind == "bf16" and spec.device == "cuda" and not torch.cuda.is_bf16_supported():
        return None
    torch.manual_seed(0)
    spec = model_spec(spec, kind)
    model, frames = spec.build(), spec.frames()
    with autocast_for(spec, kind):
        return training_step_seconds(model, frames, spec.input_length, steps=steps)


def latency_seconds(spec: BenchSpec, kind: str) -> float:
    """Seconds of one forecast (batch 1, ``output_length`` frames after ``input_length``)."""
    options = InferenceOptions(device=spec.device, precision="bf16" if kind == "bf16" else "32")
    model = prepare(model_spec(spec, kind).build(), options)
    inputs = spec.frames()[:1, : spec.input_length]
    return call_seconds(
        lambda: predict(model, inputs, spec.output_length, options), options.torch_device
    )


def make_spec(name: str, size: int, args: argparse.Namespace) -> BenchSpec:
    """The spec of one row."""
    t_in, t_out = args.frames
    preset, options = (None, dict(QUICK)) if args.quick else ("ms-rnn", None)
    return BenchSpec(name, preset, size, size, t_in, t_out, args.batch, args.device, options)


def measure(name: str, size: int, args: argparse.Namespace) -> dict[str, Any]:
    """One row without compile: step seconds, peak memory, inference latencies."""
    spec = make_spec(name, size, args)
    row: dict[str, Any] = {"model": name, "size": size, "batch": args.batch}
    for kind in STEP_KINDS[:-1]:
        row[f"step_s_{kind}"] = step_seconds(spec, kind, args.steps)
    if args.device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    row.update(measure_peak_memory(spec))
    for kind in LATENCY_KINDS:
        row[f"latency_s_{kind}"] = latency_seconds(spec, kind)
    return row


def num(value: Any, fmt: str) -> str:
    """``value`` formatted, or ``-`` when not measured."""
    return "-" if value is None else format(value, fmt)


HEADER = (
    f"{'model':<12}{'size':>5}{'fp32 s':>9}{'bf16 s':>9}{'cl s':>9}{'comp. s':>9}"
    f"{'peak MiB':>10}{'vs flat':>8}{'lat fp32':>10}{'lat bf16':>10}{'lat cl':>10}"
)


def format_row(r: dict[str, Any], peaks: dict[tuple[str, int], Any]) -> str:
    """One line of the table; the MS twin's peak relative to its flat model's when known."""
    peak = r["peak_memory_bytes"]
    flat = peaks.get((r["model"].removeprefix("ms-"), r["size"]))
    ratio = peak / flat if r["model"].startswith("ms-") and peak and flat else None
    steps = "".join(f"{num(r.get(f'step_s_{k}'), '.4f'):>9}" for k in STEP_KINDS)
    lats = "".join(f"{num(r.get(f'latency_s_{k}'), '.4f'):>10}" for k in LATENCY_KINDS)
    mib = num(None if peak is None else peak / 2**20, ".0f")
    return f"{r['model']:<12}{r['size']:>5}{steps}{mib:>10}{num(ratio, '.2f'):>8}{lats}"


def print_rows(rows: list[dict[str, Any]]) -> None:
    """The table, with the MS twins' peak memory relative to their flat models."""
    peaks = {(r["model"], r["size"]): r["peak_memory_bytes"] for r in rows}
    print(HEADER)
    for r in rows:
        print(format_row(r, peaks))


def emit(row: dict[str, Any], args: argparse.Namespace) -> None:
    """Print ``row`` at once and append it to ``--out``."""
    print(json.dumps(row), flush=True)
    if args.out:
        with open(args.out, "a") as f:
            f.write(json.dumps(row) + "\n")


def parse_args() -> argparse.Namespace:
    """The command line, with the ``--quick`` defaults filled in."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    p.add_argument("--sizes", default=None, help="square sides (default 64,256; --quick 16)")
    p.add_argument("--batch", type=int, default=None, help="batch (default 4; --quick 1)")
    p.add_argument("--frames", default=None, help="T_in,T_out (default 10,10; --quick 2,2)")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--steps", type=int, default=5, help="timed steps per setting (default 5)")
    p.add_argument("--compile-budget", type=float, default=240.0, help="seconds for compile")
    p.add_argument("--out", help="append each row to this file as a JSON line")
    p.add_argument("--quick", action="store_true", help="tiny settings that run on a CPU")
    args = p.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("no CUDA device here; pass --device cpu --quick to check the script")
    args.sizes = [int(s) for s in (args.sizes or ("16" if args.quick else "64,256")).split(",")]
    args.batch = args.batch or (1 if args.quick else 4)
    args.frames = tuple(
        int(t) for t in (args.frames or ("2,2" if args.quick else "10,10")).split(",")
    )
    if args.quick:
        args.steps, args.compile_budget = min(args.steps, 1), 0.0
    return args


def main() -> None:
    """Measure every model at every size, then the compiled step within its budget; print the table."""
    args = parse_args()
    where = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor()
    print(f"device: {args.device} ({where}), torch {torch.__version__}", flush=True)
    rows = []
    for size in args.sizes:
        for name in args.models.split(","):
            rows.append(measure(name, size, args))
            emit(rows[-1], args)
    deadline = time.monotonic() + args.compile_budget
    for row in rows:
        if time.monotonic() > deadline:
            break
        spec = make_spec(row["model"], row["size"], args)
        row["step_s_compiled"] = step_seconds(spec, "compiled", args.steps)
        emit(
            {
                "model": row["model"],
                "size": row["size"],
                **{"step_s_compiled": row["step_s_compiled"]},
            },
            args,
        )
    print_rows(rows)


if __name__ == "__main__":
    main()
