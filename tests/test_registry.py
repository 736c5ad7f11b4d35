import subprocess
import sys

import pytest

import convrnn
from convrnn.registry import get_entry


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


def test_import_stays_light():
    code = "import sys, convrnn; print(any(m.split('.')[0] in ('lightning', 'matplotlib', 'pytorch_lightning') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
