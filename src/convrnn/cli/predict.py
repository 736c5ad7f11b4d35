"""``convrnn predict``: forecast the frames after your input frames with a trained run."""

from __future__ import annotations

import argparse
from pathlib import Path

from convrnn.cli.options import add_checkpoint, add_inference, add_run, inference_options

HELP = "forecast the frames after your input frames"
DESCRIPTION = (
    "Forecast HORIZON frames after the input frames with a trained run or a bundle (convrnn "
    "export; also hf://owner/name). Writes forecast.npy (N, horizon, C_out, H, W) in [0, 1], "
    "PNG frames and a GIF per sequence to --out. Inputs: a .npy/.npz array (T, H, W), "
    "(T, C, H, W) or (N, T, C, H, W) (other axes with --layout: THWC, NTHW, NTHWC), uint8 or "
    "float in [0, 1], or a folder of PNG frames sorted by name. If the run saved a normalization.json (datasets "
    "other than Moving MNIST), the input is raw data in the units that file names, is "
    "normalised as the training data were, and forecast_raw.npy holds the forecast in those "
    "units. Bad input writes nothing."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``predict``."""
    add_run(p)
    p.add_argument("--input", required=True, help="input frames (.npy, .npz or a folder of PNG)")
    p.add_argument("--horizon", required=True, type=int, help="number of frames to forecast")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--layout",
        help="axes of the input array: THW, TCHW, THWC, NTHW, NTCHW or NTHWC (default: THW for "
        "3-D, TCHW for 4-D, NTCHW for 5-D arrays)",
    )
    add_checkpoint(p)
    add_inference(p, precision="auto", batch_default="16")


#: array files predict may write, listed in the closing line when this call wrote them
FORECAST_FILES = ("forecast.npy", "forecast_raw.npy", "forecast.nc")


def closing_line(out: Path) -> str:
    """What this call wrote into ``out``: the arrays (with the forecast's shape) and the pictures."""
    import numpy as np

    first = (out / FORECAST_FILES[0]).stat().st_mtime  # written first: older files are stale
    arrays = [
        n for n in FORECAST_FILES if (out / n).exists() and (out / n).stat().st_mtime >= first
    ]
    shape = np.load(out / FORECAST_FILES[0], mmap_mode="r").shape
    radar = (out / "seq000.png").exists() and (out / "seq000.png").stat().st_mtime >= first
    pictures = (
        "a radar picture seqNNN.png (inputs, then the forecast with lead times)"
        if radar
        else "PNG frames seqNNN/frame_TTT.png"
    )
    return (
        f"forecast written to {out}: {', '.join(arrays)} (sequences, horizon, C, H, W) = "
        f"{shape}; {pictures} and a GIF seqNNN.gif for each of the {shape[0]} sequences"
    )


def run(args: argparse.Namespace) -> int:
    """Write the forecast and say where."""
    from convrnn.predict import predict_run

    out = predict_run(
        args.run_dir,
        args.input,
        args.horizon,
        args.out,
        args.checkpoint,
        layout=args.layout,
        inference=inference_options(args),
    )
    print(closing_line(Path(out)))
    return 0
