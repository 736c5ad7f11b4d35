import inspect
import subprocess
import sys

import pytest

import convrnn
from convrnn.errors import ChoiceError, ConfigError
from convrnn.registry import FORECASTER_OPTIONS, STACK_OPTIONS, get_entry, list_models


def test_names_and_twins():
    names = convrnn.list_models()
    assert {"convlstm", "ms-convlstm"} <= set(names)
    for name in names:
        entry = get_entry(name)
        assert entry.stack == ("multiscale" if name.startswith("ms-") else "flat")


@pytest.mark.parametrize("name", ["convlstm", "ms-convlstm"])
@pytest.mark.parametrize(("preset", "expected"), [("ms-rnn", 1_772_737), ("ms-lstm", 444_001)])
def test_exact_official_counts(name, preset, expected):
    assert convrnn.count_parameters(convrnn.build_model(name, preset)) == expected


def test_every_documented_count_holds():
    for name in convrnn.list_models():
        for preset, expected in get_entry(name).params.items():
            got = convrnn.count_parameters(convrnn.build_model(name, preset, image_size=64))
            assert got == expected, (name, preset)


def test_preset_settings_and_defaults():
    m = convrnn.build_model("ms-convlstm", "ms-rnn")
    assert (m.stack.depth, m.stack.channels, m.patch_size) == (6, 64, 1)
    assert m.stack.scales == (0, 1, 2, 2, 1, 0)
    d = convrnn.build_model("ms-convlstm")
    assert (d.stack.depth, d.stack.channels, d.patch_size) == (4, 32, 4)
    assert convrnn.build_model("convlstm", "ms-rnn", hidden_channels=16).stack.channels == 16


def test_config_rebuilds_the_same_model():
    m = convrnn.build_model("ms-convlstm", "ms-lstm", skip="none", num_layers=4)
    cfg = dict(m.config)
    options = cfg.pop("options")
    again = convrnn.build_model(**cfg, **options)
    assert again.stack.skip == "none" and again.stack.depth == 4
    assert convrnn.count_parameters(again) == convrnn.count_parameters(m)


def test_errors_list_valid_choices():
    with pytest.raises(KeyError, match=r"valid models: .*ms-convlstm"):
        convrnn.build_model("convgru")
    with pytest.raises(KeyError, match=r"valid presets: .*ms-rnn"):
        convrnn.build_model("convlstm", "ms-rnnn")
    with pytest.raises(ValueError, match=r"valid options: .*forget_bias"):
        convrnn.build_model("convlstm", dropout=0.1)
    with pytest.raises(ValueError, match="skip"):
        convrnn.build_model("convlstm", skip="unet")  # Flat has no skips
    with pytest.raises(ValueError, match="divisible"):
        convrnn.build_model("ms-convlstm", image_size=18, patch_size=1, num_layers=6)


def test_list_models_filters():
    everything = list_models()
    assert list_models("ms-*") == [n for n in everything if n.startswith("ms-")]
    assert list_models(stack="multiscale") == list_models("ms-*")
    assert list_models(stack="flat") == [n for n in everything if not n.startswith("ms-")]
    assert list_models("*predrnn*") == ["ms-predrnn", "ms-predrnn++", "ms-predrnn-v2", "predrnn",
                                        "predrnn++", "predrnn-v2"]  # fmt: skip
    assert list_models("*-lstm", stack="flat") == ["cms-lstm", "mk-lstm"]
    assert list_models("no-such-*") == []
    with pytest.raises(ChoiceError, match="valid stacks: flat, multiscale"):
        list_models(stack="pyramid")


def test_variants_are_entries_of_their_parent_cell():
    assert get_entry("modernn").cell is get_entry("convlstm").cell
    assert get_entry("cms-lstm").cell is get_entry("convlstm").cell
    assert get_entry("sa-convlstm-base").cell is get_entry("sa-convlstm").cell
    assert set(get_entry("modernn").option_names()) < set(get_entry("convlstm").option_names())
    assert "dcb" not in get_entry("modernn").option_names()
    with pytest.raises(ConfigError, match=r"unknown option.*'dcb'"):
        convrnn.build_model("modernn", dcb=False)


def test_option_names_match_the_stacks_and_the_forecaster():
    from convrnn.models.forecaster import Forecaster
    from convrnn.stacks import Flat, MultiScale

    def keywords(cls, skip):
        return tuple(n for n in inspect.signature(cls).parameters if n not in skip)

    assert (
        keywords(Flat, ("cell_factory", "depth", "channels", "image_size")) == STACK_OPTIONS["flat"]
    )
    assert (
        keywords(MultiScale, ("cell_factory", "depth", "channels", "image_size"))
        == (STACK_OPTIONS["multiscale"])
    )
    built_by_the_factory = ("stack", "in_channels", "patch_size", "image_size")
    assert keywords(Forecaster, built_by_the_factory) == FORECASTER_OPTIONS


@pytest.mark.parametrize(
    ("setting", "value"),
    [("hidden_channels", 0), ("num_layers", 0), ("num_layers", -2), ("patch_size", 0),
     ("in_channels", 0), ("kernel_size", 0), ("hidden_channels", 2.5)],
)  # fmt: skip
@pytest.mark.parametrize("name", ["convlstm", "ms-convlstm"])
def test_bad_sizes_raise_a_config_error_naming_them(name, setting, value):
    with pytest.raises(ConfigError, match=rf"{setting} must be a positive integer, got {value}"):
        convrnn.build_model(name, **{setting: value})


def test_config_errors():
    with pytest.raises(ConfigError, match="num_layers >= 2"):
        convrnn.build_model("convlstm", num_layers=1)
    with pytest.raises(ConfigError, match=r"not divisible by patch_size=4; pass an image_size"):
        convrnn.build_model("convlstm", image_size=18)
    with pytest.raises(ConfigError, match="image_height must be a positive integer"):
        convrnn.build_model("convlstm", image_size=0)
    with pytest.raises(ChoiceError, match="unknown model 'convgru'"):
        get_entry("convgru")
    with pytest.raises(ChoiceError, match="unknown preset"):
        convrnn.registry.get_preset("nope")


def test_import_stays_light():
    code = "import sys, convrnn; print(any(m.split('.')[0] in ('lightning', 'matplotlib', 'pytorch_lightning') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_import_does_not_load_torch_until_a_model_is_built():
    code = (
        "import sys, convrnn; print('torch' in sys.modules); "
        "convrnn.build_model('ms-convlstm', preset='ms-rnn'); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
