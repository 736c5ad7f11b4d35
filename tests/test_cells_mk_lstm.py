"""MK-LSTM (the MS-LSTM cell): equations, states, counts and the fixed kernel sizes."""

import pytest
import torch

import convrnn
from convrnn.cells import MKLSTMCell
from convrnn.registry import get_entry
from tests.cell_reference import conv1x1, conv_of, conv_params, embed_and_head

s, tanh = torch.sigmoid, torch.tanh


def test_step_matches_equations():
    torch.manual_seed(0)
    cell = MKLSTMCell(3, 4, forget_bias=0.4)
    g3, g5 = cell.gates
    o3_conv, o5_conv = cell.memory_to_gate
    assert (g3.kernel_size, g5.kernel_size, o3_conv.kernel_size, o5_conv.kernel_size) == (
        3,
        5,
        3,
        5,
    )
    x, h, c3, c5 = (torch.randn(2, ch, 7, 6) for ch in (3, 4, 4, 4))
    h1, (h_state, c3_1, c5_1), m = cell(x, (h, c3, c5))
    i3, f3, gg3, o3 = (conv_of(g3, 0, x) + conv_of(g3, 1, h)).chunk(4, 1)
    i5, f5, gg5, o5 = (conv_of(g5, 0, x) + conv_of(g5, 1, h)).chunk(4, 1)
    c3_ref = s(f3 + 0.4) * c3 + s(i3) * tanh(gg3)
    c5_ref = s(f5 + 0.4) * c5 + s(i5) * tanh(gg5)
    o = s(o3 + o5 + conv_of(o3_conv, 0, c3_ref) + conv_of(o5_conv, 0, c5_ref))
    h_ref = o * tanh(conv1x1(cell.fuse, torch.cat([c3_ref, c5_ref], 1)))
    torch.testing.assert_close(c3_1, c3_ref)
    torch.testing.assert_close(c5_1, c5_ref)
    torch.testing.assert_close(h1, h_ref)
    assert h_state is h1 and m is None and not cell.uses_zigzag


def test_state_is_h_c3_c5():
    cell = MKLSTMCell(4, 4)
    state = cell.init_state(2, 6, 5, torch.device("cpu"), torch.float32)
    assert [t.shape for t in state] == [(2, 4, 6, 5)] * 3
    h, new_state, _ = cell(torch.randn(2, 4, 6, 5), state)
    assert h.shape == (2, 4, 6, 5) and len(new_state) == 3


def mk_layer(c: int) -> int:
    """Per kernel k in (3, 5): x->4c and h->4c (k x k) and c_k->c (k x k); 1x1 [c3, c5] -> c."""
    per_kernel = sum(2 * conv_params(c, 4 * c, k) + conv_params(c, c, k) for k in (3, 5))
    return per_kernel + conv_params(2 * c, c, 1)


@pytest.mark.parametrize("name", ["mk-lstm", "ms-mk-lstm"])
@pytest.mark.parametrize(
    ("preset", "hidden", "expected"), [("ms-rnn", 64, 7_576_897), ("ms-lstm", 32, 1_896_097)]
)
def test_counts(name, preset, hidden, expected):
    assert 6 * mk_layer(hidden) + embed_and_head(hidden) == expected
    assert convrnn.count_parameters(convrnn.build_model(name, preset)) == expected


def test_kernel_sizes_are_fixed():
    assert set(MKLSTMCell.option_names()) == {"forget_bias", "bias"}
    with pytest.raises(ValueError, match="fixed kernel sizes"):
        convrnn.build_model("mk-lstm", "ms-lstm", kernel_size=5)
    model = convrnn.build_model("ms-mk-lstm", "ms-lstm")  # the preset's kernel_size=3 is skipped
    assert model.config["kernel_size"] is None
    assert [g.kernel_size for g in model.stack.cells[0].gates] == [3, 5]


def test_names_in_the_registry():
    assert "TMS-LSTM" in get_entry("mk-lstm").summary
    assert "MS-LSTM" in get_entry("ms-mk-lstm").summary
    assert get_entry("ms-mk-lstm").stack == "multiscale"


def test_bias_option():
    cell = MKLSTMCell(4, 4, bias=False)
    assert all(g.bias is None for g in (*cell.gates, *cell.memory_to_gate))
    assert cell.fuse.bias is None
