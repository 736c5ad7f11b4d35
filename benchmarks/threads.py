"""Training-step time with convrnn's default thread count vs one thread, while a competing job runs.

Usage: python benchmarks/threads.py [--competitors 1] [--rounds 5] [--steps 3] [--size 64]
       [--frames 4,12] [--batch 4] [--model ms-convlstm] [--json]

Run it on a machine where nothing else runs (unset OMP_NUM_THREADS first): it starts
``--competitors`` busy processes of its own (each spins one core, like another user's
job), then times a small model's full training step (forward, loss, backward, Adam)
under each setting, alternating the settings round by round so that drifts of the
machine hit them alike:

* ``torch``: PyTorch's own default (the count it started with),
* ``convrnn``: the default ``convrnn`` chooses (:mod:`convrnn.threads`: OMP_NUM_THREADS,
  else the usable cores of the affinity mask / processes on the node),
* ``1``: one thread (``--threads 1``).

It prints the CPU, the cores, each setting's thread count and the median step
seconds over the rounds (each round the median of ``--steps`` steps after a
warm-up step), and the ratio to one thread. The busy processes are ended at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import torch

import convrnn
from convrnn.cost.timing import train_step
from convrnn.hardware import CPU_BF16_FLAGS, cpu_flags
from convrnn.threads import allowed_cpus, choose_threads, usable_cores

BUSY = "while True:\n    pass\n"


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` says."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_description() -> str:
    """CPU model, core count and the SIMD features that decide the speed (AVX2, AVX-512, bf16, AMX)."""
    flags = cpu_flags()
    simd = [name for flag, name in (("avx2", "AVX2"), ("avx512f", "AVX-512")) if flag in flags]
    simd += [flag for flag in CPU_BF16_FLAGS if flag in flags]
    if not any(f.startswith("amx") for f in flags):
        simd.append("no AMX")
    return f"{cpu_name()}, {os.cpu_count()} CPU cores, {' '.join(simd) or 'flags unknown'}"


def step_seconds(model, frames, input_length, optimizer, steps: int) -> float:
    """Median seconds of ``steps`` training steps after one warm-up step."""
    train_step(model, frames, input_length, optimizer)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        train_step(model, frames, input_length, optimizer)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--competitors", type=int, default=1, help="busy processes (default 1)")
    parser.add_argument("--rounds", type=int, default=5, help="alternations (default 5)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per round (default 3)")
    parser.add_argument("--model", default="ms-convlstm")
    parser.add_argument("--size", type=int, default=64, help="frame side (default 64)")
    parser.add_argument("--frames", default="4,12", help="T_in,T_out (default 4,12)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    torch_default = torch.get_num_threads()
    t_in, t_out = (int(v) for v in args.frames.split(","))
    torch.manual_seed(0)
    model = convrnn.build_model(args.model, image_size=args.size)
    frames = torch.rand(args.batch, t_in + t_out, 1, args.size, args.size)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.train()

    busy = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(max(0, args.competitors))]
    try:
        time.sleep(0.5)  # let the competitors start spinning
        ours = choose_threads(None)  # as convrnn would choose at the start of a command now
        settings = {"torch": torch_default, "convrnn": ours.threads, "1": 1}
        seconds: dict[str, list[float]] = {name: [] for name in settings}
        for _ in range(args.rounds):
            for name, threads in settings.items():
                torch.set_num_threads(threads)
                seconds[name].append(step_seconds(model, frames, t_in, optimizer, args.steps))
    finally:
        for p in busy:
            p.kill()
            p.wait()

    one = statistics.median(seconds["1"])
    result = {
        "cpu": cpu_name(),
        "logical_cpus": os.cpu_count(),
        "affinity_cpus": len(allowed_cpus()),
        "usable_cores": usable_cores(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "competitors": args.competitors,
        "model": args.model,
        "frames": [t_in, t_out],
        "size": args.size,
        "batch": args.batch,
        "convrnn_default": str(ours),
        "rows": [
            {
                "setting": name,
                "threads": threads,
                "median_step_s": statistics.median(seconds[name]),
                "rounds_s": seconds[name],
                "vs_one_thread": statistics.median(seconds[name]) / one,
            }
            for name, threads in settings.items()
        ],
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{result['cpu']}: {result['logical_cpus']} logical CPUs, {result['affinity_cpus']} in "
        f"the affinity mask, {result['usable_cores']} usable cores; {args.competitors} busy "
        f"competitor(s); OMP_NUM_THREADS={result['omp_num_threads']}"
    )
    print(f"{args.model} {args.size}x{args.size}, {t_in} -> {t_out}, batch {args.batch}")
    print(f"convrnn default: {ours}")
    print(f"{'setting':<10}{'threads':>8}{'median step s':>15}{'vs 1 thread':>13}")
    for row in result["rows"]:
        print(
            f"{row['setting']:<10}{row['threads']:>8}{row['median_step_s']:>15.3f}"
            f"{row['vs_one_thread']:>13.2f}"
        )


if __name__ == "__main__":
    main()
