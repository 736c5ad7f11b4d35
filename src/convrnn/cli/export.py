"""``convrnn export``: a trained run as a model bundle, an ONNX file or a torch.export program."""

from __future__ import annotations

import argparse
import tempfile

from convrnn.cli.options import add_checkpoint
from convrnn.cli.types import positive_int
from convrnn.errors import ConfigError

HELP = "write a model bundle (safetensors, config, model card), ONNX or torch.export"
DESCRIPTION = (
    "Export RUN_DIR (a run, a bundle or hf://owner/name) as a bundle in --out: model.safetensors "
    "(weights only, no pickle), config.json (the build_model keywords, normalisation, lengths, "
    "interval, units), README.md (a model card) and the run's metrics.json. `convrnn predict` and "
    "convrnn.load() take the bundle as they take the run. --format onnx / torch-export also "
    "writes model.onnx / model.pt2: the rollout of --horizon frames, normalised frames "
    "(B, T_in, C, H, W) in [0, 1] in and the forecast (B, horizon, C_out, H, W) in [0, 1] out, "
    "dynamic batch; each is checked against the eager model on a sample input (the max abs "
    "difference is printed; above 1e-4 nothing is written and the exit status is 2). --push "
    "uploads the bundle to a Hugging Face Hub repository (pip install convrnn[hub])."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``export``."""
    p.add_argument("run_dir", help="run directory, bundle folder, or hf://owner/name")
    p.add_argument("--out", help="bundle folder to write (new, empty, or an earlier bundle)")
    p.add_argument(
        "--format",
        default="bundle",
        choices=("bundle", "onnx", "torch-export"),
        help="bundle (default); onnx (model.onnx, pip install convrnn[onnx]) or torch-export "
        "(model.pt2) are written into the bundle",
    )
    p.add_argument(
        "--horizon",
        type=positive_int,
        help="frames the ONNX / torch.export rollout forecasts (default: the run's output length)",
    )
    add_checkpoint(p)
    p.add_argument(
        "--push",
        metavar="OWNER/NAME",
        help="upload the bundle to this Hugging Face Hub model repository (created if needed)",
    )
    p.add_argument(
        "--private", action="store_true", help="with --push: create the repository private"
    )


def run(args: argparse.Namespace) -> int:
    """Export, print each check and where the files went."""
    from convrnn.export import export_run, push_bundle

    if args.out is None and args.push is None:
        raise ConfigError("give --out DIR (and/or --push OWNER/NAME)")
    if args.horizon is not None and args.format == "bundle":
        raise ConfigError("--horizon applies to --format onnx or torch-export")
    with tempfile.TemporaryDirectory(prefix="convrnn-export-") as scratch:
        out = args.out if args.out is not None else scratch
        report = export_run(args.run_dir, out, args.checkpoint, args.format, args.horizon)
        if args.format != "bundle":  # the file this call wrote (kept ones were checked before)
            e = report.exports[args.format]
            c = e["checked"]
            print(
                f"{e['file']}: {e['format']}, {e['horizon']} frames; max |exported - eager| = "
                f"{c['max_abs_diff']:.3g} (tolerance {c['tolerance']:g}) on {c['sample']}"
            )
        if args.out is not None:
            print(f"bundle written to {report.folder} ({', '.join(report.files)})")
        if args.push is not None:
            where = push_bundle(report.folder, args.push, private=args.private)
            print(f"pushed to {args.push}; load it with convrnn.load({where!r})")
    return 0
