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
