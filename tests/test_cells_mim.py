import pytest
import torch
from torch import nn, sigmoid, tanh

import convrnn
from convrnn.blocks import GateConv
from convrnn.cells import LayerSpec, MIMCell
from convrnn.stacks import resample
from tests.cell_reference import conv_params, conv_terms


def test_mim_layer_step_matches_official_equations():
    """Layer >= 1: MIM-N on x - x_prev, MIM-S on D and c_{t-1}, c = T + i g (official-ms-rnn.md 1.5)."""
    torch.manual_seed(0)
    fb = 0.5
    cell = MIMCell(3, 4, 3, forget_bias=fb, layer_index=2)
    x, x_prev = torch.randn(2, 3, 6, 6), torch.randn(2, 3, 6, 6)
    h, c, n, s, m = (torch.randn(2, 4, 6, 6) for _ in range(5))
    h1, state, m1 = cell(x, (h, c, n, s, x_prev), m)

    diff = x - x_prev
    i_n, f_n, g_n = sum(conv_terms(cell.mim_n.memory.gates, diff, n)).chunk(3, 1)
    n_ref = sigmoid(f_n + fb) * n + sigmoid(i_n) * tanh(g_n)
    d = sigmoid(sum(conv_terms(cell.mim_n.to_gate, diff, n_ref))) * tanh(n_ref)
    i_s, f_s, g_s, o_s = sum(conv_terms(cell.mim_s.gates, d, c)).chunk(4, 1)
    s_ref = sigmoid(f_s + fb) * s + sigmoid(i_s) * tanh(g_s)
    t = sigmoid(o_s + conv_terms(cell.mim_s.to_gate, s_ref)[0]) * tanh(s_ref)
    i, _f, g, o = sum(conv_terms(cell.gates, x, h)).chunk(4, 1)
    c_ref = t + sigmoid(i) * tanh(g)
    i_m, f_m, g_m = sum(conv_terms(cell.memory.gates, x, m)).chunk(3, 1)
    m_ref = sigmoid(f_m + fb) * m + sigmoid(i_m) * tanh(g_m)
    c2o, m2o = conv_terms(cell.output.to_gate, c_ref, m_ref)
    fuse = cell.output.fuse(torch.cat([c_ref, m_ref], 1))
    h_ref = sigmoid(o + c2o + m2o) * tanh(fuse)

    torch.testing.assert_close(h1, h_ref)
    torch.testing.assert_close(m1, m_ref)
    for got, want in zip(state, (h_ref, c_ref, n_ref, s_ref, x), strict=True):
        torch.testing.assert_close(got, want)
    assert state[4] is x, "the input is kept as next step's x_prev"


def test_layer_zero_is_a_plain_st_lstm():
    torch.manual_seed(0)
    cell = MIMCell(4, 4, 3, layer_index=0)
    x, h, c, m = (torch.randn(1, 4, 5, 5) for _ in range(4))
    h1, state, m1 = cell(x, (h, c), m)
    i, f, g, o = sum(conv_terms(cell.gates, x, h)).chunk(4, 1)
    c_ref = sigmoid(f) * c + sigmoid(i) * tanh(g)
    i_m, f_m, g_m = sum(conv_terms(cell.memory.gates, x, m)).chunk(3, 1)
    m_ref = sigmoid(f_m) * m + sigmoid(i_m) * tanh(g_m)
    c2o, m2o = conv_terms(cell.output.to_gate, c_ref, m_ref)
    h_ref = sigmoid(o + c2o + m2o) * tanh(cell.output.fuse(torch.cat([c_ref, m_ref], 1)))
    torch.testing.assert_close(h1, h_ref)
    torch.testing.assert_close(m1, m_ref)
    assert len(state) == 2
    torch.testing.assert_close(state[1], c_ref)
    names = {n.split(".")[0] for n, _ in cell.named_parameters()}
    assert {"unused_mim_n", "unused_mim_s"} <= names and "mim_n" not in names


def test_first_step_starts_from_zero_memory():
    torch.manual_seed(0)
    cell = MIMCell(4, 4, layer_index=1)
    x = torch.randn(2, 4, 6, 6)
    state = cell.init_state(2, 6, 6, x.device, x.dtype)
    h_none, _, m_none = cell(x, state, None)
    h_zero, _, m_zero = cell(x, state, torch.zeros(2, 4, 6, 6))
    torch.testing.assert_close(h_none, h_zero)
    torch.testing.assert_close(m_none, m_zero)


def test_state_shapes():
    cell0 = MIMCell.from_spec(LayerSpec(0, 3, 5, 4, 8, 8))
    cell1 = MIMCell.from_spec(LayerSpec(1, 3, 5, 4, 8, 8))
    cpu = torch.device("cpu")
    assert [s.shape for s in cell0.init_state(2, 8, 6, cpu, torch.float32)] == [(2, 4, 8, 6)] * 2
    shapes = [s.shape for s in cell1.init_state(2, 8, 6, cpu, torch.float32)]
    assert shapes == [(2, 4, 8, 6)] * 4 + [(2, 5, 8, 6)], "(h, c, n, s) hidden, x_prev input-sized"
    model = convrnn.build_model(
        "ms-mim", num_layers=4, hidden_channels=4, image_size=16, patch_size=1
    )
    state, m = model.init_state(2, 16, 16, torch.zeros(1))
    assert m is None
    assert [len(s) for s in state] == [2, 5, 5, 5]
    assert [s[0].shape[-1] for s in state] == [16, 8, 8, 16]


def test_flat_stack_stored_input_is_lower_layer_output_at_t_minus_1():
    """In the Flat stack our x_prev equals the official diagonal input h^{l-1}_{t-1}."""
    torch.manual_seed(0)
    model = convrnn.build_model("mim", num_layers=4, hidden_channels=4, image_size=8, patch_size=1)
    state = model.init_state(1, 8, 8, torch.zeros(1))
    previous = None
    for _ in range(3):
        z = model.embed(torch.rand(1, 1, 8, 8))
        outputs, state = model.stack(z, state)
        for layer in range(1, 4):
            torch.testing.assert_close(state[0][layer][4], outputs[layer - 1])
        if previous is not None:
            assert not torch.allclose(previous, outputs[0]), "outputs change over time"
        previous = outputs[0]


def test_multiscale_decoder_difference_is_temporal_unlike_the_official():
    """With a skip, our x_prev is the whole previous input (up(h) + skip), the official one up(h) only."""
    torch.manual_seed(0)
    model = convrnn.build_model(
        "ms-mim", num_layers=4, hidden_channels=4, image_size=8, patch_size=1
    )
    assert model.stack.sources[3] == (2, 0)
    state = model.init_state(1, 8, 8, torch.zeros(1))
    outputs, state = model.stack(model.embed(torch.rand(1, 1, 8, 8)), state)
    stored = state[0][3][4]
    up = resample(outputs[2], (8, 8))
    torch.testing.assert_close(stored, up + outputs[0])
    assert not torch.allclose(stored, up)


@pytest.mark.parametrize("stack", ["", "ms-"])
@pytest.mark.parametrize(
    ("preset", "hidden", "expected"), [("ms-rnn", 64, 7_361_473), ("ms-lstm", 32, 1_843_681)]
)
def test_counts_and_the_faithful_option(stack, preset, hidden, expected):
    full = convrnn.build_model(f"{stack}mim", preset, image_size=64)
    lean = convrnn.build_model(f"{stack}mim", preset, image_size=64, faithful=False)
    c = hidden
    mim_n = 2 * conv_params(c, 3 * c) + 2 * conv_params(c, c)  # x2h_n, n2h_n, diff2o, n2o
    mim_s = 2 * conv_params(c, 4 * c) + conv_params(c, c)  # x2h_s, c2h_s, s2o
    assert convrnn.count_parameters(full) == expected
    assert convrnn.count_parameters(full) - convrnn.count_parameters(lean) == mim_n + mim_s
    assert mim_n + mim_s == 153 * c * c + 17 * c


def test_layer_zero_mim_blocks_do_not_change_the_output():
    torch.manual_seed(0)
    lean = convrnn.build_model(
        "mim", num_layers=3, hidden_channels=4, image_size=8, patch_size=1, faithful=False
    )
    full = convrnn.build_model("mim", num_layers=3, hidden_channels=4, image_size=8, patch_size=1)
    missing, unexpected = full.load_state_dict(lean.state_dict(), strict=False)
    assert not unexpected and missing and all(".unused_mim_" in k for k in missing)
    frames = torch.rand(2, 4, 1, 8, 8)
    torch.testing.assert_close(full(frames, 2), lean(frames, 2))


def test_options_and_errors():
    assert {"faithful", "norm", "forget_bias", "bias", "kernel_size"} == set(MIMCell.option_names())
    with pytest.raises(ValueError, match="valid options"):
        convrnn.build_model("mim", la_num=3)
    with pytest.raises(ValueError, match="image_size"):
        convrnn.build_model("mim", norm="layer")
    model = convrnn.build_model(
        "ms-mim",
        num_layers=3,
        hidden_channels=4,
        image_size=8,
        patch_size=1,
        norm="layer",
        bias=False,
    )
    assert model(torch.rand(1, 3, 1, 8, 8), 2).shape == (1, 2, 1, 8, 8)
    convs = [m for m in model.stack.modules() if isinstance(m, GateConv | nn.Conv2d)]
    assert convs and all(m.bias is None for m in convs)
    assert any(isinstance(m, nn.LayerNorm) for m in model.stack.modules())
