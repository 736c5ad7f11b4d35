"""Persistence-anchored (residual) forecasts: the head predicts the change from the frame it was given."""

import pytest
import torch

from convrnn.cost.counters import count_parameters
from convrnn.models.factory import PRESETS, build_model


def _zero_head(model):
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
    return model


@pytest.mark.parametrize("name", ["convlstm", "ms-convlstm", "predrnn", "ms-mim"])
def test_zero_head_residual_forecast_is_persistence(name, tiny):
    model = _zero_head(tiny(name, num_layers=2, hidden_channels=4, residual=True)).eval()
    inputs = torch.rand(2, 3, 1, 16, 16)
    forecast = model.predict(inputs, 4)
    assert torch.equal(forecast, inputs[:, -1:].expand(-1, 4, -1, -1, -1))
    frames = torch.rand(2, 6, 1, 16, 16)
    out = model(frames, input_length=3)
    # steps 0..2 read the truth (next frame = the frame given), then the own forecast = the last input
    assert torch.equal(out[:, :3], frames[:, :3])
    assert torch.equal(out[:, 3:], frames[:, 2:3].expand(-1, 2, -1, -1, -1))


def test_residual_persists_only_the_target_channels(tiny):
    model = tiny(
        "ms-convlstm",
        num_layers=2,
        hidden_channels=4,
        in_channels=3,
        target_channels=[2],
        residual=True,
    )
    model = _zero_head(model).eval()
    inputs = torch.rand(1, 3, 3, 16, 16)
    forecast = model.predict(inputs, 3)
    assert forecast.shape == (1, 3, 1, 16, 16)
    assert torch.equal(forecast, inputs[:, -1:, 2:3].expand(-1, 3, -1, -1, -1))


@pytest.mark.parametrize("name", ["ms-convlstm", "predrnn"])
def test_residual_off_by_default_and_changes_no_weights(name, tiny):
    plain = tiny(name, num_layers=2, hidden_channels=4)
    anchored = tiny(name, num_layers=2, hidden_channels=4, residual=True)
    assert plain.residual is False
    assert count_parameters(plain) == count_parameters(anchored)
    anchored.load_state_dict(plain.state_dict())
    inputs = torch.rand(1, 2, 1, 16, 16)
    # the same weights: the residual forecast differs from the plain one by the frame it was given
    first_plain = plain.predict(inputs, 1, clip=False)
    first_anchored = anchored.predict(inputs, 1, clip=False)
    torch.testing.assert_close(first_anchored, first_plain + inputs[:, -1:])


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_paper_preset_counts_unchanged_by_residual(preset):
    name = "ms-convlstm"
    plain = build_model(name, preset)
    anchored = build_model(name, preset, residual=True)
    assert count_parameters(plain) == count_parameters(anchored)
    assert anchored.config["options"]["residual"] is True


def test_untrained_residual_model_is_persistence(tiny):
    model = tiny("ms-convlstm", num_layers=2, hidden_channels=4, residual=True).eval()
    inputs = torch.rand(1, 4, 1, 16, 16)
    assert torch.equal(model.predict(inputs, 5), inputs[:, -1:].expand(-1, 5, -1, -1, -1))
    frames = torch.rand(1, 6, 1, 16, 16)
    model.train()
    model(frames, 3).sum().backward()  # the zero head still learns
    assert model.head.weight.grad.abs().sum() > 0


def test_residual_must_be_a_bool(tiny):
    from convrnn.errors import ConfigError

    with pytest.raises(ConfigError, match="residual"):
        tiny(residual="yes")
