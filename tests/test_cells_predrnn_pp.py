"""PredRNN++ (Causal LSTM + Gradient Highway Unit): equations, states, counts, dead GHU weights."""

import re

import pytest
import torch

import convrnn
from convrnn.cells import PredRNNPPCell
from convrnn.registry import get_entry
from tests.cell_reference import conv1x1, conv_of, conv_params, conv_slices, embed_and_head

s, tanh = torch.sigmoid, torch.tanh


def causal_lstm_reference(cell, x, h, c, m, z=None, forget_bias=0.0):
    """The Causal LSTM step (with the GHU if ``z`` is given), one convolution per input."""
    z_new = None
    if z is not None:
        p, g = (conv_of(cell.highway, 0, x) + conv_of(cell.highway, 1, z)).chunk(2, 1)
        z_new = s(g) * tanh(p) + (1 - s(g)) * z
        x = z_new
    i, f, g = conv_slices(cell.cell_gates, x, h, c).chunk(3, 1)
    c_new = s(f + forget_bias) * c + s(i) * tanh(g)
    i, f, g = conv_slices(cell.memory_gates, x, c_new, m).chunk(3, 1)
    m_new = s(f + forget_bias) * tanh(conv1x1(cell.memory_carry, m)) + s(i) * tanh(g)
    o = tanh(conv_slices(cell.output_gate, x, c_new, m_new))  # tanh, as the official code
    h_new = o * tanh(conv1x1(cell.fuse, torch.cat([c_new, m_new], 1)))
    return h_new, c_new, m_new, z_new


@pytest.mark.parametrize("layer_index", [0, 2])
def test_causal_lstm_step_matches_equations(layer_index):
    torch.manual_seed(0)
    cell = PredRNNPPCell(3, 4, forget_bias=0.5, layer_index=layer_index)
    assert cell.uses_zigzag and not cell.uses_highway
    x, h, c, m = (torch.randn(2, ch, 5, 6) for ch in (3, 4, 4, 4))
    h1, state, m1 = cell(x, (h, c), m)
    h_ref, c_ref, m_ref, _ = causal_lstm_reference(cell, x, h, c, m, forget_bias=0.5)
    assert len(state) == 2 and state[0] is h1
    torch.testing.assert_close(state[1], c_ref)
    torch.testing.assert_close(m1, m_ref)
    torch.testing.assert_close(h1, h_ref)


def test_gradient_highway_in_layer_one():
    torch.manual_seed(0)
    cell = PredRNNPPCell(4, 4, layer_index=1)
    assert cell.uses_highway
    x, h, c, m, z = (torch.randn(2, 4, 5, 5) for _ in range(5))
    h1, (h_state, c1, z1), m1 = cell(x, (h, c, z), m)
    h_ref, c_ref, m_ref, z_ref = causal_lstm_reference(cell, x, h, c, m, z=z)
    for got, ref in ((z1, z_ref), (c1, c_ref), (m1, m_ref), (h1, h_ref)):
        torch.testing.assert_close(got, ref)
    assert h_state is h1


def test_output_gate_is_tanh_not_sigmoid():
    torch.manual_seed(0)
    cell = PredRNNPPCell(2, 3)
    with torch.no_grad():  # o pre-activation strongly negative, the fused memory positive
        cell.output_gate.weight.zero_()
        cell.output_gate.bias.fill_(-5.0)
        cell.fuse.weight.zero_()
        cell.fuse.bias.fill_(5.0)
    x = torch.randn(1, 2, 4, 4)
    h, _, _ = cell(x, cell.init_state(1, 4, 4, x.device, x.dtype))
    torch.testing.assert_close(
        h, torch.full_like(h, float(tanh(torch.tensor(-5.0)) * tanh(torch.tensor(5.0))))
    )
    assert (h < 0).all(), "a sigmoid output gate could not make h negative here"


def test_state_shapes_and_zigzag_start():
    cells = [PredRNNPPCell(4, 4, layer_index=j) for j in range(3)]
    states = [cell.init_state(2, 6, 6, torch.device("cpu"), torch.float32) for cell in cells]
    assert [len(st) for st in states] == [2, 3, 2]  # z only in the highway layer
    assert all(t.shape == (2, 4, 6, 6) for st in states for t in st)
    x = torch.randn(2, 4, 6, 6)
    a = cells[0](x, states[0], None)
    b = cells[0](x, states[0], torch.zeros(2, 4, 6, 6))
    torch.testing.assert_close(a[0], b[0])
    torch.testing.assert_close(a[2], b[2])


def causal_layer(c: int, k: int = 3) -> int:
    """conv_x_h_c, conv_x_c_m (3c -> 3c), conv_m (1x1), conv_o (3c -> c), conv_c_m (1x1 2c -> c)."""
    return (
        2 * conv_params(3 * c, 3 * c, k)
        + conv_params(c, c, 1)
        + conv_params(3 * c, c, k)
        + conv_params(2 * c, c, 1)
    )


def ghu(c: int, k: int = 3) -> int:
    """conv_x and conv_z, c -> 2c each."""
    return 2 * conv_params(c, 2 * c, k)


@pytest.mark.parametrize("name", ["predrnn++", "ms-predrnn++"])
@pytest.mark.parametrize(
    ("preset", "hidden", "expected"), [("ms-rnn", 64, 5_608_513), ("ms-lstm", 32, 1_403_425)]
)
def test_counts_with_and_without_the_dead_highways(name, preset, hidden, expected):
    assert 6 * (causal_layer(hidden) + ghu(hidden)) + embed_and_head(hidden) == expected
    assert convrnn.count_parameters(convrnn.build_model(name, preset)) == expected
    lean = convrnn.count_parameters(convrnn.build_model(name, preset, faithful=False))
    assert expected - lean == 5 * ghu(hidden)  # 738,560 at 64, 184,960 at 32
    assert expected - lean == {64: 738_560, 32: 184_960}[hidden]


def test_dead_highways_get_no_gradient_and_are_declared_unused():
    torch.manual_seed(0)
    model = convrnn.build_model("ms-predrnn++", num_layers=4, hidden_channels=4, patch_size=1)
    out = model(torch.rand(2, 4, 1, 8, 8), 2)
    out.square().mean().backward()
    unused = get_entry("ms-predrnn++").unused
    for name, p in model.named_parameters():
        if ".highway." not in name:
            continue
        live = name.startswith("stack.cells.1.")
        assert (p.grad is not None and bool(p.grad.abs().sum() > 0)) == live, name
        assert bool(re.search(unused, name)) == (not live), name
    lean = convrnn.build_model("predrnn++", num_layers=4, hidden_channels=4, faithful=False)
    highways = {n.split(".highway.")[0] for n, _ in lean.named_parameters() if ".highway." in n}
    assert highways == {"stack.cells.1"}
    assert re.search(unused, "stack.cells.12.highway.weight")  # layer 12 is dead too


def test_options():
    assert set(PredRNNPPCell.option_names()) == {"kernel_size", "forget_bias", "bias", "faithful"}
    cell = PredRNNPPCell(4, 4, 5, bias=False, layer_index=1)
    assert cell.cell_gates.kernel_size == 5 and cell.cell_gates.bias is None
    assert cell.memory_carry.bias is None and cell.fuse.bias is None
    with pytest.raises(ValueError, match="odd"):
        PredRNNPPCell(4, 4, 4)
    with pytest.raises(ValueError, match="valid options"):
        convrnn.build_model("predrnn++", norm="layer")
    # the preset's norm option is skipped for a cell that has none
    assert convrnn.build_model("predrnn++", "ms-rnn").stack.depth == 6
