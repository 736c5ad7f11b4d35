import pytest
import torch
from torch import nn

from convrnn.blocks import GateConv
from convrnn.cells import ConvLSTMCell, LayerSpec


def test_gate_conv_equals_separate_biased_convs():
    torch.manual_seed(0)
    gate = GateConv([3, 5], 8, 3)
    conv_x, conv_h = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(5, 8, 3, padding=1)
    assert sum(p.numel() for p in gate.parameters()) == sum(
        p.numel() for m in (conv_x, conv_h) for p in m.parameters()
    )
    with torch.no_grad():
        conv_x.weight.copy_(gate.weight[:, :3])
        conv_h.weight.copy_(gate.weight[:, 3:])
        conv_x.bias.copy_(gate.bias[0])
        conv_h.bias.copy_(gate.bias[1])
    x, h = torch.randn(2, 3, 6, 6), torch.randn(2, 5, 6, 6)
    torch.testing.assert_close(gate(x, h), conv_x(x) + conv_h(h))


def test_gate_conv_layer_norm_normalises_each_input():
    torch.manual_seed(0)
    gate = GateConv([2, 2], 4, 3, bias=False, norm="layer", height=5, width=5)
    x, h = torch.randn(1, 2, 5, 5), torch.randn(1, 2, 5, 5)
    ln = nn.LayerNorm([4, 5, 5])
    expected = ln(nn.functional.conv2d(x, gate.weight[:, :2], padding=1)) + ln(
        nn.functional.conv2d(h, gate.weight[:, 2:], padding=1)
    )
    torch.testing.assert_close(gate(x, h), expected)


def test_gate_conv_errors():
    with pytest.raises(ValueError, match="image_size"):
        GateConv([2], 4, 3, norm="layer")
    with pytest.raises(ValueError, match="norm="):
        GateConv([2], 4, 3, norm="batch")
    with pytest.raises(ValueError, match="odd"):
        GateConv([2], 4, 4)
    with pytest.raises(ValueError, match="expects 2 inputs"):
        GateConv([2, 2], 4, 3)(torch.zeros(1, 2, 3, 3))


def test_convlstm_step_matches_equations():
    torch.manual_seed(0)
    cell = ConvLSTMCell(3, 4, 3, forget_bias=1.0)
    x, h0, c0 = torch.randn(2, 3, 8, 8), torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    h, (h_state, c), m = cell(x, (h0, c0))
    pre = nn.functional.conv2d(
        torch.cat([x, h0], 1), cell.gates.weight, cell.gates.bias.sum(0), padding=1
    )
    i, f, g, o = pre.chunk(4, 1)
    c_ref = torch.sigmoid(f + 1.0) * c0 + torch.sigmoid(i) * torch.tanh(g)
    torch.testing.assert_close(c, c_ref)
    torch.testing.assert_close(h, torch.sigmoid(o) * torch.tanh(c_ref))
    assert h_state is h and m is None
    assert not cell.uses_zigzag


def test_convlstm_init_state_and_layer_norm():
    cell = ConvLSTMCell.from_spec(
        LayerSpec(0, 2, 4, 4, height=8, width=8), norm="layer", bias=False
    )
    state = cell.init_state(2, 8, 8, torch.device("cpu"), torch.float32)
    assert [s.shape for s in state] == [(2, 4, 8, 8)] * 2
    h, state, _ = cell(torch.randn(2, 4, 8, 8), state)
    assert h.shape == (2, 4, 8, 8)
    assert isinstance(cell.cell_norm, nn.LayerNorm)
    assert cell.gates.bias is None


def test_option_names_exclude_spec_arguments():
    assert set(ConvLSTMCell.option_names()) == {
        "kernel_size",
        "norm",
        "forget_bias",
        "bias",
        "ce",
        "dcb",
        "se",
        "se_scales",
        "se_kernel",
        "se_unused_gamma",
    }
