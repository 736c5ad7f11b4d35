"""One-thread CPU time of a training step, before against after a speed lever, alternated (issue 15).

Usage: python benchmarks/train_speed_ab.py [--lever conv|layout] [--models convlstm,ms-convlstm,predrnn]
       [--rounds 2] [--memory]

Levers: ``conv`` compares ``conv_algorithm="direct"`` (conv2d, the code before Winograd)
with ``"auto"`` (Winograd F(4x4, 3x3) where it pays); ``layout`` compares NCHW with
channels-last. The ms-rnn preset, 64x64, 10 -> 10, batch 2, one thread; the same weights
in both (seeded); forward, L2 loss, backward and Adam (:func:`convrnn.cost.timing.train_step`),
one warm-up step each, then ``--rounds`` alternated rounds; medians of ``time.process_time``.
``--memory`` also prints the memory one step needs above the live state, each variant in a
fresh process (:func:`convrnn.cost.peak_memory_stats`, the method of the Table I memory section).
Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from convrnn.cost import BenchSpec, peak_memory_stats
from convrnn.cost.timing import train_step

LEVERS = {
    "conv": ("direct", {"conv_algorithm": "direct"}, "winograd", {"conv_algorithm": "auto"}),
    "layout": ("NCHW", {"channels_last": False}, "channels-last", {"channels_last": True}),
}


def _setup(name: str, options: dict) -> tuple:
    spec = BenchSpec(name, "ms-rnn", 64, 64, 10, 10, 2, "cpu", options)
    torch.manual_seed(0)
    model, frames = spec.build(), spec.frames()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    train_step(model, frames, 10, optimizer)  # warm-up
    return model, frames, optimizer


def peak_mib(name: str, options: dict) -> float:
    """MiB one training step needs above the live state (VmHWM in a fresh process, as Table I)."""
    spec = BenchSpec(name, "ms-rnn", 64, 64, 10, 10, 2, "cpu", options)
    return peak_memory_stats(spec)["peak_memory_bytes"] / 2**20


def main() -> None:
    """Print each model's before and after CPU seconds and their ratio (and peak memory)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lever", choices=sorted(LEVERS), default="conv")
    p.add_argument("--models", default="convlstm,ms-convlstm,predrnn")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--memory", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(1)
    before, before_opts, after, after_opts = LEVERS[args.lever]
    for name in args.models.split(","):
        runs = {key: (*_setup(name, opts), []) for key, opts in ((0, before_opts), (1, after_opts))}
        for _ in range(args.rounds):
            for model, frames, optimizer, times in runs.values():
                start = time.process_time()
                train_step(model, frames, 10, optimizer)
                times.append(time.process_time() - start)
        a, b = (statistics.median(runs[k][3]) for k in (0, 1))
        line = f"{name}: {before} {a:.2f} s, {after} {b:.2f} s, ratio {b / a:.3f}"
        if args.memory:
            line += f"; step peak {peak_mib(name, before_opts):,.0f} / {peak_mib(name, after_opts):,.0f} MiB"
        print(line, flush=True)


if __name__ == "__main__":
    main()
