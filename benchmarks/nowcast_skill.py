"""Skill on a synthetic radar archive: persistence, pysteps LK and a CLI-trained model, per lead time.

Usage: python benchmarks/nowcast_skill.py [--size 128] [--train-frames 400] [--events 4]
       [--max-steps 500] [--config recipes/radar-nowcast.yaml] [--out /tmp/nowcast_skill]

The archive behaves like rain: Gaussian rain cells of several sizes, advected by a
smooth, slowly turning wind (with a gentle shear), growing and decaying over their
lives, NaN outside a coverage disc, 5-minute steps, as one NetCDF file with a time
axis (``rainfall_rate`` in mm/h). Test events are generated with other seeds. The
model is trained through the CLI (``convrnn train --config ... --data archive.nc``),
then every method forecasts 12 frames from 4 and is scored per lead time over the
covered pixels: CSI at 1 mm/h (and 5 mm/h) and MAE in mm/h. It prints a table and the
CPU. Run it alone on the machine (the lead's runs); ``--size 32 --train-frames 200
--events 1 --max-steps 2`` checks it in seconds.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

T_IN, T_OUT, STEP_MINUTES = 4, 12, 5


def synthetic_rain(frames: int, size: int, seed: int) -> np.ndarray:
    """``(frames, size, size)`` rain rates in mm/h, NaN outside the coverage disc."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    heading, turn = rng.uniform(0, 2 * np.pi), rng.uniform(-0.01, 0.01)  # radians per step
    speed = rng.uniform(0.8, 1.6) * size / 128  # pixels per step
    cells: list[list[float]] = []

    def spawn(age: float = 0.0) -> list[float]:
        sigma = rng.choice([2.0, 4.0, 8.0, 14.0]) * size / 128 * rng.uniform(0.8, 1.25)
        return [rng.uniform(0, size), rng.uniform(0, size), sigma,
                rng.lognormal(1.6, 0.7), age, rng.uniform(20, 60)]  # fmt: skip

    cells = [spawn(rng.uniform(0, 30)) for _ in range(rng.integers(8, 14))]
    out = np.zeros((frames, size, size), dtype=np.float32)
    for t in range(frames):
        theta = heading + turn * t
        field = np.zeros((size, size))
        for c in cells:
            cy, cx, sigma, peak, age, life = c
            shear = 0.3 * np.sin(2 * np.pi * cy / size)  # a smooth spatial variation
            c[0] = (cy + speed * np.sin(theta)) % size
            c[1] = (cx + speed * (np.cos(theta) + shear)) % size
            c[4] = age + 1
            life_shape = np.sin(np.pi * min(age / life, 1.0))  # grows, then decays
            dy = (y - cy + size / 2) % size - size / 2
            dx = (x - cx + size / 2) % size - size / 2
            field += peak * life_shape * np.exp(-(dy**2 + dx**2) / (2 * sigma**2))
        cells = [c for c in cells if c[4] < c[5]] + [spawn() for c in cells if c[4] >= c[5]]
        out[t] = np.where(field >= 0.1, field, 0.0)
    c = (size - 1) / 2
    out[:, (y - c) ** 2 + (x - c) ** 2 > (0.48 * size) ** 2] = np.nan
    return out


def write_archive(path: Path, rain: np.ndarray) -> None:
    """``rain`` as a NetCDF file with a 5-minute time axis."""
    import xarray as xr

    time = np.datetime64("2026-06-01T00:00", "ns") + (np.arange(len(rain)) * STEP_MINUTES).astype(
        "timedelta64[m]"
    )
    da = xr.DataArray(rain, dims=("time", "y", "x"), coords={"time": time}, name="rainfall_rate")
    da.attrs["units"] = "mm/h"
    da.to_dataset().to_netcdf(path, engine="h5netcdf")


def persistence(inputs: np.ndarray) -> np.ndarray:
    """The last input frame, repeated."""
    return np.repeat(inputs[-1:], T_OUT, axis=0)


def lucas_kanade(inputs: np.ndarray) -> np.ndarray | None:
    """pysteps LK optical flow + semi-Lagrangian extrapolation, or None without pysteps."""
    try:
        from pysteps import motion, nowcasts
    except ImportError:
        return None
    filled = np.nan_to_num(inputs, nan=0.0)
    velocity = motion.get_method("LK")(filled)
    out = nowcasts.get_method("extrapolation")(filled[-1], velocity, T_OUT)
    return np.nan_to_num(out, nan=0.0)


def train_model(archive: Path, run: Path, config: str, max_steps: int) -> Path:
    """Train through the CLI with the recipe; returns the run folder."""
    cmd = [sys.executable, "-m", "convrnn", "train", "--config", config, "--data", str(archive),
           "--max-steps", str(max_steps), "--out", str(run), "--overwrite",
           "--set", "train.progress_bar=false"]  # fmt: skip
    start, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(cmd, check=True)
    end = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (end.ru_utime + end.ru_stime) - (start.ru_utime + start.ru_stime)
    print(f"training: {cpu / 60:.1f} CPU min, {(time.perf_counter() - wall) / 60:.1f} min wall")
    return run


def model_forecaster(run: Path, untrained: bool = False):
    """A function inputs (T_in, H, W) mm/h -> forecast (T_out, H, W) mm/h of the run's best model.

    ``untrained``: its head zeroed, i.e. the anchor alone (persistence, or the extrapolation
    of ``anchor: advection``): what the model starts from.
    """
    import torch

    from convrnn.runs import load_forecaster, read_normalizer

    model, norm = load_forecaster(run), read_normalizer(run)
    if untrained:
        torch.nn.init.zeros_(model.head.weight)
        torch.nn.init.zeros_(model.head.bias)

    def forecast(inputs: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.nan_to_num(norm.transform(inputs[:, None]), nan=0.0))
        return norm.inverse(model.predict(x[None], T_OUT)[0].numpy())[:, 0]

    return forecast


def score(methods: dict, events: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Per method, per lead: CSI at 1 and 5 mm/h and MAE (mm/h) over covered pixels."""
    from convrnn.metrics.nowcast import contingency_counts

    results = {}
    for name, method in methods.items():
        counts, err, n = 0, np.zeros(T_OUT), np.zeros(T_OUT)
        for event in events:
            for start in range(0, len(event) - T_IN - T_OUT + 1, T_OUT):
                inputs, truth = (
                    event[start : start + T_IN],
                    event[start + T_IN : start + T_IN + T_OUT],
                )
                pred = method(inputs)
                seen = np.isfinite(truth)
                counts = counts + contingency_counts(
                    pred[None, :, None], truth[None, :, None], (1.0, 5.0), seen[None, :, None]
                )
                err += np.nansum(np.abs(pred - truth) * seen, axis=(1, 2))
                n += seen.sum(axis=(1, 2))
        hits, misses, false_alarms = counts[..., 0], counts[..., 1], counts[..., 2]
        csi = hits / np.maximum(hits + misses + false_alarms, 1)
        results[name] = np.vstack([csi, err / np.maximum(n, 1)])  # rows: csi@1, csi@5, mae
    return results


def main() -> None:
    """Generate, train, score and print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--train-frames", type=int, default=400)
    p.add_argument("--events", type=int, default=4, help="test events of 64 frames")
    p.add_argument("--max-steps", type=int, default=500)
    p.add_argument(
        "--config", default=str(Path(__file__).parents[1] / "recipes/radar-nowcast.yaml")
    )
    p.add_argument("--out", type=Path, default=Path("/tmp/nowcast_skill"))
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    archive = args.out / "archive.nc"
    write_archive(archive, synthetic_rain(args.train_frames, args.size, seed=0))
    events = [synthetic_rain(64, args.size, seed=1000 + i) for i in range(args.events)]
    methods = {"persistence": persistence}
    if lucas_kanade(events[0][:T_IN]) is not None:
        methods["pysteps LK"] = lucas_kanade
    run = train_model(archive, args.out / "run", args.config, args.max_steps)
    methods["convrnn untrained (the recipe's anchor)"] = model_forecaster(run, untrained=True)
    methods[f"convrnn ({Path(args.config).name}, {args.max_steps} steps)"] = model_forecaster(run)
    results = score(methods, events)
    leads = [f"+{STEP_MINUTES * (i + 1)}" for i in range(T_OUT)]
    from threads import cpu_name  # benchmarks/threads.py, beside this script

    print(f"CPU: {cpu_name()}")
    for row, what in enumerate(("CSI at 1 mm/h", "CSI at 5 mm/h", "MAE (mm/h)")):
        print(f"\n{what}\n| method | " + " | ".join(leads) + " | mean |")
        print("|---" * (T_OUT + 2) + "|")
        for name, r in results.items():
            print(
                f"| {name} | "
                + " | ".join(f"{v:.3f}" for v in r[row])
                + f" | {r[row].mean():.3f} |"
            )


if __name__ == "__main__":
    main()
