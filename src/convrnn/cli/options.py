"""Options several commands share, declared once."""

from __future__ import annotations

import argparse
from typing import Any


def add_set(parser: argparse.ArgumentParser, help: str) -> None:
    """``--set KEY=VALUE`` (repeatable)."""
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=help)


def add_run(parser: argparse.ArgumentParser) -> None:
    """The positional ``run_dir`` of a trained run."""
    parser.add_argument("run_dir", help="run directory written by `convrnn train`")


def add_checkpoint(parser: argparse.ArgumentParser) -> None:
    """``--checkpoint best|last|PATH``."""
    parser.add_argument(
        "--checkpoint", default="best", help="best (default), last, or a .ckpt path"
    )


def add_threads(parser: argparse.ArgumentParser, nested: bool = False) -> None:
    """``--threads N``: PyTorch's CPU threads (default: see :mod:`convrnn.threads`).

    ``nested``: the parser of a subcommand's subcommand (``data check``), which must not
    reset a value given before it (``convrnn data --threads 1 check``).
    """
    parser.add_argument(
        "--threads",
        type=int,
        metavar="N",
        default=argparse.SUPPRESS if nested else None,
        help="CPU threads for PyTorch (default: OMP_NUM_THREADS if set, else the cores this "
        "process may use, divided among the training processes on the node); 1 on a shared machine",
    )


def add_inference(parser: argparse.ArgumentParser, precision: str, batch_default: str) -> None:
    """``--device``, ``--batch-size``, ``--precision``, ``--compile``, ``--memory-format`` of test and predict."""
    from convrnn.cli.types import device, positive_int

    parser.add_argument(
        "--device",
        type=device,
        help="cpu, cuda or cuda:N (default: cuda when a CUDA device is available, else cpu)",
    )
    parser.add_argument(
        "--batch-size", type=positive_int, help=f"sequences per forward (default {batch_default})"
    )
    parser.add_argument(
        "--precision",
        choices=("auto", "32", "bf16"),
        default=precision,
        help=f"32 (fp32), bf16 (bf16 autocast) or auto (bf16 on CPUs that run it natively, "
        f"AVX512-BF16/AMX, where it measured faster; fp32 on CUDA, where it measured faster "
        f"for one nowcast, and elsewhere); default {precision}",
    )
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile the model's time step (default off)"
    )
    add_memory_format(parser)


def add_memory_format(parser: argparse.ArgumentParser) -> None:
    """``--memory-format`` of test, predict and bench --inference."""
    parser.add_argument(
        "--memory-format",
        choices=("auto", "contiguous", "channels_last"),
        default="auto",
        help="weights, frames and states in NCHW (contiguous) or NHWC (channels_last); auto "
        "(default): the one measured faster on the device (channels_last on CUDA)",
    )


def inference_options(args: argparse.Namespace) -> Any:
    """The :class:`~convrnn.models.inference.InferenceOptions` of ``add_inference``'s options."""
    from convrnn.models.inference import InferenceOptions

    return InferenceOptions(
        args.device, args.batch_size, args.precision, args.compile, args.memory_format
    )
