"""Generate benchmarks/README.md: the MS-RNN Table I analogue and the effect of the speed/memory options.

Usage: python benchmarks/report.py [--out benchmarks/README.md] [--quick]

Run it alone on the machine (other processes distort the times). Ratios of
times are measured in one run, alternating A and B. Each ``measure_*`` function
returns rows of numbers; :class:`Table` turns rows into Markdown and
:func:`render` writes the page.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from report_markdown import Row, refresh_results, render, tables

from convrnn.blocks.winograd import winograd_applies, winograd_conv3x3
from convrnn.cost import (
    BenchSpec,
    activation_bytes,
    bench_row,
    max_square_size,
    peak_memory_stats,
    training_step_seconds,
)
from convrnn.io import write_text_atomic


@dataclass(frozen=True)
class Setting:
    """What the report measures: the models, the frame side, the attention section's sizes."""

    models: tuple[str, ...] = (
        "convlstm", "trajgru", "predrnn", "predrnn-v2", "predrnn++", "mim", "motionrnn",
        "preciplstm", "mk-lstm", "sa-convlstm", "sa-convlstm-base", "cms-lstm", "modernn",
    )  # fmt: skip
    size: int = 64
    input_length: int = 10
    output_length: int = 10
    #: the attention-memory section: the cms-lstm preset's 4 layers x 64 hidden at two sides
    attention_sizes: tuple[int, int] = (32, 64)
    attention_hidden: int = 64
    steps: int = 2  # timed training steps per measurement

    def spec(self, name: str, **options: Any) -> BenchSpec:
        """The ``ms-rnn`` preset of ``name`` at this setting's size, batch 1, on the CPU."""
        t_in, t_out = self.input_length, self.output_length
        return BenchSpec(
            name, "ms-rnn", self.size, self.size, t_in, t_out, 1, "cpu", options or None
        )

    def step_time(self, model: torch.nn.Module, frames: torch.Tensor, steps: int) -> float:
        """Median training step seconds after one warm-up step."""
        return training_step_seconds(model, frames, self.input_length, steps=steps, warmup=1)


#: ``--quick``: a smoke test with two models at 32x32
QUICK = Setting(
    models=("convlstm", "predrnn"), size=32, attention_sizes=(16, 32), attention_hidden=16
)


def alternate(
    a: Callable[[], float], b: Callable[[], float], repeats: int = 2
) -> tuple[float, float]:
    """Median times of ``a()`` and ``b()``, measured A, B, A, B, ..."""
    ta, tb = [], []
    for _ in range(repeats):
        ta.append(a())
        tb.append(b())
    return statistics.median(ta), statistics.median(tb)


def measure_table_one(s: Setting) -> Iterable[Row]:
    """Per model: the bench rows (with step time) of the flat model and its MS twin."""
    for name in s.models:
        flat = bench_row(s.spec(name), timing=False, peak_memory=False)
        ms = bench_row(s.spec(f"ms-{name}"), timing=False, peak_memory=False)
        for row, n in ((flat, name), (ms, f"ms-{name}")):
            model, frames = s.spec(n).build(), s.spec(n).frames()
            row["step_seconds"] = s.step_time(model, frames, s.steps)
            del model
            gc.collect()
        yield {"name": name, "flat": flat, "ms": ms}


def measure_peak(s: Setting, table_one: list[Row]) -> Iterable[Row]:
    """Activation bytes (from Table I where measured there) and the peak of a training step."""
    known = {r["name"]: r for r in table_one}
    for name in ("convlstm", "ms-convlstm", "predrnn", "ms-predrnn"):
        flat = name.removeprefix("ms-")
        if flat in known:
            act = known[flat]["ms" if name.startswith("ms-") else "flat"]["activation_bytes"]
        else:
            act = activation_bytes(s.spec(name).build(), s.spec(name).frames(), s.input_length)
        yield {"name": name, "activation_bytes": act, **peak_memory_stats(s.spec(name))}


def measure_checkpointing(s: Setting) -> Iterable[Row]:
    """Activation bytes and step time without and with ``checkpointing="step"`` (same weights)."""
    for name in ("ms-convlstm", "predrnn"):
        plain, ckpt = s.spec(name).build(), s.spec(name, checkpointing="step").build()
        ckpt.load_state_dict(plain.state_dict())
        frames = s.spec(name).frames()
        a_plain = activation_bytes(plain, frames, s.input_length)
        a_ckpt = activation_bytes(ckpt, frames, s.input_length)
        t_plain, t_ckpt = alternate(lambda m=plain, f=frames: s.step_time(m, f, s.steps),
                                    lambda m=ckpt, f=frames: s.step_time(m, f, s.steps))  # fmt: skip
        yield {"name": name, "act": a_plain, "act_ckpt": a_ckpt, "t": t_plain, "t_ckpt": t_ckpt}


def measure_channels_last(s: Setting) -> Iterable[Row]:
    """Step time in NCHW and NHWC (same weights)."""
    for name in ("convlstm", "ms-convlstm"):
        plain, nhwc = s.spec(name).build(), s.spec(name, channels_last=True).build()
        nhwc.load_state_dict(plain.state_dict())  # copy_ keeps each parameter's NHWC layout
        frames = s.spec(name).frames()
        t_plain, t_nhwc = alternate(lambda m=plain, f=frames: s.step_time(m, f, s.steps),
                                    lambda m=nhwc, f=frames: s.step_time(m, f, s.steps))  # fmt: skip
        yield {"name": name, "t": t_plain, "t_nhwc": t_nhwc}


def measure_attention(s: Setting) -> Iterable[Row]:
    """Saved bytes of the attention models at the two sides (``benchmarks/attention_memory.py``)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from attention_memory import measure

    small, large = s.attention_sizes
    for name in ("cms-lstm", "sa-convlstm"):
        rows = measure(name, [small, large], "cms-lstm", s.attention_hidden, layers=4, frames=2)
        yield {"name": name, "small": rows[0]["saved_bytes"], "large": rows[1]["saved_bytes"],
               "softmax": rows[1]["softmax_bytes"]}  # fmt: skip


def bf16_step(s: Setting, model: torch.nn.Module, frames: torch.Tensor) -> float:
    """Seconds of one training step whose forward runs under bf16 autocast."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    start = time.perf_counter()
    with torch.autocast("cpu", torch.bfloat16):
        loss = (model(frames, s.input_length) - frames[:, 1:]).float().square().mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    return time.perf_counter() - start


def measure_precision(s: Setting) -> Iterable[Row]:
    """fp32 and bf16-mixed step time, and the prediction MSE of the same weights in each."""
    for name in ("convlstm", "ms-convlstm", "predrnn"):
        model, frames = s.spec(name).build(), s.spec(name).frames()
        bf16_step(s, model, frames)  # warm-up
        t32, t16 = alternate(lambda m=model, f=frames: s.step_time(m, f, 1),
                             lambda m=model, f=frames: bf16_step(s, m, f))  # fmt: skip
        model.eval()
        inputs, truth = frames[:, : s.input_length], frames[:, s.input_length :]
        with torch.no_grad():
            p32 = model.predict(inputs, s.output_length)
            with torch.autocast("cpu", torch.bfloat16):
                p16 = model.predict(inputs, s.output_length).float()
        mse32 = (p32 - truth).square().flatten(2).sum(-1).mean().item()
        mse16 = (p16 - truth).square().flatten(2).sum(-1).mean().item()
        yield {"name": name, "t32": t32, "t16": t16, "mse32": mse32, "mse16": mse16}


def conv_only_seconds(
    s: Setting, model: torch.nn.Module, frames: torch.Tensor, winograd: bool
) -> float:
    """Forward + backward of a convlstm step's convolutions alone (gates fused over [x, h]), nothing else.

    ``winograd``: the 3x3 convolutions by Winograd where it applies, as an eager model runs them.
    """
    depth, hidden, side = model.stack.depth, model.stack.channels, s.size
    x = torch.randn(1, 2 * hidden, side, side, requires_grad=True)
    w = torch.randn(4 * hidden, 2 * hidden, 3, 3, requires_grad=True)
    xe = torch.randn(1, 1, side, side)
    we = torch.randn(hidden, 1, 1, 1, requires_grad=True)
    wh = torch.randn(1, hidden, 1, 1, requires_grad=True)
    h = torch.randn(1, hidden, side, side, requires_grad=True)
    start = time.perf_counter()
    for _ in range(frames.shape[1] - 1):
        outs = [
            winograd_conv3x3(w, None, x)
            if winograd and winograd_applies(w, (x,))
            else F.conv2d(x, w, padding=1)
            for _ in range(depth)
        ]
        outs += [F.conv2d(xe, we), F.conv2d(h, wh)]
        torch.autograd.backward(outs, [torch.ones_like(o) for o in outs])
    return time.perf_counter() - start


def measure_efficiency(s: Setting) -> Iterable[Row]:
    """A convlstm training step against its convolutions alone, eager and compiled."""
    frames = s.spec("convlstm").frames()
    for label, options in (("eager", {}), ("compile=True", {"compile": True})):
        model = s.spec("convlstm", **options).build()
        s.step_time(model, frames, 1)  # warm-up (and compilation)
        t_step, t_conv = alternate(lambda m=model: s.step_time(m, frames, s.steps),
                                   lambda m=model, w=not options: conv_only_seconds(s, m, frames, w))  # fmt: skip
        yield {"name": f"convlstm, {label}", "t_step": t_step, "t_conv": t_conv}


def measure_max_size(s: Setting) -> Iterable[Row]:
    """The largest square side at 16 GB and 40 GB, and the fit error at the third probe."""
    for name in (
        "convlstm",
        "ms-convlstm",
        "predrnn++",
        "ms-predrnn++",
        "motionrnn",
        "ms-motionrnn",
    ):
        fits = [max_square_size(s.spec(name), int(g * 2**30), probe_sizes=(32, 64, 96))
                for g in (16, 40)]  # fmt: skip
        yield {
            "name": name,
            "sides": [f["max_side"] for f in fits],
            "fit_error": fits[0]["fit_error"],
        }


def collect(s: Setting, section: str, rows: Iterable[Row]) -> list[Row]:
    """All of ``rows``, each printed as its Markdown line as soon as it is measured."""
    table, out = tables(s)[section], []
    for row in rows:
        out.append(row)
        print(table.line(row), flush=True)
    return out


def measure(s: Setting) -> dict[str, list[Row]]:
    """Every section's rows, in the order the page shows them."""
    results = {"table_one": collect(s, "table_one", measure_table_one(s))}
    results["peak"] = collect(s, "peak", measure_peak(s, results["table_one"]))
    results["checkpointing"] = collect(s, "checkpointing", measure_checkpointing(s))
    results["channels_last"] = collect(s, "channels_last", measure_channels_last(s))
    results["attention"] = collect(s, "attention", measure_attention(s))
    results["precision"] = collect(s, "precision", measure_precision(s))
    results["efficiency"] = collect(s, "efficiency", measure_efficiency(s))
    results["max_size"] = collect(s, "max_size", measure_max_size(s))
    return results


def main() -> None:
    """Measure, then write the page and the Table I rows as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(Path(__file__).with_name("README.md")))
    parser.add_argument("--steps", type=int, default=2, help="timed training steps per measurement")
    parser.add_argument("--quick", action="store_true", help="smoke test: two models at 32x32")
    parser.add_argument(
        "--results-only",
        action="store_true",
        help="measure nothing: re-read results/*.md into the page at --out",
    )
    args = parser.parse_args()
    if args.results_only:
        page = Path(args.out)
        write_text_atomic(page, refresh_results(page.read_text()))
        print(f"refreshed the results sections of {args.out}")
        return
    setting = replace(QUICK if args.quick else Setting(), steps=args.steps)
    torch.manual_seed(0)
    started = time.strftime("%Y-%m-%d %H:%M")
    sys.path.insert(0, str(Path(__file__).parent))
    from threads import cpu_description  # benchmarks/threads.py, beside this script

    machine = f"{cpu_description()}, torch {torch.__version__}"
    results = measure(setting)
    write_text_atomic(args.out, render(setting, results, started, machine))
    data = {r["name"]: {"flat": r["flat"], "ms": r["ms"]} for r in results["table_one"]}
    write_text_atomic(Path(args.out).with_suffix(".json"), json.dumps(data, indent=2, default=str))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
