"""GPU costs of the flat models and their MS twins at the ``ms-rnn`` preset.

Usage: python benchmarks/gpu.py [--device cuda] [--sizes 64,256] [--batch 4] [--frames 10,10]
       [--models convlstm,ms-convlstm,predrnn,ms-predrnn] [--json]
       python benchmarks/gpu.py --device cpu --quick     (tiny models, to check the script runs)

Per model and size it prints the median training-step seconds (forward, L2 loss, backward,
Adam; :func:`convrnn.cost.training_step_seconds`) in fp32, under bf16 autocast and with
``torch.compile`` of the time step; the peak memory of one training step
(:func:`convrnn.cost.measure_peak_memory`: the CUDA allocator's peak, or the RSS high-water
mark on CPU) and the MS twin's peak relative to its flat model (MS-RNN Table I reports 30-53%
less); and the latency of one forecast at batch 1 (``convrnn.models.inference``). ``--quick``
uses 16x16 frames, 2 -> 2, batch 1, two layers of 4 channels, no compile.
"""

from __future__ import annotations

import argparse
import json
import platform
from contextlib import nullcontext
from typing import Any

import torch

from convrnn.cost import BenchSpec, measure_peak_memory, training_step_seconds
from convrnn.cost.timing import call_seconds
from convrnn.models.inference import InferenceOptions, predict, prepare

MODELS = ("convlstm", "ms-convlstm", "predrnn", "ms-predrnn")
QUICK = {"hidden_channels": 4, "num_layers": 2}


def step_seconds(spec: BenchSpec, precision: str, steps: int) -> float | None:
    """Median training-step seconds of ``spec`` in ``precision`` (32, bf16 or compiled)."""
    torch.manual_seed(0)
    if precision == "compiled":
        spec = BenchSpec(**{**spec.__dict__, "options": {**(spec.options or {}), "compile": True}})
    if precision == "bf16" and spec.device == "cuda" and not torch.cuda.is_bf16_supported():
        return None
    model, frames = spec.build(), spec.frames()
    autocast = (
        torch.autocast(torch.device(spec.device).type, dtype=torch.bfloat16)
        if precision == "bf16"
        else nullcontext()
    )
    with autocast:
        return training_step_seconds(model, frames, spec.input_length, steps=steps)


def latency_seconds(spec: BenchSpec) -> float:
    """Seconds of one forecast (batch 1, ``output_length`` frames after ``input_length``)."""
    options = InferenceOptions(device=spec.device, precision="32")
    model = prepare(spec.build(), options)
    inputs = spec.frames()[:1, : spec.input_length]
    return call_seconds(
        lambda: predict(model, inputs, spec.output_length, options), options.torch_device
    )


def measure(name: str, size: int, args: argparse.Namespace) -> dict[str, Any]:
    """One row: step seconds per precision, peak memory, inference latency."""
    t_in, t_out = args.frames
    spec = BenchSpec(
        name,
        None if args.quick else "ms-rnn",
        size,
        size,
        t_in,
        t_out,
        args.batch,
        args.device,
        dict(QUICK) if args.quick else None,
    )
    precisions = ("32", "bf16") if args.quick else ("32", "bf16", "compiled")
    row: dict[str, Any] = {"model": name, "size": size, "batch": args.batch}
    for precision in precisions:
        row[f"step_s_{precision}"] = step_seconds(spec, precision, args.steps)
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    row.update(measure_peak_memory(spec))
    row["latency_s"] = latency_seconds(spec)
    return row


def print_rows(rows: list[dict[str, Any]]) -> None:
    """The table, with the MS twins' peak memory relative to their flat models."""
    peaks = {(r["model"], r["size"]): r["peak_memory_bytes"] for r in rows}
    print(
        f"{'model':<14}{'size':>6}{'fp32 s':>9}{'bf16 s':>9}{'comp. s':>9}{'peak MiB':>10}"
        f"{'vs flat':>9}{'latency s':>11}"
    )

    def num(value: Any, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    for r in rows:
        peak = r["peak_memory_bytes"]
        flat = peaks.get((r["model"].removeprefix("ms-"), r["size"]))
        ratio = peak / flat if r["model"].startswith("ms-") and peak and flat else None
        print(
            f"{r['model']:<14}{r['size']:>6}{num(r['step_s_32'], '.4f'):>9}"
            f"{num(r['step_s_bf16'], '.4f'):>9}{num(r.get('step_s_compiled'), '.4f'):>9}"
            f"{num(None if peak is None else peak / 2**20, '.0f'):>10}{num(ratio, '.2f'):>9}"
            f"{num(r['latency_s'], '.4f'):>11}"
        )


def main() -> None:
    """Parse the options, measure every model at every size, print the table (or JSON)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    p.add_argument("--sizes", default=None, help="square sides (default 64,256; --quick 16)")
    p.add_argument("--batch", type=int, default=None, help="batch (default 4; --quick 1)")
    p.add_argument("--frames", default=None, help="T_in,T_out (default 10,10; --quick 2,2)")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--steps", type=int, default=5, help="timed steps per setting (default 5)")
    p.add_argument("--quick", action="store_true", help="tiny settings that run on a CPU")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("no CUDA device here; pass --device cpu --quick to check the script")
    sizes = [int(s) for s in (args.sizes or ("16" if args.quick else "64,256")).split(",")]
    args.batch = args.batch or (1 if args.quick else 4)
    args.frames = tuple(
        int(t) for t in (args.frames or ("2,2" if args.quick else "10,10")).split(",")
    )
    if args.quick:
        args.steps = min(args.steps, 1)
    rows = [measure(m, s, args) for s in sizes for m in args.models.split(",")]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    where = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor()
    print(f"device: {args.device} ({where}), torch {torch.__version__}")
    print_rows(rows)


if __name__ == "__main__":
    main()
