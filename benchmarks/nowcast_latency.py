"""One nowcast's latency on the CPU, per precision and memory format, against pysteps' LK, alternated.

Usage: python benchmarks/nowcast_latency.py [--sizes 128,256,512] [--repeats 15] [--model ms-convlstm]

The model at its default size (4 layers x 32, patch 4) forecasts 12 frames from 4 at batch 1
under ``convrnn.models.inference`` (inference_mode), in fp32 and bf16 autocast, NCHW and
channels-last; pysteps' Lucas-Kanade + semi-Lagrangian extrapolation forecasts the same frames.
Every variant runs once per round, the rounds repeated ``--repeats`` times, so that a slow
moment of the machine falls on all of them; the table gives the median and the minimum and
LK's median over the variant's. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from convrnn.cost.nowcast import NOWCAST_HORIZON, NOWCAST_INPUTS, moving_rain
from convrnn.metrics import optical_flow_forecast
from convrnn.models.factory import build_model
from convrnn.models.inference import InferenceOptions, predict, prepare


def variants(model: str, size: int) -> dict[str, Callable[[], object]]:
    """The calls to time: the model per precision and memory format, then pysteps LK."""
    frames = moving_rain(1, NOWCAST_INPUTS, size, size)
    calls: dict[str, Callable[[], object]] = {}
    for precision in ("32", "bf16"):
        for layout in ("contiguous", "channels_last"):
            torch.manual_seed(0)
            options = InferenceOptions("cpu", 1, precision, memory_format=layout)
            net = prepare(build_model(model, None, image_size=(size, size)), options)
            calls[f"{precision}/{layout}"] = lambda n=net, o=options: predict(
                n, frames, NOWCAST_HORIZON, o
            )
    numpy_frames = frames.numpy()
    calls["pysteps LK"] = lambda: optical_flow_forecast(numpy_frames, NOWCAST_HORIZON)
    return calls


def main() -> None:
    """Time every variant in alternated rounds at each size and print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="128,256,512")
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--model", default="ms-convlstm")
    args = p.parse_args()
    from threads import cpu_name  # benchmarks/threads.py, beside this script

    print(f"CPU: {cpu_name()}, threads {torch.get_num_threads()}, torch {torch.__version__}")
    print("| size | variant | median s | min s | LK median / median |")
    print("|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        calls = variants(args.model, size)
        times: dict[str, list[float]] = {name: [] for name in calls}
        for call in calls.values():
            call()  # warm-up
        for _ in range(args.repeats):
            for name, call in calls.items():
                start = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - start)
        lk = statistics.median(times["pysteps LK"])
        for name, t in times.items():
            median = statistics.median(t)
            print(f"| {size} | {name} | {median:.4f} | {min(t):.4f} | {lk / median:.2f} |")


if __name__ == "__main__":
    main()
