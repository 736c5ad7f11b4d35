"""The ``convrnn`` command: train, test, predict, export, models, data, bench (one module per command)."""

from __future__ import annotations

import argparse
import sys

from convrnn import progress
from convrnn.cli import bench, data, export, models, predict, test, train
from convrnn.cli.options import add_threads
from convrnn.errors import ConvrnnError, TrainingInterrupted

#: OS errors that mean a user's mistake (a wrong path, a file in the way, no permission)
USER_OS_ERRORS: tuple[type[OSError], ...] = (
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)


#: each command's module: HELP, DESCRIPTION, add_arguments(parser) and run(args) -> exit status
COMMANDS = {
    "train": train,
    "test": test,
    "predict": predict,
    "export": export,
    "models": models,
    "data": data,
    "bench": bench,
}


def version() -> str:
    """The installed distribution's version, from its metadata."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("convrnn")
    except PackageNotFoundError:  # a source tree on PYTHONPATH, never installed
        return "unknown (not installed: pip install -e .)"


def _noise_options() -> argparse.ArgumentParser:
    """``--quiet`` and ``--verbose``, shared by every command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress bars (they are drawn only when stderr is a terminal)",
    )
    common.add_argument(
        "--verbose",
        action="store_true",
        help="also show Lightning's start-up banner and tips and known deprecation warnings",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``convrnn`` command."""
    parser = argparse.ArgumentParser(
        prog="convrnn",
        description="Convolutional recurrent networks for spatiotemporal prediction.",
    )
    parser.add_argument("--version", action="version", version=f"convrnn {version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    common = _noise_options()
    for name, command in COMMANDS.items():
        p = sub.add_parser(
            name, help=command.HELP, description=command.DESCRIPTION, parents=[common]
        )
        command.add_arguments(p)
        add_threads(p)
        p.set_defaults(handler=command.run)
    return parser


def _report(command: str, message: object) -> int:
    print(f"convrnn {command}: error: {message}", file=sys.stderr)
    return 2


OOM_HINT = (
    "out of memory: use a smaller --batch-size, --set model.options.checkpointing=step (a third "
    "of the activations at ~1.35x the time), a larger model.options.patch_size, a smaller frame "
    "size, or an ms- twin (about half the activations); `convrnn bench --max-size` estimates "
    "what fits"
)


def _out_of_memory(e: BaseException) -> bool:
    """A CUDA or CPU allocation failure (torch.OutOfMemoryError or the allocator's message)."""
    text = str(e).lower()
    return (
        isinstance(e, MemoryError)
        or type(e).__name__ == "OutOfMemoryError"
        or "out of memory" in text
        or "can't allocate memory" in text
    )


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``convrnn`` command: a user's mistake prints ``error: ...`` and returns 2."""
    args = build_parser().parse_args(argv)
    progress.configure(quiet=args.quiet, verbose=args.verbose)
    try:
        if args.command != "train":  # train reads train.threads and shares cores among processes
            from convrnn.threads import apply_threads

            apply_threads(args.threads)
        return args.handler(args)
    except TrainingInterrupted as e:  # rank 0 reports: a DDP worker exiting non-zero kills rank 0
        if e.rank == 0:
            print(f"convrnn {args.command}: {e}", file=sys.stderr)
        return e.exit_code if e.rank == 0 else 0
    except (ConvrnnError, *USER_OS_ERRORS) as e:
        return _report(args.command, e)
    except (RuntimeError, MemoryError) as e:
        if not _out_of_memory(e):
            raise
        return _report(args.command, f"{_first_line(e)}\n{OOM_HINT}")


__all__ = ["build_parser", "main"]
