"""Test metrics of a trained run in fp32 and under bf16 autocast (CPU or GPU), same weights, same data.

Usage: python benchmarks/bf16_metrics.py RUN_DIR [--sequences 256] [--checkpoint best] [--device cpu]

Prints MSE/MAE (per-frame sums), PSNR and SSIM of the run's test split, predicted once in fp32
and once with ``torch.autocast(..., torch.bfloat16)``, and the relative change of each. NaN
(unobserved) pixels are filled for the model and left out of the scores, as ``convrnn test`` does.
"""

from __future__ import annotations

import argparse

import torch
from torch.utils.data import DataLoader, Subset

import convrnn
from convrnn.data.coverage import split_coverage, window_coverage
from convrnn.metrics import FrameMetrics
from convrnn.runs import read_config, read_normalizer
from convrnn.train.data import load_split


def scores(model, loader, input_length: int, device: str, bf16: bool) -> dict[str, float]:
    """Mean MSE/MAE/PSNR/SSIM of the future frames, predicted in fp32 or under bf16 autocast."""
    metrics = FrameMetrics()
    for batch in loader:
        filled, seen = split_coverage(batch)  # NaN: not observed (radar coverage)
        with torch.autocast(device, torch.bfloat16, enabled=bf16):
            pred = model.predict(filled[:, :input_length].to(device), batch.shape[1] - input_length)
        mask = None if seen is None else window_coverage(seen[:, input_length:])
        metrics.update(pred.float().cpu(), batch[:, input_length:], mask)
    result = metrics.compute()
    return {k: result[k] for k in ("mse", "mae", "psnr", "ssim")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run_dir")
    parser.add_argument("--sequences", type=int, default=256)
    parser.add_argument("--checkpoint", default="best")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    cfg = read_config(args.run_dir)
    model = convrnn.load(args.run_dir, args.checkpoint).to(args.device)
    dataset = load_split(cfg, "test", read_normalizer(args.run_dir))
    dataset = Subset(dataset, range(min(args.sequences, len(dataset))))
    loader = DataLoader(dataset, batch_size=cfg["eval"]["batch_size"])
    t_in = cfg["data"]["input_length"]
    fp32 = scores(model, loader, t_in, args.device, bf16=False)
    bf16 = scores(model, loader, t_in, args.device, bf16=True)
    print(f"{args.run_dir}: {len(dataset)} test sequences, {cfg['model']['name']}")
    print(f"{'':<10}{'fp32':>10}{'bf16':>10}{'change':>10}")
    for key in fp32:
        change = (bf16[key] - fp32[key]) / abs(fp32[key])
        print(f"{key:<10}{fp32[key]:>10.4f}{bf16[key]:>10.4f}{change:>+10.2%}")


if __name__ == "__main__":
    main()
