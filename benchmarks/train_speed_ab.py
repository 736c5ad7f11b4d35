"""One-thread CPU time of a training step, before against after a speed lever, alternated (issue 15).

Usage: python benchmarks/train_speed_ab.py [--lever conv|layout|precision]
       [--models convlstm,ms-convlstm,predrnn] [--rounds 2] [--memory] [--memory-rounds 1]

Levers: ``conv`` compares ``conv_algorithm="direct"`` (conv2d, the code before Winograd)
with ``"auto"`` (Winograd F(4x4, 3x3) where it pays); ``layout`` compares NCHW with
channels-last; ``precision`` compares float32 with bf16 autocast (``--precision bf16-mixed``,
what ``auto`` picks on a CPU with native bf16; Winograd is fp32-only, so the bf16 side
convolves by oneDNN). The ms-rnn preset, 64x64, 10 -> 10, batch 2, one thread; the same weights
in both (seeded); forward, L2 loss, backward and Adam (:func:`convrnn.cost.timing.train_step`),
one warm-up step each, then ``--rounds`` alternated rounds; medians of ``time.process_time``.
``--memory`` also prints the memory one step needs above the live state, each variant in a
fresh process (:func:`convrnn.cost.peak_memory_stats`, the method of the Table I memory section),
``--memory-rounds`` times alternated (the readings vary by several percent from process to
process): the medians and every reading, of the step's peak above the live state and of the
whole process's peak (which also holds what a kernel keeps between calls, e.g. Winograd's
scratch). glibc's heap fragments differently in each process; ``MALLOC_MMAP_THRESHOLD_=1048576``
in the environment serves every tensor of 1 MiB or more by its own mmap, which makes the
readings repeat to within about 1% and measures live memory rather than fragmentation.
``--rounds 0`` skips the timing.
Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import torch

from convrnn.cost import BenchSpec, peak_memory_stats
from convrnn.cost.timing import train_step


@dataclass(frozen=True)
class Variant:
    """One side of a lever: a label, build options, and the autocast dtype of its steps (or none)."""

    label: str
    options: dict = field(default_factory=dict)
    autocast: torch.dtype | None = None

    def precision(self) -> AbstractContextManager:
        """The context its steps run in: CPU autocast to its dtype, or nothing."""
        return nullcontext() if self.autocast is None else torch.autocast("cpu", self.autocast)


LEVERS = {
    "conv": (
        Variant("direct", {"conv_algorithm": "direct"}),
        Variant("winograd", {"conv_algorithm": "auto"}),
    ),
    "layout": (
        Variant("NCHW", {"channels_last": False}),
        Variant("channels-last", {"channels_last": True}),
    ),
    "precision": (Variant("fp32"), Variant("bf16-mixed", autocast=torch.bfloat16)),
}


def _setup(name: str, variant: Variant) -> tuple:
    spec = BenchSpec(name, "ms-rnn", 64, 64, 10, 10, 2, "cpu", variant.options)
    torch.manual_seed(0)
    model, frames = spec.build(), spec.frames()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    with variant.precision():
        train_step(model, frames, 10, optimizer)  # warm-up
    return model, frames, optimizer


def peak_mib(name: str, options: dict) -> tuple[float, float]:
    """MiB one training step needs above the live state (VmHWM in a fresh process, as Table I),
    and the process's whole peak during that step (kernels' scratch kept between calls included)."""
    spec = BenchSpec(name, "ms-rnn", 64, 64, 10, 10, 2, "cpu", options)
    stats = peak_memory_stats(spec)
    return stats["peak_memory_bytes"] / 2**20, stats["process_peak_bytes"] / 2**20


def main() -> None:
    """Print each model's before and after CPU seconds and their ratio (and peak memory)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--lever", choices=sorted(LEVERS), default="conv", help="what to compare (default conv)"
    )
    p.add_argument(
        "--models",
        default="convlstm,ms-convlstm,predrnn",
        help="comma-separated (default convlstm,ms-convlstm,predrnn)",
    )
    p.add_argument("--rounds", type=int, default=2, help="alternated timed rounds (default 2)")
    p.add_argument("--memory", action="store_true")
    p.add_argument(
        "--memory-rounds", type=int, default=1, help="alternated fresh-process peaks per variant"
    )
    args = p.parse_args()
    variants = LEVERS[args.lever]
    if args.memory and any(v.autocast for v in variants):
        p.error("--memory measures fp32 steps only; drop it for --lever precision")
    torch.set_num_threads(1)
    before, after = variants
    for name in args.models.split(","):
        line = f"{name}:"
        if args.rounds > 0:
            a, b = step_times(name, variants, args.rounds)
            line += f" {before.label} {a:.2f} s, {after.label} {b:.2f} s, ratio {b / a:.3f}"
        if args.memory:
            peaks: tuple[list[tuple[float, float]], ...] = ([], [])
            for _ in range(args.memory_rounds):
                for readings, variant in zip(peaks, variants, strict=True):
                    readings.append(peak_mib(name, variant.options))
            for label, i in (("step peak", 0), ("process peak", 1)):
                a, b = (statistics.median(r[i] for r in variant) for variant in peaks)
                runs = " / ".join(",".join(f"{r[i]:.0f}" for r in v) for v in peaks)
                line += f"; {label} median {a:,.0f} / {b:,.0f} MiB (runs {runs})"
        print(line, flush=True)


def step_times(name: str, variants: tuple[Variant, Variant], rounds: int) -> tuple[float, float]:
    """Median one-thread CPU seconds of a training step of each variant, alternated ``rounds`` times."""
    runs = [(*_setup(name, variant), variant, []) for variant in variants]
    for _ in range(rounds):
        for model, frames, optimizer, variant, times in runs:
            start = time.process_time()
            with variant.precision():
                train_step(model, frames, 10, optimizer)
            times.append(time.process_time() - start)
    return statistics.median(runs[0][-1]), statistics.median(runs[1][-1])


if __name__ == "__main__":
    main()
