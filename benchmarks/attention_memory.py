"""Saved-for-backward bytes of the attention models at two image sizes: linear, not quadratic, growth.

Usage: python benchmarks/attention_memory.py [--models cms-lstm,sa-convlstm] [--sizes 32,64]
       [--preset cms-lstm] [--hidden 64] [--layers 4] [--frames 2] [--batch 1]

Every model runs without patching (patch_size=1), so the attention sees all
H x W positions (SE: 2 H W tokens in its largest window). One training forward
over ``--frames`` frames (2 = one step) is recorded with
``convrnn.cost.activation_bytes``; the count is exact and device-independent.
Each row also gives the bytes that the attention weight matrices alone would
take if they were stored (what a plain ``softmax(Q K^T)`` keeps for backward),
and the ratio of the largest size to the smallest: about 4x per doubling of
the side means linear growth in the number of tokens, 16x would be quadratic.
"""

from __future__ import annotations

import argparse

import torch

import convrnn
from convrnn.blocks import SelfAttention, SelfAttentionMemory, SpatiotemporalExpression
from convrnn.cost import activation_bytes


def attention_matrix_bytes(model: torch.nn.Module, height: int, width: int, steps: int) -> int:
    """Bytes of float32 attention weights one forward would hold if it stored them (per sample)."""
    total = 0
    for cell, scale in zip(model.stack.cells, model.stack.scales, strict=True):
        n = (height >> scale) * (width >> scale)
        for block in cell.modules():
            if isinstance(block, SpatiotemporalExpression):
                total += sum((2 * n // s**2) ** 2 * s**2 for s in block.scales)
            elif isinstance(block, SelfAttentionMemory):
                total += n * n * (int(block.attention) + int(block.memory_attention))
            elif isinstance(block, SelfAttention):
                total += n * n
    return 4 * total * steps


def measure(
    name: str,
    sizes: list[int],
    preset: str = "cms-lstm",
    hidden: int = 64,
    layers: int = 4,
    frames: int = 2,
    batch: int = 1,
) -> list[dict[str, int]]:
    """Per size: ``{"size", "saved_bytes", "softmax_bytes"}`` of one training forward, no patching."""
    rows = []
    for size in sizes:
        torch.manual_seed(0)
        model = convrnn.build_model(
            name,
            preset,
            image_size=size,
            patch_size=1,
            hidden_channels=hidden,
            num_layers=layers,
        )
        sequence = torch.rand(batch, frames, 1, size, size)
        rows.append(
            {
                "size": size,
                "saved_bytes": activation_bytes(model, sequence, 1),
                "softmax_bytes": batch * attention_matrix_bytes(model, size, size, frames - 1),
            }
        )
        del model
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default="cms-lstm,sa-convlstm")
    parser.add_argument("--sizes", default="32,64", help="comma-separated square image sides")
    parser.add_argument("--preset", default="cms-lstm")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--frames", type=int, default=2, help="frames per sequence (2 = one step)")
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args()

    sizes = [int(s) for s in args.sizes.split(",")]
    print(
        f"preset={args.preset} hidden={args.hidden} layers={args.layers} patch_size=1 "
        f"frames={args.frames} batch={args.batch}"
    )
    print(f"{'model':<14}{'size':>8}{'saved bytes':>16}{'MiB':>10}{'stored softmax MiB':>20}")
    for name in args.models.split(","):
        rows = measure(name, sizes, args.preset, args.hidden, args.layers, args.frames, args.batch)
        for row in rows:
            size, nbytes = row["size"], row["saved_bytes"]
            print(
                f"{name:<14}{f'{size}x{size}':>8}{nbytes:>16,}{nbytes / 2**20:>10.1f}"
                f"{row['softmax_bytes'] / 2**20:>20.1f}"
            )
        ratio = rows[-1]["saved_bytes"] / rows[0]["saved_bytes"]
        print(f"{name:<14}{'ratio':>8}{ratio:>16.2f}  ({sizes[-1]} vs {sizes[0]})")


if __name__ == "__main__":
    main()
