"""Every registered model trains one iteration and is tested through the CLI."""

from __future__ import annotations

import json

import pytest

import convrnn
from convrnn.cli import main


@pytest.mark.slow
@pytest.mark.parametrize("name", convrnn.list_models())
def test_every_model_trains_and_tests_through_the_cli(name, tmp_path, mnist_cache):
    run = tmp_path / "run"
    sets = {
        "model.options.hidden_channels": 4, "model.options.num_layers": 2, "model.options.patch_size": 1,
        "data.input_length": 2, "data.output_length": 2, "data.options.image_size": 32,
        "data.train_options.num_sequences": 4, "data.val_options.num_sequences": 2,
        "data.test_options.num_sequences": 2, "train.progress_bar": "false", "train.val_every": 1,
    }  # fmt: skip
    args = ["train", "--model", name, "--max-steps", "1", "--batch-size", "2", "--out", str(run)]
    assert main(args + [a for k, v in sets.items() for a in ("--set", f"{k}={v}")]) == 0
    assert main(["test", str(run), "--pictures", "0"]) == 0
    report = json.loads((run / "metrics.json").read_text())
    assert report["num_sequences"] == 2 and len(report["metrics"]["mse_per_frame"]) == 2
