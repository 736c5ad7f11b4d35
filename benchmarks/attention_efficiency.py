"""Seconds per GMAC of the attention and context models against ConvLSTM (ms-rnn preset, 64x64).

Usage: python benchmarks/attention_efficiency.py [--models convlstm,sa-convlstm,...] [--steps 1]
       [--size 64] [--precision 32|bf16] [--json]

Per model (and its MS twin): GMACs of one training forward counted by PyTorch's FLOP counter
(:func:`convrnn.cost.training_flops`, which counts the CPU's fused attention too); the same
count with attention computed without the zero padding that the fused kernel needs when the
queries are narrower than the values ("useful" GMACs); the median training-step seconds
(forward, L2 loss, backward, Adam; after one warm-up step); and seconds per GMAC relative to
``convlstm``'s (the issue's target: within 1.5x), and to ``convlstm``'s with
``conv_algorithm="direct"`` (conv2d: the baseline before Winograd). 10 -> 10 frames, batch 1, the threads torch
starts with. ``--precision bf16`` times the steps under bf16 autocast (what ``precision: auto``
trains with on a CPU with native bf16; Winograd is fp32-only, so every convolution is oneDNN's
there); the counts stay those of the fp32 forward. Run it alone on the machine; a run of the defaults takes about 20 minutes on
2 cores.
"""

from __future__ import annotations

import argparse
import json
from contextlib import ExitStack, nullcontext
from unittest import mock

import torch

from convrnn.cost import BenchSpec, training_flops, training_step_seconds

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
) -> dict[str, float | str]:
    """One row: GMACs (counted, useful), step seconds (bf16 autocast with ``bf16``), seconds per GMAC."""
    spec = BenchSpec(name, "ms-rnn", size, size, 10, 10, 1, "cpu", options)
    torch.manual_seed(0)
    model, frames = spec.build(), spec.frames()
    macs = training_flops(model, frames, spec.input_length) // 2
    useful = useful_macs(spec)
    precision = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()
    with precision:
        seconds = training_step_seconds(model, frames, spec.input_length, steps=steps, warmup=1)
    return {
        "model": label or name,
        "gmacs": macs / 1e9,
        "useful_gmacs": useful / 1e9,
        "step_s": seconds,
        "s_per_gmac": seconds / (macs / 1e9),
        "s_per_useful_gmac": seconds / (useful / 1e9),
    }


def main() -> None:
    """Measure every model and its MS twin; print the table with ratios to convlstm's."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--steps", type=int, default=1, help="timed steps per model (default 1)")
    p.add_argument("--precision", choices=("32", "bf16"), default="32")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    bf16 = args.precision == "bf16"
    from threads import cpu_name  # benchmarks/threads.py, beside this script

    names = [m for base in args.models.split(",") for m in (base, f"ms-{base}")]
    rows = []
    for name in names:
        rows.append(measure(name, args.size, args.steps, bf16=bf16))
        print(json.dumps(rows[-1]), flush=True)
        if name.removeprefix("ms-") == "convlstm":  # the baseline before Winograd, for comparison
            label = f"{name} {DIRECT}"
            direct = {"conv_algorithm": "direct"}
            rows.append(measure(name, args.size, args.steps, direct, label, bf16))
            print(json.dumps(rows[-1]), flush=True)
    if args.json:
        return
    ref = {r["model"]: r for r in rows}
    print(
        f"\nCPU: {cpu_name()}, threads {torch.get_num_threads()}, torch {torch.__version__}, "
        f"precision {args.precision}"
    )
    print(
        "| model | GMACs | useful GMACs | step s | s/GMAC | vs convlstm | vs convlstm "
        f"{DIRECT} | s/useful GMAC | vs convlstm |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    nan = {"s_per_gmac": float("nan"), "s_per_useful_gmac": float("nan")}
    for r in rows:
        twin = "ms-convlstm" if r["model"].startswith("ms-") else "convlstm"
        base, direct = ref.get(twin, nan), ref.get(f"{twin} {DIRECT}", nan)
        ratio = r["s_per_gmac"] / base["s_per_gmac"]
        ratio_direct = r["s_per_gmac"] / direct["s_per_gmac"]
        useful = r["s_per_useful_gmac"] / base["s_per_useful_gmac"]
        print(
            f"| {r['model']} | {r['gmacs']:.1f} | {r['useful_gmacs']:.1f} | {r['step_s']:.2f} "
            f"| {r['s_per_gmac']:.4f} | {ratio:.2f}x | {ratio_direct:.2f}x "
            f"| {r['s_per_useful_gmac']:.4f} | {useful:.2f}x |"
        )


if __name__ == "__main__":
    main()
