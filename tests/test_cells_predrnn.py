"""PredRNN (ST-LSTM) and PredRNN-V2 (decoupling loss): equations, states, counts, options."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import convrnn
from convrnn.cells import LayerSpec, PredRNNCell, PredRNNV2Cell
from convrnn.cells.predrnn_v2 import decoupling_terms
from convrnn.registry import get_entry
from tests.cell_reference import conv1x1, conv_of, conv_params, embed_and_head

s, tanh = torch.sigmoid, torch.tanh


def st_lstm_reference(cell, x, h, c, m, forget_bias=0.0):
    """The ST-LSTM step written out with one convolution per input."""
    pre = conv_of(cell.gates, 0, x) + conv_of(cell.gates, 1, h)
    i, f, g, o = pre.chunk(4, 1)
    c_new = s(f + forget_bias) * c + s(i) * tanh(g)
    pre_m = conv_of(cell.memory.gates, 0, x) + conv_of(cell.memory.gates, 1, m)
    i2, f2, g2 = pre_m.chunk(3, 1)
    m_new = s(f2 + forget_bias) * m + s(i2) * tanh(g2)
    gate = s(o + conv_of(cell.output.to_gate, 0, c_new) + conv_of(cell.output.to_gate, 1, m_new))
    h_new = gate * tanh(conv1x1(cell.output.fuse, torch.cat([c_new, m_new], 1)))
    return h_new, c_new, m_new, s(i) * tanh(g), s(i2) * tanh(g2)


def test_st_lstm_step_matches_equations():
    torch.manual_seed(0)
    cell = PredRNNCell(3, 4, 3, forget_bias=0.7)
    x, h, c, m = (torch.randn(2, ch, 6, 5) for ch in (3, 4, 4, 4))
    h1, (h_state, c1), m1 = cell(x, (h, c), m)
    h_ref, c_ref, m_ref, dc, dm = st_lstm_reference(cell, x, h, c, m, forget_bias=0.7)
    torch.testing.assert_close(c1, c_ref)
    torch.testing.assert_close(m1, m_ref)
    torch.testing.assert_close(h1, h_ref)
    assert h_state is h1
    step = cell.step(x, (h, c), m)
    torch.testing.assert_close(step.delta_c, dc)
    torch.testing.assert_close(step.delta_m, dm)


def test_first_step_memory_starts_from_zeros():
    torch.manual_seed(0)
    cell = PredRNNCell(4, 4)
    assert cell.uses_zigzag
    x = torch.randn(2, 4, 8, 8)
    state = cell.init_state(2, 8, 8, x.device, x.dtype)
    assert [t.shape for t in state] == [(2, 4, 8, 8)] * 2
    a = cell(x, state, None)
    b = cell(x, state, torch.zeros(2, 4, 8, 8))
    for u, v in zip((a[0], *a[1], a[2]), (b[0], *b[1], b[2]), strict=True):
        torch.testing.assert_close(u, v)


def test_layer_norm_option():
    cell = PredRNNCell.from_spec(LayerSpec(0, 2, 4, 4, height=6, width=6), norm="layer")
    assert isinstance(cell.gates.norms[0], nn.LayerNorm)
    state = cell.init_state(1, 6, 6, torch.device("cpu"), torch.float32)
    h, _, m = cell(torch.randn(1, 4, 6, 6), state)
    assert h.shape == m.shape == (1, 4, 6, 6)
    with pytest.raises(ValueError, match="image_size"):
        PredRNNCell(4, 4, norm="layer")
    with pytest.raises(ValueError, match="norm="):
        PredRNNCell(4, 4, norm="batch")
    assert PredRNNCell(4, 4, bias=False).gates.bias is None


def st_lstm_layer(c: int, k: int = 3) -> int:
    """x->4c, h->4c, x->3c, m->3c, c2o, m2o (all k x k, biased), 1x1 [c, m] -> c."""
    return (
        2 * conv_params(c, 4 * c, k)
        + 2 * conv_params(c, 3 * c, k)
        + 2 * conv_params(c, c, k)
        + conv_params(2 * c, c, 1)
    )


COUNTS = [("ms-rnn", 64, 3_594_817), ("ms-lstm", 32, 900_385)]
V2_COUNTS = [("ms-rnn", 64, 3_598_977), ("ms-lstm", 32, 901_441)]


@pytest.mark.parametrize("name", ["predrnn", "ms-predrnn"])
@pytest.mark.parametrize(("preset", "hidden", "expected"), COUNTS)
def test_predrnn_counts(name, preset, hidden, expected):
    assert 6 * st_lstm_layer(hidden) + embed_and_head(hidden) == expected
    assert convrnn.count_parameters(convrnn.build_model(name, preset)) == expected


@pytest.mark.parametrize("name", ["predrnn-v2", "ms-predrnn-v2"])
@pytest.mark.parametrize(("preset", "hidden", "expected"), V2_COUNTS)
def test_predrnn_v2_counts(name, preset, hidden, expected):
    # PredRNN plus ONE biased 1x1 adapter shared by the six layers
    adapter = conv_params(hidden, hidden, 1)
    assert 6 * st_lstm_layer(hidden) + adapter + embed_and_head(hidden) == expected
    assert convrnn.count_parameters(convrnn.build_model(name, preset)) == expected


# ---------------------------------------------------------------- PredRNN-V2


def test_v2_step_equals_predrnn_step():
    torch.manual_seed(0)
    v2 = PredRNNV2Cell(3, 4)
    v1 = PredRNNCell(3, 4)
    v1.load_state_dict({k: v for k, v in v2.state_dict().items() if not k.startswith("adapter")})
    x, h, c, m = (torch.randn(2, ch, 5, 5) for ch in (3, 4, 4, 4))
    h1, (_, c1), m1 = v1(x, (h, c), m)
    h2, (_, c2), m2 = v2(x, (h, c), m)
    for a, b in ((h1, h2), (c1, c2), (m1, m2)):
        torch.testing.assert_close(a, b)


def abs_cos(adapter: nn.Conv2d, dc: torch.Tensor, dm: torch.Tensor) -> torch.Tensor:
    """|cos| over space per (batch, channel), with explicit dot products and norms."""
    a, b = conv1x1(adapter, dc).flatten(2), conv1x1(adapter, dm).flatten(2)
    return ((a * b).sum(2) / (a.norm(dim=2) * b.norm(dim=2))).abs()


def linked_cells(reduction: str, weight: float = 0.1, layers: int = 3):
    torch.manual_seed(0)
    cells = [
        PredRNNV2Cell(4, 4, decouple_weight=weight, decouple_reduction=reduction)
        for _ in range(layers)
    ]
    PredRNNV2Cell.link_layers(cells)
    return cells


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_decoupling_loss_against_direct_computation(reduction):
    cells = linked_cells(reduction, weight=0.3)
    adapter = cells[0].adapter
    assert all(c.adapter is adapter for c in cells)
    torch.manual_seed(1)
    steps, per_term = 4, []
    states = [(torch.randn(2, 4, 6, 6), torch.randn(2, 4, 6, 6)) for _ in cells]
    m = None
    for _t in range(steps):
        x = torch.randn(2, 4, 6, 6)
        for j, cell in enumerate(cells):
            h0, c0 = states[j]
            m0 = torch.zeros(2, 4, 6, 6) if m is None else m
            *_, dc, dm = st_lstm_reference(cell, x, h0, c0, m0)
            per_term.append(abs_cos(adapter, dc, dm))  # (B, C)
            x, states[j], m = cell(x, states[j], m)
    layers = len(cells)
    if reduction == "mean":
        expected = sum(t.mean() for t in per_term) / (layers * steps)
    else:  # summed over layers and channels, averaged over batch and steps
        expected = sum(t.sum(1).mean() for t in per_term) / steps
    got = [c.pop_aux_loss() for c in cells]
    assert got[1] is None and got[2] is None, "the first linked layer returns the loss of all"
    torch.testing.assert_close(got[0], 0.3 * expected)
    assert cells[0].pop_aux_loss() is None, "popping clears the record"


def test_decoupling_is_zero_for_orthogonal_and_one_for_parallel_increments():
    identity = nn.Conv2d(3, 3, 1)
    with torch.no_grad():
        identity.weight.copy_(torch.eye(3)[:, :, None, None])
        identity.bias.zero_()
    dc = torch.zeros(2, 3, 4, 4)
    dm = torch.zeros(2, 3, 4, 4)
    dc[:, :, :2] = torch.rand(2, 3, 2, 4) + 0.1  # top half
    dm[:, :, 2:] = torch.rand(2, 3, 2, 4) + 0.1  # bottom half: orthogonal over space
    assert torch.equal(decoupling_terms(identity, dc, dm), torch.zeros(2, 3))
    torch.testing.assert_close(decoupling_terms(identity, dc, -2.5 * dc), torch.ones(2, 3))


def test_first_step_discards_unpopped_terms():
    cells = linked_cells("mean", layers=2)
    x = torch.randn(1, 4, 4, 4)
    state = cells[0].init_state(1, 4, 4, x.device, x.dtype)
    cells[0](x, state, None)
    cells[1](x, state, torch.randn(1, 4, 4, 4))
    assert len(cells[0].record.terms) == 2
    cells[0](x, state, None)  # a new sequence starts: left-overs (e.g. from recomputation) go
    assert len(cells[0].record.terms) == 1


def test_decoupling_through_the_forecaster_and_with_checkpointing():
    frames = torch.rand(2, 5, 1, 8, 8)
    results = []
    for checkpointing in ("none", "step"):
        torch.manual_seed(0)
        model = convrnn.build_model(
            "ms-predrnn-v2",
            num_layers=4,
            hidden_channels=4,
            patch_size=1,
            checkpointing=checkpointing,
        )
        for _ in range(2):  # the second pass must not see terms recomputed during backward
            model.zero_grad()
            out, aux = model(frames, 3, return_aux=True)
            (out.square().mean() + aux).backward()
        results.append((aux.detach(), model.stack.cells[0].adapter.weight.grad.clone()))
        assert aux > 0
    torch.testing.assert_close(results[0][0], results[1][0])
    torch.testing.assert_close(results[0][1], results[1][1])
    off = convrnn.build_model(
        "predrnn-v2", num_layers=2, hidden_channels=4, patch_size=1, decouple_weight=0
    )
    assert off(frames, 3, return_aux=True)[1] is None


def test_v2_options_presets_and_training_defaults():
    cells = convrnn.build_model("predrnn-v2", hidden_channels=8).stack.cells
    assert (cells[0].decouple_weight, cells[0].decouple_reduction) == (0.1, "mean")
    assert all(c.adapter is cells[0].adapter for c in cells)
    for preset in ("ms-rnn", "ms-lstm"):
        cell = convrnn.build_model("ms-predrnn-v2", preset).stack.cells[3]
        assert (cell.decouple_weight, cell.decouple_reduction) == (0.01, "sum")
        assert cell.adapter.bias is not None
    overridden = convrnn.build_model("predrnn-v2", "ms-rnn", decouple_weight=0.5)
    assert overridden.stack.cells[0].decouple_weight == 0.5
    assert get_entry("predrnn-v2").training == {"sampling": "reverse"}
    assert get_entry("ms-predrnn-v2").training == {"sampling": "reverse"}
    no_bias = convrnn.build_model("predrnn-v2", bias=False, hidden_channels=8)
    assert no_bias.stack.cells[0].adapter.bias is None


def test_v2_option_errors():
    with pytest.raises(ValueError, match="decouple_reduction"):
        PredRNNV2Cell(4, 4, decouple_reduction="max")
    with pytest.raises(ValueError, match="decouple_weight"):
        PredRNNV2Cell(4, 4, decouple_weight=-1.0)
    with pytest.raises(ValueError, match="same hidden_channels"):
        PredRNNV2Cell.link_layers([PredRNNV2Cell(4, 4), PredRNNV2Cell(4, 8)])
    with pytest.raises(ValueError, match="same decouple_weight"):
        PredRNNV2Cell.link_layers([PredRNNV2Cell(4, 4), PredRNNV2Cell(4, 4, decouple_weight=0.2)])
    with pytest.raises(ValueError, match="valid options"):
        convrnn.build_model("predrnn", decouple_weight=0.1)  # PredRNN has no decoupling loss


def test_adapter_is_a_plain_1x1_conv():
    cell = PredRNNV2Cell(4, 6)
    x = torch.randn(2, 6, 3, 3)
    torch.testing.assert_close(cell.adapter(x), F.conv2d(x, cell.adapter.weight, cell.adapter.bias))
    assert cell.adapter.kernel_size == (1, 1)


def test_ce_and_se_transplant_into_predrnn():
    import convrnn

    plain = convrnn.build_model("predrnn", "ms-rnn")
    both = convrnn.build_model("predrnn", "ms-rnn", ce=True, se=True)
    # per layer: CE (two 3x3 convs 64->64, biased) 73,856 + SE with kernel 3 (MS-RNN port) 377,920
    assert convrnn.count_parameters(both) == convrnn.count_parameters(plain) + 6 * (
        73_856 + 377_920
    )
    for name in ("predrnn", "ms-predrnn"):
        model = convrnn.build_model(
            name, ce=True, se=True, hidden_channels=8, patch_size=1, image_size=16
        )
        out = model(torch.rand(2, 4, 1, 16, 16), 2)
        out.square().mean().backward()
        ctx = [p for n, p in model.named_parameters() if ".context." in n]
        assert ctx and all(p.grad is not None and p.grad.abs().sum() > 0 for p in ctx)
