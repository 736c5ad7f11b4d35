"""``convrnn train``: settings from defaults, --config, flags and --set; a new run or --resume."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from convrnn.cli import launch
from convrnn.cli.options import add_set
from convrnn.errors import ConfigError, ConvrnnError

HELP = "train a model"
DESCRIPTION = (
    "Train a model. Settings come from the defaults, then --config FILE.yaml, then the flags "
    "below, then --set key=value (any key of the config, e.g. --set train.lr=1e-3 "
    "--set model.options.hidden_channels=64). The run directory gets config.yaml, model.json, "
    "checkpoints/{last,best}.ckpt and logs/ (CSV and TensorBoard)."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``train``."""
    p.add_argument(
        "--model", help="registry model name (see `convrnn models`); default ms-convlstm"
    )
    p.add_argument(
        "--preset", help="paper settings: ms-rnn, ms-lstm, ... (default: small CPU defaults)"
    )
    p.add_argument(
        "--data",
        help="dataset name (default moving-mnist), or a path to your own arrays: .npy/.npz/HDF5/"
        "Zarr/NetCDF file, folder or glob. Their scaling is --set data.options.normalize=: "
        "minmax (default; fitted on the training split), range (value_range=[lo,hi]), none "
        "(already in [0, 1]), dbz (reflectivity, (dBZ+10)/70), rain (mm/h via a Z-R law, dry "
        "below rain_threshold=0.1 mm/h, exact zeros back); NaN = not observed (masked)",
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
    p.add_argument(
        "--precision",
        help="auto (default: bf16-mixed where the device runs bf16 natively, i.e. CUDA with bf16 "
        "or a CPU with AVX512-BF16/AMX, else 32-true), 32-true, bf16-mixed or 16-mixed",
    )
    p.add_argument(
        "--out",
        help="run directory (default runs/<model>-<time>; required for torchrun/SLURM launches, "
        "on a filesystem every node sees)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="write the run into a non-empty folder that is not a convrnn run (files with the "
        "run's names are replaced, others stay; nothing is deleted)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from checkpoints/last.ckpt with its config.yaml; only "
        "where it runs (devices, nodes, data root, workers), train.stop_after and eval.* may change",
    )
    add_set(p, "override any config key")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")


def config_layers(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The config layers this command adds on top of the defaults: --config, the flags, --set."""
    from convrnn import config as config_lib

    flags: dict[str, Any] = {}

    def put(section: str, key: str, value: Any) -> None:
        if value is not None:
            flags.setdefault(section, {})[key] = value

    put("model", "name", args.model)
    put("model", "preset", args.preset)
    if args.data is not None:
        from convrnn.data import resolve_data_argument

        name, root = resolve_data_argument(args.data)  # a path means your own arrays
        put("data", "name", name)
        put("data", "root", root)
    put("data", "root", args.data_root)
    put("train", "max_steps", args.max_steps)
    put("train", "batch_size", args.batch_size)
    put("train", "lr", args.lr)
    put("train", "seed", args.seed)
    put("train", "devices", args.devices)
    put("train", "num_nodes", args.num_nodes)
    put("train", "precision", args.precision)
    put("train", "threads", getattr(args, "threads", None))
    layers = [config_lib.load_yaml(args.config)] if args.config else []
    return [*layers, flags, config_lib.parse_set(args.set)]


def _lookup(cfg: dict[str, Any], dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def resume_config(args: argparse.Namespace, run_dir: str) -> dict[str, Any]:
    """The saved config of ``run_dir`` with this invocation's settings, which must not change the run."""
    from convrnn import config as config_lib
    from convrnn.runs import CONFIG_FILE, read_config

    saved = read_config(run_dir)
    saved["train"]["stop_after"] = None  # an early stop applies to the invocation that asked for it
    cfg = config_lib.resolve(saved, *config_layers(args))
    changed = config_lib.resume_changes(saved, cfg)
    if changed:
        diffs = ", ".join(f"{k}: {_lookup(saved, k)!r} -> {_lookup(cfg, k)!r}" for k in changed)
        raise ConfigError(
            f"--resume continues {run_dir} exactly as its {CONFIG_FILE} says, but this command "
            f"changes {diffs}. The checkpoint's optimiser, LR schedule and sampling schedule were "
            "built for the saved settings (a larger train.max_steps would keep the old schedules). "
            "Drop those options, or start a new run with another --out. On resume only "
            f"{', '.join(config_lib.RESUME_MUTABLE)} may change."
        )
    old_world = saved["train"]["devices"] * saved["train"]["num_nodes"]
    new_world = cfg["train"]["devices"] * cfg["train"]["num_nodes"]
    if old_world != new_world and launch.global_rank() == 0:
        print(
            f"convrnn train: warning: resuming with {new_world} processes instead of {old_world}: "
            f"the global batch becomes {new_world} x {cfg['train']['batch_size']} sequences and "
            "the data order differs from an uninterrupted run",
            file=sys.stderr,
        )
    return cfg


#: what a run directory holds, in the order the closing line lists it
RUN_FILES = (
    "config.yaml", "model.json", "normalization.json", "data.json", "checkpoints/best.ckpt",
    "checkpoints/last.ckpt", "logs/",
)  # fmt: skip


def data_options_comment(name: str) -> str:
    """A YAML comment naming the options ``data.options`` takes for dataset ``name``."""
    from convrnn.data.registry import dataset_spec

    try:
        options = dataset_spec(name).options
    except ConvrnnError:
        return "# data.options: see `convrnn data check --help`"
    listed = ", ".join(sorted(options)) if options else "any"
    text = f"# data.options of {name!r}: {listed}"
    if options and "normalize" in options:
        text += (
            "\n# normalize: minmax (default) | range (value_range) | none | dbz | rain "
            "(zr, rain_threshold=0.1 mm/h); NaN in the data = not observed"
        )
    return text


def closing_lines(cfg: dict[str, Any], run_dir: str | Path) -> list[str]:
    """Where the run is, what it holds, and the command that comes next."""
    from convrnn.train.summary import closing_hint

    run = Path(run_dir)
    held = [name for name in RUN_FILES if (run / name.rstrip("/")).exists()]
    lines = [f"run directory: {run} ({', '.join(held)}; logs/ holds CSV and TensorBoard logs)"]
    lines.append(closing_hint(run))
    return lines


def run(args: argparse.Namespace) -> int:
    """Train (or resume, or print the config); prints the run directory on rank 0."""
    from convrnn import config as config_lib

    run_dir = launch.inherited_run_dir() or args.out
    if args.resume and not run_dir:
        raise ConfigError("--resume needs --out RUN_DIR (the run to continue)")
    if not run_dir and not args.print_config and launch.external_launch():
        raise ConfigError(
            "a torchrun/srun launch of several processes needs --out RUN_DIR, on a filesystem "
            "every node sees, so that all processes train one run (without it each would pick "
            "its own timestamped directory)"
        )
    cfg = resume_config(args, run_dir) if args.resume else config_lib.resolve(*config_layers(args))
    if args.print_config:
        print(config_lib.dump(cfg), end="")
        print(data_options_comment(cfg["data"]["name"]))
        return 0
    if not run_dir:
        run_dir = f"runs/{cfg['model']['name']}-{time.strftime('%Y%m%d-%H%M%S')}"
    from convrnn.train.fit import train

    with launch.handing_down(run_dir):  # DDP workers re-run this command and must find this run
        train(cfg, run_dir, resume=args.resume, overwrite=args.overwrite)
    if launch.global_rank() == 0:
        print("\n".join(closing_lines(cfg, run_dir)))
    return 0
