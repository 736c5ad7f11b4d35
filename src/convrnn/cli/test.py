"""``convrnn test``: score a trained run on a split against the copy-last-frame baseline."""

from __future__ import annotations

import argparse
from typing import Any

from convrnn.cli.options import add_checkpoint, add_inference, add_run, inference_options
from convrnn.cli.types import parse_layers, parse_option, parse_point, positive_int

HELP = "score a trained run against the copy-last-frame baseline"
DESCRIPTION = (
    "Score a run on a split: writes RUN_DIR/metrics.json (means, per-frame lists, the "
    "copy-last-frame baseline on the same data), RUN_DIR/metrics_per_frame.csv and comparison "
    "PNG/GIF pictures in RUN_DIR/<split>-results/ (for rain/dbz runs: radar pictures in mm/h or "
    "dBZ with a colour bar, lead times and no coverage in grey). The val and train splits write "
    "metrics_<split>.json and metrics_per_frame_<split>.csv instead. Non-finite values "
    "(PSNR of a frame predicted exactly is +inf) are written as null and listed under "
    "non_finite."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``test``."""
    add_run(p)
    add_checkpoint(p)
    p.add_argument(
        "--split",
        default="test",
        choices=("test", "val", "train"),
        help="split to score: test (default), val or train",
    )
    p.add_argument(
        "--frames", choices=("future", "all"), help="score the future frames (default) or all"
    )
    p.add_argument(
        "--max-sequences", type=positive_int, help="score only the first N sequences (N >= 1)"
    )
    p.add_argument("--pictures", type=int, default=4, help="sequences to draw (default 4)")
    p.add_argument(
        "--layer-outputs", action="store_true", help="also draw each layer's hidden state per step"
    )
    p.add_argument(
        "--attention-maps",
        metavar="Y,X",
        help="SA-ConvLSTM models: draw the attention maps of the query pixel Y,X (SA-ConvLSTM Fig. 6)",
    )
    p.add_argument(
        "--context-maps",
        action="store_true",
        help="CMS-LSTM / MoDeRNN / ce= / se= models: draw the CE (or DCB) and SE weight maps",
    )
    p.add_argument(
        "--masks",
        action="store_true",
        help="HKO-7: compute the radar scores (CSI/HSS/POD/FAR, B-MSE/B-MAE) on valid pixels only, "
        "from the radarPNG_mask files",
    )
    p.add_argument(
        "--map-layers",
        default="0,-1",
        metavar="L1,L2",
        help="layers whose attention / context maps are drawn, negative from the top "
        "(default 0,-1: the first and the last, as SA-ConvLSTM Fig. 6)",
    )
    p.add_argument(
        "--baselines",
        default="persistence",
        help="comma-separated baselines scored on the same data: persistence (copy-last-frame, default), "
        "optical-flow (pysteps Lucas-Kanade + semi-Lagrangian extrapolation; pip install convrnn[nowcast])",
    )
    # scores stay comparable across machines: fp32 unless asked
    add_inference(p, precision="32", batch_default="the run's eval.batch_size")


def print_physical(physical: dict[str, Any], names: list[str]) -> None:
    """Per lead time, MAE and CSI at 1 (mm/h or dBZ threshold) of each forecaster, in the data's units."""
    leads = [
        f"+{m:g} min" if m is not None else f"+{k + 1}"
        for k, m in enumerate(physical["lead_time_minutes"])
    ]
    thr = 1.0 if 1.0 in physical[names[0]]["csi_per_frame"] else physical["thresholds"][0]
    print(f"per lead time, observed pixels, {physical['units']}:")
    print(f"{'':<26}" + "".join(f"{lead:>9}" for lead in leads))
    for name in names:
        scores = physical[name]
        label = "copy-last" if name == "persistence" else name
        print(f"{label + ' MAE':<26}" + "".join(f"{v:>9.3f}" for v in scores["mae_per_frame"]))
        csi = scores["csi_per_frame"][thr]
        print(f"{label + f' CSI >= {thr:g}':<26}" + "".join(f"{v:>9.3f}" for v in csi))


def print_report(report: dict[str, Any]) -> None:
    """The scores of the model and each baseline, then where the files went."""
    print(f"{report['split']} split, {report['num_sequences']} sequences, {report['frames_note']}")
    print(f"{'':<14}{'MSE':>10}{'MAE':>10}{'PSNR':>8}{'SSIM':>8}")
    rows = [("model", report["metrics"])]
    rows += [("copy-last" if n == "persistence" else n, m) for n, m in report["baselines"].items()]
    for name, m in rows:
        print(f"{name:<14}{m['mse']:>10.2f}{m['mae']:>10.2f}{m['psnr']:>8.2f}{m['ssim']:>8.4f}")
        if "nowcast" in m:
            thresholds = report["radar"]["reported_thresholds"]
            csi = ", ".join(
                f"CSI@{t:g}={m['nowcast']['csi'][t]:.3f}"
                for t in thresholds
                if t in m["nowcast"]["csi"]
            )
            print(f"{'':<14}{csi}")
    if "physical" in report:
        print_physical(report["physical"], ["model", *report["baselines"]])
    if report.get("non_finite"):
        print(f"written as null (not a finite number): {', '.join(report['non_finite'])}")
    print(
        f"wrote metrics: {report['metrics_file']} (per frame: {report['per_frame_file']}); "
        f"pictures: {report['pictures']}"
    )


def run(args: argparse.Namespace) -> int:
    """Score the run and print the table."""
    from convrnn.evaluate import test_run

    # checked after argparse, so that main() returns status 2 for them instead of SystemExit
    query = None
    if args.attention_maps:
        query = parse_option("--attention-maps", parse_point, args.attention_maps)
    map_layers = parse_option("--map-layers", parse_layers, args.map_layers)
    report = test_run(
        args.run_dir,
        checkpoint=args.checkpoint,
        split=args.split,
        frames=args.frames,
        num_pictures=args.pictures,
        layer_outputs=args.layer_outputs,
        max_sequences=args.max_sequences,
        baselines=tuple(b for b in args.baselines.split(",") if b),
        attention_query=query,
        context_maps=args.context_maps,
        map_layers=map_layers,
        masked_scores=args.masks,
        inference=inference_options(args),
    )
    print_report(report)
    return 0
