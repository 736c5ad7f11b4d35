"""Saved-for-backward activation bytes of Flat models vs their MultiScale twins.

Usage: python benchmarks/activation_memory.py [--models convlstm,...] [--size 64] [--frames 20]
       [--preset ms-rnn] [--batch 1]

Prints one row per model: Flat bytes, MS bytes and the ratio MS / Flat (the
MS-RNN paper's central claim is that the ratio is well below 1).
"""

from __future__ import annotations

import argparse

import torch

import convrnn
from convrnn.cost import activation_bytes


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default="convlstm", help="comma-separated Flat model names")
    parser.add_argument("--preset", default="ms-rnn")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--frames", type=int, default=20, help="sequence length (inputs + targets)")
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args()

    torch.manual_seed(0)
    frames = torch.rand(args.batch, args.frames, 1, args.size, args.size)
    print(
        f"preset={args.preset} size={args.size}x{args.size} frames={args.frames} batch={args.batch}"
    )
    print(f"{'model':<14}{'flat MiB':>12}{'ms MiB':>12}{'ms/flat':>10}")
    for name in args.models.split(","):
        flat = activation_bytes(
            convrnn.build_model(name, args.preset, image_size=args.size), frames, args.frames // 2
        )
        ms = activation_bytes(
            convrnn.build_model(f"ms-{name}", args.preset, image_size=args.size),
            frames,
            args.frames // 2,
        )
        print(f"{name:<14}{flat / 2**20:>12.1f}{ms / 2**20:>12.1f}{ms / flat:>10.3f}")


if __name__ == "__main__":
    main()
