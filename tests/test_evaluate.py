"""``convrnn.evaluate``: the test options and the scoring of a run through them."""

import json

import pytest

from convrnn.cli import main
from convrnn.errors import ConfigError
from convrnn.evaluate import TestOptions, test_run
from tests.fixtures.cli import TINY


def test_options_are_checked_when_made():
    assert TestOptions().split == "test" and TestOptions().baselines == ("persistence",)
    with pytest.raises(ConfigError, match="choose test, val or train"):
        TestOptions(split="bogus")
    with pytest.raises(ConfigError, match="score at least 1 sequence"):
        TestOptions(max_sequences=0)
    with pytest.raises(ConfigError, match=r"unknown baseline\(s\) \['nope'\]"):
        TestOptions(baselines=("persistence", "nope"))
    with pytest.raises(ConfigError, match="choose 'future' or 'all'"):
        TestOptions(frames="some")


def test_former_positional_form_maps_to_options():
    legacy = TestOptions.from_legacy("last", "val", "all", 0, True, 3, (), (8, 8), True, (0,), True)
    assert legacy == TestOptions(
        checkpoint="last",
        split="val",
        frames="all",
        pictures=0,
        layer_outputs=True,
        max_sequences=3,
        baselines=(),
        attention_maps=(8, 8),
        context_maps=True,
        map_layers=(0,),
        masks=True,
    )
    assert TestOptions.from_legacy(num_pictures=1, masked_scores=True) == TestOptions(
        pictures=1, masks=True
    )
    with pytest.raises(TypeError, match="unexpected or repeated option 'bogus'"):
        TestOptions.from_legacy(bogus=1)


def test_test_run_with_options_equals_the_former_call(tmp_path, mnist_cache):
    run = tmp_path / "run"
    assert main(["train", *TINY, "--max-steps", "2", "--out", str(run)]) == 0
    report = test_run(run, TestOptions(checkpoint="last", pictures=1, max_sequences=2))
    assert report["num_sequences"] == 2 and (run / "test-results" / "sequence_00.png").exists()
    written = json.loads((run / "metrics.json").read_text())
    assert written["metrics"]["mse"] == pytest.approx(report["metrics"]["mse"])
    former = test_run(run, "last", "test", None, 0, False, 2)
    assert former["metrics"] == report["metrics"] and former["baselines"] == report["baselines"]
    with pytest.raises(TypeError, match="no further arguments"):
        test_run(run, TestOptions(), "last")
