"""Models that predict a subset of their input channels (``target_channels`` / ``out_channels``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import convrnn
from convrnn.data import Normalizer, get_dataset
from convrnn.errors import ConfigError
from tests.conftest import tiny_model


def recorded_inputs(model):
    """Every frame the model's time step reads, and every raw (unclipped) prediction it makes."""
    seen, preds = [], []
    step = model._step

    def recording(frame, state, motion=None):
        seen.append(frame.clone())
        pred, state, outputs = step(frame, state, motion)
        preds.append(pred.clone())
        return pred, state, outputs

    model._step = recording
    return seen, preds


def test_predict_feeds_predictions_into_the_targets_and_persists_the_rest():
    model = tiny_model("ms-convlstm", num_layers=2, in_channels=3, target_channels=[2, 0]).eval()
    assert model.out_channels == 2
    seen, preds = recorded_inputs(model)
    inputs = torch.rand(2, 3, 3, 16, 16)
    forecast = model.predict(inputs, 3)
    assert forecast.shape == (2, 3, 2, 16, 16)
    for t in (3, 4):  # the steps after the inputs
        fed = seen[t]
        torch.testing.assert_close(fed[:, 1], inputs[:, -1, 1])  # not a target: last observed
        torch.testing.assert_close(fed[:, 2], preds[t - 1][:, 0])  # target_channels[0] = 2
        torch.testing.assert_close(fed[:, 0], preds[t - 1][:, 1])
    torch.testing.assert_close(forecast, torch.stack(preds[2:], 1).clamp(0, 1))


def test_training_rollout_follows_the_same_rule_and_targets_of_picks_the_truth():
    model = tiny_model("convlstm", num_layers=2, in_channels=2, target_channels=[1])
    seen, preds = recorded_inputs(model)
    frames = torch.rand(2, 5, 2, 16, 16)
    out = model(frames, input_length=2)
    assert out.shape == (2, 4, 1, 16, 16)
    torch.testing.assert_close(seen[1], frames[:, 1])  # inputs are read as they are
    for t in (2, 3):
        torch.testing.assert_close(seen[t][:, 0], frames[:, 1, 0])  # last observed frame (t_in - 1)
        torch.testing.assert_close(seen[t][:, 1], preds[t - 1][:, 0])
    torch.testing.assert_close(model.targets_of(frames[:, 1:]), frames[:, 1:, 1:2])
    mask = torch.ones(2, 3)  # full teacher forcing reads the truth, every channel
    model(frames, 2, mask)
    torch.testing.assert_close(torch.stack(seen[-3:], 1), frames[:, 1:4])


def test_out_channels_is_the_first_channels_and_presets_are_unchanged():
    full = convrnn.build_model("ms-convlstm", "ms-rnn")
    assert convrnn.count_parameters(full) == 1_772_737  # the paper's count, untouched
    same = convrnn.build_model("ms-convlstm", "ms-rnn", out_channels=1)
    assert same.state_dict().keys() == full.state_dict().keys()
    assert convrnn.count_parameters(same) == 1_772_737
    three = convrnn.build_model("ms-convlstm", "ms-rnn", in_channels=3)
    one = convrnn.build_model("ms-convlstm", "ms-rnn", in_channels=3, out_channels=1)
    assert one.target_channels == (0,) and one.out_channels == 1
    # the head loses 2 output channels: 64 weights + 1 bias each
    assert convrnn.count_parameters(three) - convrnn.count_parameters(one) == 2 * 65


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"in_channels": 2, "out_channels": 3}, "out_channels=3 > in_channels=2"),
        ({"in_channels": 2, "target_channels": [2]}, r"target_channels \[2\] do not exist"),
        ({"in_channels": 3, "target_channels": [1, 1]}, "distinct input-channel indices"),
        ({"in_channels": 3, "target_channels": []}, "distinct input-channel indices"),
        ({"in_channels": 3, "out_channels": 2, "target_channels": [0]}, "give one of them"),
    ],
)
def test_bad_targets_are_config_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        convrnn.build_model("convlstm", hidden_channels=8, num_layers=2, **options)


def test_arrays_dataset_checks_and_records_target_channels(tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((20, 3, 8, 8), dtype=np.float32))
    opts = {"normalize": "none", "seq_len": 4}
    ds = get_dataset("arrays", tmp_path / "x.npy", "train", target_channels=[2], **opts)
    assert ds.target_channels == [2] and ds.info.options["target_channels"] == [2]
    assert ds[0].shape == (4, 3, 8, 8)  # every channel stays an input
    with pytest.raises(ConfigError, match=r"channel indices in 0\.\.2 \(the data have 3"):
        get_dataset("arrays", tmp_path / "x.npy", "train", target_channels=[3], **opts)


def test_normalizer_for_channels_picks_per_channel_parameters():
    norm = Normalizer.fixed_range([0.0, 10.0, -1.0], [1.0, 20.0, 1.0])
    picked = norm.for_channels((2,))
    assert picked.scale == [0.5] and picked.offset == [0.5]
    np.testing.assert_allclose(picked.inverse(np.ones((1, 1, 2, 2), np.float32)), 1.0)
    shared = Normalizer.fixed_range(0.0, 5.0)
    assert shared.for_channels((1,)) is shared and norm.for_channels(None) is norm
