"""``convrnn bench``: the cost table (params, MACs, memory, time) or the largest trainable size."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from convrnn import progress
from convrnn.cli import types
from convrnn.cli.options import add_memory_format, add_set

HELP = "cost table: params, FLOPs/MACs, activation bytes, peak memory, step time, fps"
DESCRIPTION = (
    "Measure, per model, one row: params; flops of one training forward (PyTorch's FLOP counter, "
    "2 per multiply-add) and macs = flops / 2 (the unit of the OpenSTL and MS-RNN tables); "
    "activation_bytes saved for backward (exact, device-independent); peak_memory_bytes of one "
    "full training step (forward, loss, backward, Adam step) after a warm-up step, on top of the "
    "weights, optimizer state and data (CUDA allocator peak, or on CPU the VmHWM high-water mark "
    "of a fresh process, reset before the step; peak_memory_method says which); step_seconds "
    "(median training step after warm-up); inference_fps (predicted frames per second). "
    "With --max-size: the largest square image each model trains on at batch 1 within --budget "
    "(MS-RNN Eq. 2; params and activations measured at --probe-sizes and fitted as a + b*H*W, "
    "with the fit's error at the largest probe). With --inference: per model and --size (default "
    "128,256,512) the latency of one nowcast (4 -> 12 frames, batch 1), the best throughput over "
    "batches of 1, 4 and 16 sequences, and pysteps' Lucas-Kanade + semi-Lagrangian extrapolation "
    "on the same frames when pysteps is installed (pip install convrnn[nowcast])."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``bench``."""
    p.add_argument("--models", required=True, help="comma-separated model names")
    p.add_argument("--preset", help="preset for every model (default: the small defaults)")
    p.add_argument(
        "--size",
        type=types.sizes,
        help="frame size H or HxW (default 64); with --inference comma-separated sizes "
        "(default 128,256,512)",
    )
    p.add_argument(
        "--frames", type=types.frames, default="10,10", help="T_in,T_out (default 10,10)"
    )
    p.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument(
        "--inference",
        action="store_true",
        help="nowcast latency and throughput (4 -> 12 frames) next to pysteps' LK extrapolation",
    )
    p.add_argument(
        "--precision",
        choices=("auto", "32", "bf16"),
        default="auto",
        help="--inference: 32, bf16 or auto (bf16 where the device runs it natively; default)",
    )
    p.add_argument("--compile", action="store_true", help="--inference: torch.compile the step")
    add_memory_format(p)
    p.add_argument("--no-timing", action="store_true", help="skip step time and fps")
    p.add_argument("--no-peak-memory", action="store_true", help="skip the peak-memory measurement")
    add_set(p, "model option for every model")
    p.add_argument(
        "--json", action="store_true", help="print a JSON list of rows and nothing else on stdout"
    )
    p.add_argument(
        "--max-size", action="store_true", help="report the largest square image within --budget"
    )
    p.add_argument(
        "--budget",
        type=types.byte_size,
        default="16GB",
        help="memory budget for --max-size, e.g. 16GB, 40GB, 512MB",
    )
    p.add_argument(
        "--probe-sizes",
        type=types.sides,
        default="32,64,96",
        help="square sides --max-size measures (default 32,64,96; a third one checks the fit)",
    )


def _or_dash(value: Any, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def print_bench_row(row: dict[str, Any], header: bool) -> None:
    """One line of the cost table (after the header if ``header``)."""
    if header:
        print(
            f"{'model':<22}{'params':>12}{'GMACs':>10}{'act. MiB':>10}{'peak MiB':>10}"
            f"{'step s':>9}{'fps':>9}"
        )
    peak = row["peak_memory_bytes"]
    peak = _or_dash(None if peak is None else peak / 2**20, ".0f")
    step, fps = _or_dash(row["step_seconds"], ".3f"), _or_dash(row["inference_fps"], ".1f")
    print(
        f"{row['model']:<22}{row['params']:>12,}{row['macs'] / 1e9:>10.2f}"
        f"{row['activation_bytes'] / 2**20:>10.1f}{peak:>10}{step:>9}{fps:>9}"
    )


def print_max_size_row(row: dict[str, Any], probe_sizes: tuple[int, ...], header: bool) -> None:
    """One line of the largest-size table (after the budget and the header if ``header``)."""
    if header:
        budget = row["budget_bytes"]
        shown = f"{budget / 2**30:.1f} GiB" if budget >= 2**30 else f"{budget / 2**20:.0f} MiB"
        print(f"budget {shown}, probe sizes {','.join(str(s) for s in probe_sizes)}")
        print(
            f"{'model':<22}{'max side':>10}{'params there':>14}{'act. bytes/pixel':>18}"
            f"{'bytes/pixel':>13}{'fit error':>11}"
        )
    side = _or_dash(row["max_side"], "")
    params = _or_dash(row["params_at_max_side"], ",")
    error = _or_dash(row["fit_error"], ".2%")
    print(
        f"{row['model']:<22}{side:>10}{params:>14}{row['activation_bytes_per_pixel']:>18,.0f}"
        f"{row['bytes_per_pixel']:>13,.0f}{error:>11}"
    )
    if row["note"]:
        print(f"  note: {row['note']}")


def measure_rows(
    jobs: list[Any],
    measure: Callable[[Any], dict[str, Any]],
    show: Callable[[dict[str, Any], bool], None],
    as_json: bool,
    label: Callable[[Any], str] | None = None,
) -> list[dict[str, Any]]:
    """One row per job under a progress bar: each shown as it comes (``show(row, header)``), or all
    as one JSON list at the end with ``as_json``."""
    rows: list[dict[str, Any]] = []
    with progress.bar(len(jobs), "bench", unit="row") as bar:
        for job in jobs:
            if label is not None:
                bar.set_postfix_str(label(job))
            rows.append(measure(job))
            if not as_json:
                with progress.printing():
                    show(rows[-1], len(rows) == 1)
            bar.update()
    if as_json:
        print(json.dumps(rows, indent=2))
    return rows


def run_inference(args: argparse.Namespace) -> int:
    """``bench --inference``: one nowcast row per model and size."""
    from convrnn.config import parse_set
    from convrnn.cost.nowcast import DEFAULT_SIZES, format_row, nowcast_row
    from convrnn.models.inference import InferenceOptions

    text = args.size or ",".join(str(s) for s in DEFAULT_SIZES)
    sizes = [types.parse_option("--size", types.parse_size, item) for item in text.split(",")]
    inference = InferenceOptions(
        args.device, None, args.precision, args.compile, args.memory_format
    )
    options = parse_set(args.set)
    jobs = [(name, size) for name in args.models.split(",") for size in sizes]
    rows = measure_rows(
        jobs,
        lambda job: nowcast_row(job[0], args.preset, job[1], inference, options),
        lambda row, header: print(format_row(row, header=header)),
        args.json,
    )
    print(
        f"bench: {len(rows)} nowcast row(s) measured (wall seconds, median of 3 after a warm-up); "
        "nothing written to disk",
        file=sys.stderr,
    )
    return 0


def run(args: argparse.Namespace) -> int:
    """Measure each model: a table as it goes, or one JSON list at the end with --json."""
    from convrnn.config import parse_set
    from convrnn.cost import BenchSpec, bench_row, max_square_size

    if args.inference:
        return run_inference(args)
    height, width = types.parse_option("--size", types.parse_size, args.size or "64")
    t_in, t_out = args.frames
    options = parse_set(args.set)

    def measure(name: str) -> dict[str, Any]:
        spec = BenchSpec(
            name, args.preset, height, width, t_in, t_out, args.batch, args.device, options
        )
        if args.max_size:
            return max_square_size(spec, args.budget, probe_sizes=args.probe_sizes)
        return bench_row(spec, timing=not args.no_timing, peak_memory=not args.no_peak_memory)

    def show(row: dict[str, Any], header: bool) -> None:
        if args.max_size:
            print_max_size_row(row, args.probe_sizes, header=header)
        else:
            print_bench_row(row, header=header)

    rows = measure_rows(args.models.split(","), measure, show, args.json, label=str)
    # stdout holds only the table (or the JSON): the closing note goes to stderr
    print(
        f"bench: {len(rows)} row(s) measured; nothing written to disk (redirect stdout to keep "
        "them, e.g. --json > bench.json)",
        file=sys.stderr,
    )
    return 0
