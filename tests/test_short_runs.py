"""Defaults that suit short runs: teacher forcing ends by half the run, validation several times."""

from pathlib import Path

import pytest

from convrnn import config
from convrnn.train.module import sampling_kind, sampling_options
from convrnn.train.sampling import SamplingSchedule

RECIPES = sorted(Path(__file__).parents[1].joinpath("recipes").glob("*.yaml"))


def schedule(cfg):
    """The schedule a run of ``cfg`` trains with (as ForecastModule builds it)."""
    train = cfg["train"]
    return SamplingSchedule(sampling_kind(cfg), train["max_steps"], **sampling_options(cfg))


def test_auto_ends_teacher_forcing_at_half_of_a_short_run():
    s = schedule(config.resolve({"train": {"max_steps": 240}}))
    assert s.kind == "linear" and s.options == {"fraction": 0.5}
    assert s.probabilities(59)[1] == pytest.approx(0.5)  # iteration 60 of 240
    assert s.probabilities(119)[1] == 0.0  # from iteration 120 on: the model's own predictions
    assert s.probabilities(239)[1] == 0.0


def test_paper_keeps_the_official_schedule_and_options_win():
    paper = schedule(config.resolve({"train": {"max_steps": 240, "sampling": "paper"}}))
    assert paper.options == {"fraction": 1.0} and paper.probabilities(179)[1] == pytest.approx(0.25)
    mine = {"train": {"max_steps": 240, "sampling_options": {"fraction": 0.25}}}
    assert schedule(config.resolve(mine)).probabilities(59)[1] == 0.0
    v2 = schedule(config.resolve({"model": {"name": "predrnn-v2"}, "train": {"max_steps": 300}}))
    assert v2.kind == "reverse" and v2.options == {"step_1": 100, "step_2": 200, "alpha": 20}


@pytest.mark.parametrize("recipe", RECIPES, ids=[r.name for r in RECIPES])
def test_recipes_keep_their_explicit_schedules(recipe):
    cfg = config.resolve(config.load_yaml(recipe))
    train = cfg["train"]
    assert train["sampling"] != "auto", "a paper recipe names its schedule"
    assert sampling_options(cfg) == train["sampling_options"]  # nothing added for short runs
    if train["sampling"] == "paper" and sampling_kind(cfg) == "linear":
        assert schedule(cfg).options == {"fraction": 1.0}  # 1 -> 0 over the whole run (MS-RNN)
    assert train["val_every"] is not None  # the papers' validation intervals stay


@pytest.mark.parametrize(
    ("max_steps", "every"), [(3, 1), (240, 48), (1000, 200), (2500, 500), (100_000, 500)]
)
def test_default_val_every_validates_at_least_five_times(max_steps, every):
    cfg = config.resolve({"train": {"max_steps": max_steps}})
    assert config.val_every(cfg) == every
    assert max_steps // every >= min(5, max_steps)
    explicit = config.resolve({"train": {"max_steps": max_steps, "val_every": 7}})
    assert config.val_every(explicit) == 7
    with pytest.raises(config.ConfigError, match=r"train\.val_every"):
        config.resolve({"train": {"val_every": 0}})
