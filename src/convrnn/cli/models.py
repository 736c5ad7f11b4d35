"""``convrnn models``: the registry's models with their parameter counts."""

from __future__ import annotations

import argparse

HELP = "list models with their parameter counts"
DESCRIPTION = None


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``models``."""
    p.add_argument("--preset", help="count under this preset (default: the small defaults)")
    p.add_argument(
        "--image-size", type=int, default=64, help="frame side for size-dependent counts (64)"
    )


def run(args: argparse.Namespace) -> int:
    """One line per model: name, parameters, the first line of its summary."""
    from convrnn.cells.registry import get_entry, list_models
    from convrnn.models.factory import build_model, count_parameters

    print(f"{'model':<22}{'params':>12}  summary")
    for name in list_models():
        entry = get_entry(name)
        model = build_model(name, args.preset, image_size=args.image_size)
        print(f"{name:<22}{count_parameters(model):>12,}  {entry.summary.splitlines()[0][:70]}")
    return 0
