"""Plain weighted losses (W-MSE/W-MAE): weights rising with the truth's normalised value, masked, any data."""

import pytest
import torch

from convrnn.config import DEFAULTS, merge, validate
from convrnn.errors import ConfigError
from convrnn.train.losses import frame_loss


def test_weights_rise_linearly_with_the_truth():
    target = torch.tensor([0.0, 0.25, 0.5, 1.0]).reshape(1, 1, 1, 1, 4)
    pred = target + 0.1
    loss = frame_loss(pred, target, "w-mae", "frame-sum", weight_max=5.0)
    # weights 1, 2, 3, 5 on errors of 0.1 each
    torch.testing.assert_close(loss, torch.tensor(0.1 * (1 + 2 + 3 + 5)))
    squared = frame_loss(pred, target, "w-mse+w-mae", "mean", weight_max=5.0)
    torch.testing.assert_close(squared, torch.tensor((0.01 + 0.1) * (1 + 2 + 3 + 5) / 4))


def test_weight_one_is_the_plain_loss_and_the_mask_applies():
    torch.manual_seed(0)
    pred, target = torch.rand(2, 3, 1, 4, 4), torch.rand(2, 3, 1, 4, 4)
    plain = frame_loss(pred, target, "l2", "mean")
    torch.testing.assert_close(frame_loss(pred, target, "w-mse", "mean", weight_max=1.0), plain)
    seen = torch.rand(2, 3, 1, 4, 4) > 0.5
    target_nan = torch.where(seen, target, torch.nan)
    masked = frame_loss(pred, target_nan, "w-mse", "mean", observed=seen, weight_max=3.0)
    weights = 1 + 2 * target
    want = ((pred - target) ** 2 * weights)[seen].sum() / seen.sum()
    torch.testing.assert_close(masked, want)


@pytest.mark.parametrize("bad", [0.5, -1, float("inf"), "ten", True])
def test_loss_weight_max_is_checked(bad):
    cfg = merge(DEFAULTS, {"train": {"loss": "w-mse", "loss_weight_max": bad}})
    with pytest.raises(ConfigError, match="loss_weight_max"):
        validate(cfg)


def test_weighted_loss_trains_through_the_cli(tmp_path, capsys):
    import numpy as np

    from convrnn.cli import main

    frames = np.random.default_rng(0).random((40, 16, 16), dtype=np.float32)
    path = tmp_path / "frames.npy"
    np.save(path, frames)
    args = ["train", "--data", str(path), "--max-steps", "2", "--out", str(tmp_path / "run"),
            "--set", "train.loss=w-mse+w-mae", "--set", "train.loss_weight_max=4",
            "--set", "data.input_length=2", "--set", "data.output_length=2",
            "--set", "model.options.hidden_channels=4", "--set", "model.options.num_layers=2",
            "--set", "train.progress_bar=false"]  # fmt: skip
    assert main(args) == 0
    assert "w-mse+w-mae" in (tmp_path / "run" / "config.yaml").read_text()
