"""One-thread CPU time of a training step in NCHW against channels-last, alternated (issue 15's setting).

Usage: python benchmarks/train_layout_ab.py [--models convlstm,ms-convlstm,predrnn] [--rounds 2]

The ms-rnn preset, 64x64, 10 -> 10, batch 2, one thread; the same weights in both layouts
(seeded); forward, L2 loss, backward and Adam (:func:`convrnn.cost.timing.train_step`), one
warm-up step each, then ``--rounds`` alternated rounds; medians of ``time.process_time``.
Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from convrnn.cost import BenchSpec
from convrnn.cost.timing import train_step


def main() -> None:
    """Print each model's NCHW and channels-last CPU seconds and their ratio."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="convlstm,ms-convlstm,predrnn")
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(1)
    for name in args.models.split(","):
        runs = {}
        for channels_last in (False, True):
            spec = BenchSpec(
                name, "ms-rnn", 64, 64, 10, 10, 2, "cpu", {"channels_last": channels_last}
            )
            torch.manual_seed(0)
            model, frames = spec.build(), spec.frames()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
            train_step(model, frames, 10, optimizer)  # warm-up
            runs[channels_last] = (model, frames, optimizer, [])
        for _ in range(args.rounds):
            for model, frames, optimizer, times in runs.values():
                start = time.process_time()
                train_step(model, frames, 10, optimizer)
                times.append(time.process_time() - start)
        nchw, nhwc = (statistics.median(runs[k][3]) for k in (False, True))
        print(f"{name}: NCHW {nchw:.2f} s, channels-last {nhwc:.2f} s, ratio {nhwc / nchw:.3f}")


if __name__ == "__main__":
    main()
