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
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from convrnn.cost import BenchSpec, activation_bytes, bench_row, max_square_size, peak_memory_stats

MODELS = [
    "convlstm", "trajgru", "predrnn", "predrnn-v2", "predrnn++", "mim", "motionrnn", "preciplstm",
    "mk-lstm", "sa-convlstm", "sa-convlstm-base", "cms-lstm", "modernn",
]  # fmt: skip
T_IN, T_OUT, SIZE = 10, 10, 64
#: the attention-memory section: the cms-lstm preset's 4 layers x 64 hidden at two sides, no patching
ATTENTION_SIZES, ATTENTION_HIDDEN = (32, 64), 64


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
        "| model | params | MS params | GMACs | activation MiB | step s | MS twin GMACs | "
        "MS activation MiB | MS step s | MS / flat activations |\n|---|---|---|---|---|---|---|---|---|---|"
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
        ms_params = "same" if ms["params"] == flat["params"] else f"{ms['params']:,}"
        rows.append(
            f"| {name} | {flat['params']:,} | {ms_params} | {flat['macs'] / 1e9:.1f} | "
            f"{mib(flat['activation_bytes'])} | "
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


def channels_last_rows(steps: int) -> list[str]:
    out = ["| model | step s | with channels_last | time ratio |", "|---|---|---|---|"]
    for name in ("convlstm", "ms-convlstm"):
        plain, nhwc = spec(name).build(), spec(name, channels_last=True).build()
        nhwc.load_state_dict(plain.state_dict())  # copy_ keeps each parameter's NHWC layout
        frames = spec(name).frames()
        t_plain, t_nhwc = alternate(lambda m=plain, f=frames: step_time(m, f, steps),
                                    lambda m=nhwc, f=frames: step_time(m, f, steps))  # fmt: skip
        out.append(f"| {name} | {t_plain:.2f} | {t_nhwc:.2f} | {t_nhwc / t_plain:.2f} |")
        print(out[-1], flush=True)
    return out


def attention_rows() -> list[str]:
    sys.path.insert(0, str(Path(__file__).parent))
    from attention_memory import measure

    small, large = ATTENTION_SIZES
    out = [f"| model | saved MiB at {small}x{small} | at {large}x{large} | ratio | "
           f"stored softmax MiB at {large}x{large} (not kept) |", "|---|---|---|---|---|"]  # fmt: skip
    for name in ("cms-lstm", "sa-convlstm"):
        rows = measure(name, [small, large], "cms-lstm", ATTENTION_HIDDEN, layers=4, frames=2)
        a, b = rows[0]["saved_bytes"], rows[1]["saved_bytes"]
        out.append(
            f"| {name} | {a / 2**20:,.1f} | {b / 2**20:,.1f} | {b / a:.2f}x | "
            f"{rows[1]['softmax_bytes'] / 2**20:,.0f} |"
        )
        print(out[-1], flush=True)
    return out


def peak_rows(data: dict[str, dict]) -> tuple[list[str], set[str]]:
    out = ["| model | activation MiB | peak MiB of a training step | peak / activations |",
           "|---|---|---|---|"]  # fmt: skip
    methods = set()
    for name in ("convlstm", "ms-convlstm", "predrnn", "ms-predrnn"):
        flat = name.removeprefix("ms-")
        if flat in data:
            act = data[flat]["ms" if name.startswith("ms-") else "flat"]["activation_bytes"]
        else:
            act = activation_bytes(spec(name).build(), spec(name).frames(), T_IN)
        peak = peak_memory_stats(spec(name))  # a fresh process per model
        methods.add(peak["peak_memory_method"])
        nbytes = peak["peak_memory_bytes"]
        shown = ("-", "-") if nbytes is None else (mib(nbytes), f"{nbytes / act:.2f}")
        out.append(f"| {name} | {mib(act)} | {shown[0]} | {shown[1]} |")
        print(out[-1], flush=True)
    return out, methods


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
    """Forward + backward of a convlstm step's convolutions alone (gates fused over [x, h]), nothing else."""
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
    out = [
        "| model | max side at 16 GB | max side at 40 GB | fit error at 96 |",
        "|---|---|---|---|",
    ]
    for name in (
        "convlstm",
        "ms-convlstm",
        "predrnn++",
        "ms-predrnn++",
        "motionrnn",
        "ms-motionrnn",
    ):
        fits = [max_square_size(spec(name), int(g * 2**30), probe_sizes=(32, 64, 96))
                for g in (16, 40)]  # fmt: skip
        sides = ["-" if f["max_side"] is None else f["max_side"] for f in fits]
        error = "-" if fits[0]["fit_error"] is None else f"{fits[0]['fit_error']:.2%}"
        out.append(f"| {name} | {sides[0]} | {sides[1]} | {error} |")
        print(out[-1], flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(Path(__file__).with_name("README.md")))
    parser.add_argument("--steps", type=int, default=2, help="timed training steps per measurement")
    parser.add_argument("--quick", action="store_true", help="smoke test: two models at 32x32")
    args = parser.parse_args()
    if args.quick:
        global SIZE, MODELS, ATTENTION_SIZES, ATTENTION_HIDDEN
        SIZE, MODELS = 32, ["convlstm", "predrnn"]
        ATTENTION_SIZES, ATTENTION_HIDDEN = (16, 32), 16
    torch.manual_seed(0)
    started = time.strftime("%Y-%m-%d %H:%M")
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}"
    table, data = table_one(args.steps)
    peak, peak_methods = peak_rows(data)
    ckpt = checkpointing_rows(args.steps)
    nhwc = channels_last_rows(args.steps)
    attention = attention_rows()
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
MS params: "same" where the MS twin has exactly the parameters of its flat model (every model under
this preset, which has no LayerNorm; with LayerNorm the norms follow each layer's size).

{chr(10).join(table)}

## Peak memory of a training step

One full training step (forward, loss, backward and Adam's `optimizer.step()`), each model in a
fresh process, after one warm-up step: the memory the step needs on top of the weights, Adam's
moments and the frames (saved activations, their gradients, the weight gradients, workspace).
Measured as the RSS high-water mark (`VmHWM`, reset through `/proc/self/clear_refs` after the
warm-up) minus the RSS before the step; method: {", ".join(sorted(peak_methods))}. Same setting as
Table I.

{chr(10).join(peak)}

## Activation checkpointing per time step (`checkpointing="step"`)

{chr(10).join(ckpt)}

## Channels-last memory format (`channels_last=True`)

Same weights in NCHW and NHWC, training step time measured alternately in one run (ms-rnn preset,
64x64, 10 -> 10, batch 1).

{chr(10).join(nhwc)}

## Attention memory: linear in the number of pixels (SA-ConvLSTM, CMS-LSTM)

Bytes saved for backward by one training step (input_length 1, 2 frames, batch 1) of `cms-lstm` and
`sa-convlstm` at the `cms-lstm` preset's 4 layers x {ATTENTION_HIDDEN} hidden, without patching
(`patch_size=1`, so the attention sees all H x W positions; LayerNorm built for each size), from
`benchmarks/attention_memory.py`. Doubling the side multiplies the pixels by 4: linear memory
gives a ratio of about 4x (target <= 5x), attention that kept its softmax matrices would give 16x.
The last column is what those matrices alone would take at the larger size if they were stored.

{chr(10).join(attention)}

## bf16 mixed precision on the CPU

bf16 autocast (`--precision bf16-mixed`); the prediction MSE change is that of the same untrained
weights predicting 10 frames, per-frame-sum MSE, fp32 vs bf16.

{chr(10).join(prec)}

## Efficiency: training step time / time of its convolutions alone

The convolutions of a `convlstm` (ms-rnn preset) training step, run alone at the same shapes
(forward and backward), against the full step, measured alternately in one run. The gate
convolutions alone run as one convolution over [x, h] per layer, the fastest form of the same
multiply-adds (the model runs one per input, which saves fewer activations).

{chr(10).join(eff)}

## Largest square image that trains at batch 1 (MS-RNN Fig. 1 analogue)

`convrnn bench --max-size --budget 16GB|40GB`: parameters and activation bytes measured at 32 and 64
pixels and fitted as a + b H W (the parameters grow with H W only for LayerNorm models); memory =
(2 + 2 Adam moments) x 4 x params + 2 x activations (MS-RNN Eq. 2). Fit error: the relative error of
that memory model at the third probe, 96 pixels.

{chr(10).join(sizes)}
"""
    Path(args.out).write_text(text)
    Path(args.out).with_suffix(".json").write_text(json.dumps(data, indent=2, default=str))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
