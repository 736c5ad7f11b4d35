from pathlib import Path

import pytest

from convrnn import config

RECIPES = sorted(Path(__file__).parents[1].joinpath("recipes").glob("*.yaml"))


def test_layers_merge_in_order():
    cfg = config.resolve(
        {"train": {"lr": 1e-3}}, config.parse_set(["train.lr=2e-3", "model.options.x=[1, 2]"])
    )
    assert cfg["train"]["lr"] == 2e-3
    assert cfg["model"]["options"] == {"x": [1, 2]}
    assert cfg["train"]["batch_size"] == config.DEFAULTS["train"]["batch_size"]


def test_bad_keys_and_values_are_named():
    with pytest.raises(config.ConfigError, match=r"train\.lrr"):
        config.resolve({"train": {"lrr": 1}})
    with pytest.raises(config.ConfigError, match=r"train.loss="):
        config.resolve({"train": {"loss": "huber"}})
    with pytest.raises(config.ConfigError, match=r"train\.batch_size"):
        config.resolve({"train": {"batch_size": 0}})
    with pytest.raises(config.ConfigError, match="key=value"):
        config.parse_set(["train.lr"])
    with pytest.raises(config.ConfigError, match="mapping"):
        config.resolve({"model": {"options": 3}})


def test_stop_iteration():
    assert config.stop_iteration(config.resolve({"train": {"max_steps": 10}})) == 10
    assert config.stop_iteration(config.resolve({"train": {"max_steps": 10, "stop_after": 4}})) == 4


@pytest.mark.parametrize("recipe", RECIPES, ids=[r.name for r in RECIPES])
def test_recipes_resolve_and_build(recipe):
    import convrnn
    from convrnn.data import list_datasets

    cfg = config.resolve(config.load_yaml(recipe))
    assert cfg["data"]["name"] in list_datasets()
    model = cfg["model"]
    assert model["name"] in convrnn.list_models()
    options = {"image_size": 64, **model["options"]}
    convrnn.build_model(model["name"], model["preset"], **options)


def test_num_nodes_key():
    assert config.resolve()["train"]["num_nodes"] == 1
    assert config.resolve(config.parse_set(["train.num_nodes=2"]))["train"]["num_nodes"] == 2
    with pytest.raises(config.ConfigError, match=r"train\.num_nodes"):
        config.resolve({"train": {"num_nodes": 0}})


def test_resume_changes_name_the_fixed_keys():
    saved = config.resolve()
    changed = config.resolve(
        saved,
        {"train": {"lr": 1e-3, "max_steps": 5000, "devices": 2, "stop_after": 10}},
        {"model": {"options": {"hidden_channels": 16}}, "data": {"root": "/elsewhere"}},
        {"eval": {"batch_size": 2}},
    )
    assert config.resume_changes(saved, changed) == [
        "model.options.hidden_channels",
        "train.lr",
        "train.max_steps",
    ]
    assert config.resume_changes(saved, config.resolve(saved)) == []
