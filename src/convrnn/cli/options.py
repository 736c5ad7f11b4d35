"""Options several commands share, declared once."""

from __future__ import annotations

import argparse


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
