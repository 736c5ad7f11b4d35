"""Attention maps (SA-ConvLSTM Fig. 6) and CE/DCB/SE weight maps (CMS-LSTM Fig. 6, MoDeRNN Fig. 3)."""

import numpy as np
import pytest
import torch

from convrnn.maps import attention_maps, context_maps

SMALL = {"num_layers": 2, "hidden_channels": 4, "image_size": 16}  # with tiny's patch_size=2


@pytest.fixture
def frames():
    torch.manual_seed(1)
    return torch.rand(5, 1, 16, 16)


def test_attention_maps_shapes_and_sums(frames, tiny):
    model = tiny("sa-convlstm", **SMALL)
    maps = attention_maps(model, frames, (3, 9), layer=1)
    assert set(maps) == {"hidden", "memory"}
    for m in maps.values():
        assert m.shape == (5, 16, 16) and m.dtype == np.float32
        np.testing.assert_allclose(
            m.sum(axis=(1, 2)), 4.0, rtol=1e-5
        )  # 2x2 frame pixels per position
    partial = attention_maps(model, frames, (3, 9), input_length=3)
    assert partial["hidden"].shape == (4, 16, 16)


def test_attention_maps_follow_the_query(frames, tiny):
    model = tiny("sa-convlstm", **SMALL)
    a = attention_maps(model, frames, (0, 0))["hidden"]
    same_patch = attention_maps(model, frames, (1, 1))["hidden"]
    other = attention_maps(model, frames, (12, 5))["hidden"]
    np.testing.assert_array_equal(a, same_patch)
    assert not np.allclose(a, other)


def test_zero_queries_attend_uniformly(frames, tiny):
    model = tiny("sa-convlstm", **SMALL, patch_size=1)
    sam = model.stack.cells[0].sam
    with torch.no_grad():
        sam.query.weight.zero_()
        sam.query.bias.zero_()
    maps = attention_maps(model, frames, (4, 4))
    np.testing.assert_allclose(maps["memory"], 1 / 256, rtol=1e-5)


def test_base_model_maps_and_recording_leaves_no_trace(frames, tiny):
    model = tiny("sa-convlstm-base", **SMALL)
    before = model.predict(frames[None], 2)
    maps = attention_maps(model, frames, (8, 8), layer=-1)
    assert set(maps) == {"input", "hidden"}
    torch.testing.assert_close(model.predict(frames[None], 2), before)
    assert all(getattr(m, "record", None) is None for m in model.modules())


def test_context_maps(frames, tiny):
    model = tiny("cms-lstm", **SMALL)
    maps = context_maps(model, frames)
    assert set(maps) == {"ce_input", "ce_hidden", "se_input_gate", "se_output_gate"}
    # with H_0 = 0 and LayerNorm at initialisation, CE's weight on X is 2 sigmoid(0) = 1 at step 0
    np.testing.assert_allclose(maps["ce_input"][0], 1.0, rtol=1e-6)
    assert maps["ce_hidden"].min() > 0 and maps["ce_hidden"].max() < 2
    assert maps["se_input_gate"].min() > 0 and maps["se_input_gate"].max() < 1
    dcb = context_maps(tiny("modernn", **SMALL), frames.numpy(), layer=0)
    assert set(dcb) == {"dcb_input", "dcb_hidden"} and dcb["dcb_input"].shape == (5, 16, 16)


def test_map_errors(frames, tiny):
    with pytest.raises(ValueError, match="no attention block"):
        attention_maps(tiny("convlstm", **SMALL), frames, (0, 0))
    with pytest.raises(ValueError, match="no CE, DCB or SE"):
        context_maps(tiny("sa-convlstm", **SMALL), frames)
    with pytest.raises(ValueError, match="outside"):
        attention_maps(tiny("sa-convlstm", **SMALL), frames, (16, 0))
    with pytest.raises(
        ValueError, match="no attention weights"
    ):  # SA-ConvLSTM Table 1: memory only
        attention_maps(tiny("sa-convlstm", **SMALL, attention=False), frames, (0, 0))
    with pytest.raises(ValueError, match="2 layers"):
        context_maps(tiny("cms-lstm", **SMALL), frames, layer=2)
    with pytest.raises(ValueError, match="input_length"):
        context_maps(tiny("cms-lstm", **SMALL), frames, input_length=5)
