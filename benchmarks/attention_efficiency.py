"""Seconds per GMAC of the attention and context models against ConvLSTM (ms-rnn preset, 64x64).

Usage: python benchmarks/attention_efficiency.py [--models convlstm,sa-convlstm,...] [--steps 1]
       [--baseline-steps 3] [--size 64] [--precision 32|bf16] [--split] [--json]

Per model (and its MS twin): GMACs of one training forward counted by PyTorch's FLOP counter
(:func:`convrnn.cost.training_flops`, which counts the CPU's fused attention too); the same
count with attention computed without the zero padding that the fused kernel needs when the
queries are narrower than the values ("useful" GMACs); the median training-step seconds
(forward, L2 loss, backward, Adam; after one warm-up step); and seconds per GMAC relative to
``convlstm``'s (the issue's target: within 1.5x), and to ``convlstm``'s with
``conv_algorithm="direct"`` (conv2d: the baseline before Winograd). 10 -> 10 frames, batch 1, the threads torch
starts with. ``--precision bf16`` times the steps under bf16 autocast (what ``precision: auto``
trains with on a CPU with native bf16; Winograd is fp32-only, so every convolution is oneDNN's
there); the counts stay those of the fp32 forward. ``--split`` profiles one more step per model
and prints where the time goes: the fused attention's share of the step, the rate it runs at
(its forward and backward FLOPs, the backward counted as 2.5 forwards as PyTorch's counter does,
over its profiled seconds), and the ratio the model would reach if everything but the attention
ran at ``convlstm``'s seconds per GMAC (the floor that no work outside the attention kernel can
beat), and the same with an ideal kernel: exact attention without the padding, at the
machine's float32 matrix-product peak (measured on 2048x2048 products in the same run), per
useful GMAC. The ConvLSTM baselines take ``--baseline-steps`` timed steps (one step of a small model
spreads by 20-60%). Run it alone on the machine; a run of the defaults takes about 20 minutes on
2 cores, 30 with ``--split``.
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import ExitStack, nullcontext
from unittest import mock

import torch

from convrnn.cost import (
    BenchSpec,
    train_step,
    training_flops,
    training_flops_by_op,
    training_step_seconds,
)

MODELS = (
    "convlstm",
    "sa-convlstm",
    "sa-convlstm-base",
    "cms-lstm",
    "modernn",
)
#: the label of the convlstm rows measured with ``conv_algorithm="direct"`` (conv2d, no Winograd)
DIRECT = "(direct conv)"
#: the modules that call ``attend`` (patched by name for the unpadded count)
ATTENDING = (
    "convrnn.blocks.attention",
    "convrnn.blocks.self_attention_memory",
    "convrnn.blocks.spatiotemporal_expression",
)


#: the fused attention's backward in FLOPs per forward FLOP (``torch.utils.flop_counter``'s formula)
BACKWARD_PER_FORWARD = 2.5
#: the square fp32 matrix product that measures the machine's peak rate (``--split``)
PEAK_SIZE = 2048


def matmul_peak_gflops(size: int = PEAK_SIZE, repeats: int = 5) -> float:
    """The best GFLOP/s of ``size x size`` float32 matrix products at the current thread count."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def unpadded_training_gmacs(padded: float, useful: float) -> float:
    """GMACs of an exact linear-memory attention's training step without padding.

    ``padded`` = the fused kernel's forward (``2 v N^2``: queries and keys padded to the
    values' width ``v``), ``useful`` = ``(a + v) N^2`` at their own widths. Forward:
    ``QK^T`` (a) and ``PV`` (v); backward: ``QK^T`` again (a), ``dP = dO V^T`` (v),
    ``dV`` (v), ``dQ`` (a), ``dK`` (a): ``4a + 3v = 4 useful - padded / 2`` (``3.5 x``
    the forward without padding).
    """
    return 4 * useful - padded / 2


def attention_op(op_name: str) -> bool:
    """Whether a profiler event or FLOP-counter key is the fused attention (forward or backward)."""
    return "scaled_dot_product" in op_name


def attention_share(spec: BenchSpec, model: torch.nn.Module, frames: torch.Tensor) -> float:
    """The fused attention's share of one profiled training step's operator time."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        train_step(model, frames, spec.input_length, optimizer)
    events = profile.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    return sum(e.self_cpu_time_total for e in events if attention_op(e.key)) / total


def plain_attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> torch.Tensor:
    """``softmax(scale q k^T) v`` with matrix products at the tensors' own widths (no padding)."""
    return torch.softmax(scale * q @ k.transpose(1, 2), dim=-1) @ v


def useful_macs(spec: BenchSpec) -> int:
    """MACs of one training forward with unpadded attention."""
    torch.manual_seed(0)
    model, frames = spec.build(), spec.frames()
    with ExitStack() as stack:
        for name in ATTENDING:
            stack.enter_context(mock.patch(f"{name}.attend", plain_attend))
        return training_flops(model, frames, spec.input_length) // 2


def measure(
    name: str,
    size: int,
    steps: int,
    options: dict | None = None,
    label: str | None = None,
    bf16: bool = False,
    split: bool = False,
) -> dict[str, float | str]:
    """One row: GMACs (counted, useful, attention's), step seconds (bf16 autocast with ``bf16``), s/GMAC.

    With ``split``, also the attention's share of a profiled step.
    """
    spec = BenchSpec(name, "ms-rnn", size, size, 10, 10, 1, "cpu", options)
    torch.manual_seed(0)
    model, frames = spec.build(), spec.frames()
    by_op = training_flops_by_op(model, frames, spec.input_length)
    macs = sum(by_op.values()) // 2
    attention = sum(n for op, n in by_op.items() if attention_op(op)) // 2
    useful = useful_macs(spec)
    precision = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()
    with precision:
        seconds = training_step_seconds(model, frames, spec.input_length, steps=steps, warmup=1)
        share = attention_share(spec, model, frames) if split else float("nan")
    return {
        "model": label or name,
        "gmacs": macs / 1e9,
        "useful_gmacs": useful / 1e9,
        "attention_gmacs": attention / 1e9,
        "attention_share": share,
        "step_s": seconds,
        "s_per_gmac": seconds / (macs / 1e9),
        "s_per_useful_gmac": seconds / (useful / 1e9),
    }


def baseline(rows: list[dict], name: str, label: str = "") -> dict:
    """The ConvLSTM row a model is compared with: ``convlstm``'s, or ``ms-convlstm``'s for MS twins."""
    twin = "ms-convlstm" if name.startswith("ms-") else "convlstm"
    nan = {"s_per_gmac": float("nan"), "s_per_useful_gmac": float("nan")}
    return next((r for r in rows if r["model"] == f"{twin}{label}"), nan)


def print_table(rows: list[dict]) -> None:
    """Seconds per GMAC (counted and useful) against ConvLSTM's, as it runs now and with conv2d."""
    print(
        "| model | GMACs | useful GMACs | step s | s/GMAC | vs convlstm | vs convlstm "
        f"{DIRECT} | s/useful GMAC | vs convlstm |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        base, direct = baseline(rows, r["model"]), baseline(rows, r["model"], f" {DIRECT}")
        ratio = r["s_per_gmac"] / base["s_per_gmac"]
        ratio_direct = r["s_per_gmac"] / direct["s_per_gmac"]
        useful = r["s_per_useful_gmac"] / base["s_per_useful_gmac"]
        print(
            f"| {r['model']} | {r['gmacs']:.1f} | {r['useful_gmacs']:.1f} | {r['step_s']:.2f} "
            f"| {r['s_per_gmac']:.4f} | {ratio:.2f}x | {ratio_direct:.2f}x "
            f"| {r['s_per_useful_gmac']:.4f} | {useful:.2f}x |"
        )


def print_split(rows: list[dict], peak_gflops: float) -> None:
    """Where the attention models' time goes, and the ratios left if all but attention ran at ConvLSTM's rate.

    ``floor``: the attention as measured; ``ideal``: an exact attention without padding at
    ``peak_gflops`` (the machine's matrix-product peak), per useful GMAC.
    """
    print(
        "\n| model | attention GMACs | attention share | attention s | attention GFLOP/s "
        "| rest s/GMAC | vs convlstm | floor vs convlstm | ideal kernel vs convlstm |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if not r["attention_gmacs"]:
            continue
        rate = baseline(rows, r["model"])["s_per_gmac"]
        attention_s = r["attention_share"] * r["step_s"]
        rest_gmacs = r["gmacs"] - r["attention_gmacs"]
        flops = r["attention_gmacs"] * 2 * (1 + BACKWARD_PER_FORWARD)
        rest = (r["step_s"] - attention_s) / rest_gmacs
        floor = (attention_s + rest_gmacs * rate) / r["gmacs"] / rate
        useful_attention = r["useful_gmacs"] - rest_gmacs
        ideal_s = 2 * unpadded_training_gmacs(r["attention_gmacs"], useful_attention) / peak_gflops
        ideal = (ideal_s + rest_gmacs * rate) / r["useful_gmacs"] / rate
        print(
            f"| {r['model']} | {r['attention_gmacs']:.1f} | {r['attention_share']:.0%} "
            f"| {attention_s:.2f} | {flops / attention_s:.0f} | {rest:.4f} | {rest / rate:.2f}x "
            f"| {floor:.2f}x | {ideal:.2f}x |"
        )


def main() -> None:
    """Measure every model and its MS twin; print the table with ratios to convlstm's."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--steps", type=int, default=1, help="timed steps per model (default 1)")
    p.add_argument(
        "--baseline-steps",
        type=int,
        default=3,
        help="timed steps of the ConvLSTM baselines (default 3)",
    )
    p.add_argument("--precision", choices=("32", "bf16"), default="32")
    p.add_argument("--split", action="store_true", help="profile where the time goes")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    bf16 = args.precision == "bf16"
    from threads import cpu_name  # benchmarks/threads.py, beside this script

    names = [m for base in args.models.split(",") for m in (base, f"ms-{base}")]
    rows = []
    for name in names:
        is_baseline = name.removeprefix("ms-") == "convlstm"
        steps = args.baseline_steps if is_baseline else args.steps
        rows.append(measure(name, args.size, steps, bf16=bf16, split=args.split))
        print(json.dumps(rows[-1]), flush=True)
        if is_baseline:  # and the baseline before Winograd, for comparison
            label = f"{name} {DIRECT}"
            direct = {"conv_algorithm": "direct"}
            rows.append(measure(name, args.size, steps, direct, label, bf16))
            print(json.dumps(rows[-1]), flush=True)
    if args.json:
        return
    print(
        f"\nCPU: {cpu_name()}, threads {torch.get_num_threads()}, torch {torch.__version__}, "
        f"precision {args.precision}"
    )
    print_table(rows)
    if args.split:
        peak = matmul_peak_gflops()
        print(
            f"\nfloat32 matrix-product peak ({PEAK_SIZE}x{PEAK_SIZE}, best of 5): {peak:.0f} GFLOP/s"
        )
        print_split(rows, peak)


if __name__ == "__main__":
    main()
