"""Generate benchmarks/README.md: the MS-RNN Table I analogue and the effect of the speed/memory options.

Usage: python benchmarks/report.py [--out benchmarks/README.md] [--quick]

Run it alone on the machine (other processes distort the times). Ratios of
times are measured in one run, alternating A and B.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from convrnn.cost import BenchSpec, activation_bytes, bench_row, max_square_size, peak_memory_bytes

MODELS = [
    "convlstm", "trajgru", "predrnn", "predrnn-v2", "predrnn++", "mim", "motionrnn", "preciplstm",
    "mk-lstm", "sa-convlstm", "sa-convlstm-base", "cms-lstm", "modernn",
]  # fmt: skip
T_IN, T_OUT, SIZE = 10, 10, 64


def mib(nbytes: float) -> str:
    return f"{nbytes / 2**20:,.0f}"


def spec(name: str, **options) -> BenchSpec:
    return BenchSpec(name, "ms-rnn", SIZE, SIZE, T_IN, T_OUT, 1, "cpu", options or None)


def step_time(model, frames, steps: int) -> float:
    from convrnn.cost import training_step_seconds

    return training_step_seconds(model, frames, T_IN, steps=steps, warmup=1)


def table_one(steps: int) -> tuple[list[str], dict[str, dict]]:
    rows, data = [], {}
    header = (
        "| model | params | GMACs | activation MiB | step s | MS twin GMACs | MS activation MiB | "
        "MS step s | MS / flat activations |\n|---|---|---|---|---|---|---|---|---|"
    )
    for name in MODELS:
        flat = bench_row(spec(name), timing=False, peak_memory=False)
        ms = bench_row(spec(f"ms-{name}"), timing=False, peak_memory=False)
        for row, n in ((flat, name), (ms, f"ms-{name}")):
            model, frames = spec(n).build(), spec(n).frames()
            row["step_seconds"] = step_time(model, frames, steps)
            del model
            gc.collect()
        data[name] = {"flat": flat, "ms": ms}
        rows.append(
            f"| {name} | {flat['params']:,} | {flat['macs'] / 1e9:.1f} | {mib(flat['activation_bytes'])} | "
            f"{flat['step_seconds']:.2f} | {ms['macs'] / 1e9:.1f} | {mib(ms['activation_bytes'])} | "
            f"{ms['step_seconds']:.2f} | {ms['activation_bytes'] / flat['activation_bytes']:.3f} |"
        )
        print(rows[-1], flush=True)
    return [header, *rows], data


def alternate(a, b, repeats: int = 2) -> tuple[float, float]:
    """Median times of ``a()`` and ``b()``, measured A, B, A, B, ..."""
    ta, tb = [], []
    for _ in range(repeats):
        ta.append(a())
        tb.append(b())
    return statistics.median(ta), statistics.median(tb)


def checkpointing_rows(steps: int) -> list[str]:
    out = ["| model | activation MiB | with checkpointing | ratio | step s | with checkpointing | time ratio |",
           "|---|---|---|---|---|---|---|"]  # fmt: skip
    for name in ("ms-convlstm", "predrnn"):
        plain, ckpt = spec(name).build(), spec(name, checkpointing="step").build()
        ckpt.load_state_dict(plain.state_dict())
        frames = spec(name).frames()
        a_plain, a_ckpt = (
            activation_bytes(plain, frames, T_IN),
            activation_bytes(ckpt, frames, T_IN),
        )
        t_plain, t_ckpt = alternate(lambda m=plain, f=frames: step_time(m, f, steps),
                                    lambda m=ckpt, f=frames: step_time(m, f, steps))  # fmt: skip
        out.append(
            f"| {name} | {mib(a_plain)} | {mib(a_ckpt)} | {a_ckpt / a_plain:.3f} | {t_plain:.2f} | "
            f"{t_ckpt:.2f} | {t_ckpt / t_plain:.2f} |"
        )
        print(out[-1], flush=True)
    return out


def bf16_step(model, frames) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    start = time.perf_counter()
    with torch.autocast("cpu", torch.bfloat16):
        loss = (model(frames, T_IN) - frames[:, 1:]).float().square().mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    return time.perf_counter() - start


def precision_rows() -> list[str]:
    out = ["| model | fp32 step s | bf16-mixed step s | speed-up | prediction MSE change (bf16 - fp32) |",
           "|---|---|---|---|---|"]  # fmt: skip
    for name in ("convlstm", "ms-convlstm", "predrnn"):
        model, frames = spec(name).build(), spec(name).frames()
        bf16_step(model, frames)  # warm-up
        t32, t16 = alternate(
            lambda m=model, f=frames: step_time(m, f, 1), lambda m=model, f=frames: bf16_step(m, f)
        )
        model.eval()
        with torch.no_grad():
            p32 = model.predict(frames[:, :T_IN], T_OUT)
            with torch.autocast("cpu", torch.bfloat16):
                p16 = model.predict(frames[:, :T_IN], T_OUT).float()
        truth = frames[:, T_IN:]
        mse32 = (p32 - truth).square().flatten(2).sum(-1).mean().item()
        mse16 = (p16 - truth).square().flatten(2).sum(-1).mean().item()
        out.append(
            f"| {name} | {t32:.2f} | {t16:.2f} | {t32 / t16:.2f}x | {mse16 - mse32:+.3f} (of {mse32:.1f}) |"
        )
        print(out[-1], flush=True)
    return out


def conv_only_seconds(model, frames) -> float:
    """Forward + backward of exactly the convolutions a convlstm training step runs, nothing else."""
    depth, hidden = model.stack.depth, model.stack.channels
    steps = frames.shape[1] - 1
    x = torch.randn(1, 2 * hidden, SIZE, SIZE, requires_grad=True)
    w = torch.randn(4 * hidden, 2 * hidden, 3, 3, requires_grad=True)
    xe = torch.randn(1, 1, SIZE, SIZE)
    we = torch.randn(hidden, 1, 1, 1, requires_grad=True)
    wh = torch.randn(1, hidden, 1, 1, requires_grad=True)
    h = torch.randn(1, hidden, SIZE, SIZE, requires_grad=True)
    start = time.perf_counter()
    for _ in range(steps):
        outs = [F.conv2d(x, w, padding=1) for _ in range(depth)]
        outs += [F.conv2d(xe, we), F.conv2d(h, wh)]
        torch.autograd.backward(outs, [torch.ones_like(o) for o in outs])
    return time.perf_counter() - start


def efficiency_rows(steps: int) -> list[str]:
    out = ["| variant | step s | convolutions alone s | ratio |", "|---|---|---|---|"]
    frames = spec("convlstm").frames()
    for label, options in (("eager", {}), ("compile=True", {"compile": True})):
        model = spec("convlstm", **options).build()
        step_time(model, frames, 1)  # warm-up (and compilation)
        t_step, t_conv = alternate(lambda m=model: step_time(m, frames, steps),
                                   lambda m=model: conv_only_seconds(m, frames))  # fmt: skip
        out.append(f"| convlstm, {label} | {t_step:.2f} | {t_conv:.2f} | {t_step / t_conv:.2f} |")
        print(out[-1], flush=True)
    return out


def max_size_rows() -> list[str]:
    out = ["| model | max side at 16 GB | max side at 40 GB |", "|---|---|---|"]
    for name in (
        "convlstm",
        "ms-convlstm",
        "predrnn++",
        "ms-predrnn++",
        "motionrnn",
        "ms-motionrnn",
    ):
        sides = [max_square_size(spec(name), int(g * 2**30), probe_sizes=(32, 64, 96))["max_side"]
                 for g in (16, 40)]  # fmt: skip
        out.append(f"| {name} | {sides[0]} | {sides[1]} |")
        print(out[-1], flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(Path(__file__).with_name("README.md")))
    parser.add_argument("--steps", type=int, default=2, help="timed training steps per measurement")
    parser.add_argument("--quick", action="store_true", help="smoke test: two models at 32x32")
    args = parser.parse_args()
    if args.quick:
        global SIZE, MODELS
        SIZE, MODELS = 32, ["convlstm", "predrnn"]
    torch.manual_seed(0)
    started = time.strftime("%Y-%m-%d %H:%M")
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}"
    peak = {n: peak_memory_bytes(spec(n)) for n in ("convlstm", "ms-convlstm")}
    table, data = table_one(args.steps)
    ckpt = checkpointing_rows(args.steps)
    prec = precision_rows()
    eff = efficiency_rows(args.steps)
    sizes = max_size_rows()
    text = f"""# convrnn benchmarks

Generated by `python benchmarks/report.py` on {started}: {machine}, threads {torch.get_num_threads()}.
Every figure below comes from that one run; times are CPU seconds on that machine and only their
ratios carry over to other machines.

## MS-RNN Table I analogue

Preset `ms-rnn` (6 layers x 64 hidden, kernel 3, no patching), 64x64 frames, 10 -> 10 (20 frames),
batch 1. GMACs: one training forward, counted by PyTorch's FLOP counter (MACs = FLOPs / 2, the unit of
the OpenSTL and MS-RNN tables). Activation MiB: bytes saved for backward in that forward (exact,
device-independent). Step s: median training step (forward, loss, backward, Adam) after warm-up.
The MS twin has exactly the parameters of its flat model (LayerNorm models excepted: their norms
follow each layer's size).

{chr(10).join(table)}

Peak memory of a training step (RSS growth in a fresh process, CPU): convlstm {mib(peak["convlstm"])} MiB,
ms-convlstm {mib(peak["ms-convlstm"])} MiB.

## Activation checkpointing per time step (`checkpointing="step"`)

{chr(10).join(ckpt)}

## bf16 mixed precision on the CPU

bf16 autocast (`--precision bf16-mixed`); the prediction MSE change is that of the same untrained
weights predicting 10 frames, per-frame-sum MSE, fp32 vs bf16.

{chr(10).join(prec)}

## Efficiency: training step time / time of its convolutions alone

The convolutions of a `convlstm` (ms-rnn preset) training step, run alone at the same shapes
(forward and backward), against the full step, measured alternately in one run.

{chr(10).join(eff)}

## Largest square image that trains at batch 1 (MS-RNN Fig. 1 analogue)

`convrnn bench --max-size --budget 16GB|40GB`: activation bytes measured at 32, 64 and 96 pixels and
fitted exactly as a + b H W; memory = (2 + 2 Adam moments) x 4 x params + 2 x activations (MS-RNN Eq. 2).

{chr(10).join(sizes)}
"""
    Path(args.out).write_text(text)
    Path(args.out).with_suffix(".json").write_text(json.dumps(data, indent=2, default=str))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
