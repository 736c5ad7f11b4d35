"""CMS-LSTM, MoDeRNN, SA-ConvLSTM and its base model: counts, block placement, ablation switches."""

import pytest
import torch

import convrnn
from convrnn.cells import ConvLSTMCell, LayerSpec, SAConvLSTMCell
from convrnn.registry import get_entry

count = convrnn.count_parameters


def build(name, preset, **kw):
    return convrnn.build_model(name, preset, image_size=64, **kw)


@pytest.mark.parametrize(
    ("name", "preset", "expected"),
    [
        ("cms-lstm", "cms-lstm", 7_967_580),
        ("modernn", "cms-lstm", 5_867_600),
        ("cms-lstm", "ms-rnn", 4_483_393),
        ("modernn", "ms-rnn", 5_854_657),
        ("cms-lstm", "ms-lstm", 1_123_489),
        ("modernn", "ms-lstm", 1_465_057),
        ("ms-cms-lstm", "ms-rnn", 4_483_393),
        ("ms-modernn", "ms-lstm", 1_465_057),
    ],
)
def test_official_counts(name, preset, expected):
    assert count(build(name, preset)) == expected


def test_cms_lstm_unused_gammas_are_twelve_scalars():
    """3 per SE block (one per scale) x 4 layers: 7,967,580 - 12, not - 3."""
    model = build("cms-lstm", "cms-lstm")
    gammas = [n for n, _ in model.named_parameters() if ".gamma." in n]
    assert len(gammas) == 12
    assert count(build("cms-lstm", "cms-lstm", se_unused_gamma=False)) == 7_967_568
    assert not any(".gamma." in n for n, _ in build("cms-lstm", "ms-rnn").named_parameters())


def test_convlstm_with_ce_and_se_is_cms_lstm():
    assert count(build("convlstm", "ms-rnn", ce=True, se=True)) == 4_483_393
    assert count(build("convlstm", "ms-lstm", ce=True, se=True)) == 1_123_489
    assert count(build("convlstm", "cms-lstm", ce=True, se=True)) == 7_967_568
    assert count(build("convlstm", "cms-lstm", dcb=True)) == 5_867_600


def test_convlstm_options_off_keep_the_plain_cell():
    plain = build("convlstm", "ms-rnn")
    assert count(plain) == 1_772_737
    assert not any("context" in n for n in plain.state_dict())
    assert count(build("cms-lstm", "ms-rnn", ce=False, se=False)) == 1_772_737


def test_sa_convlstm_documented_count():
    """4 layers x 64 hidden under the cms-lstm preset: k 3, patch 4 (16 x 16 layers), LayerNorm."""
    c, a, n = 64, 32, 16 * 16
    convlstm = (
        2 * (c * 4 * c * 9 + 2 * 4 * c * n) + 2 * c * n
    )  # bias-free gate convs + LNs, LN on c
    projections = (c * a + a) + (c * (a + c) + a + c) * 2  # W_q; [W_k, W_v]; [W_mk, W_mv]
    fuse = 2 * c * c + c  # W_z
    gates = 2 * c * 9 + 2 * c * 3 * c + 2 * 3 * c * n  # depth-wise 3x3, point-wise, LN [3C, H, W]
    head = (16 * c + c) + (c * 16 + 16)  # 1x1 embed and head on 16 patched channels
    expected = 4 * (convlstm + projections + fuse + gates) + head
    assert expected == 2_948_816
    assert count(build("sa-convlstm", "cms-lstm")) == expected
    sa = 2 * (c * (2 * a + c) + 2 * a + c + c * c + c)  # SA(X) and SA(H): qkv + W_f
    assert count(build("sa-convlstm-base", "cms-lstm")) == 4 * (convlstm + sa) + head == 2_461_264
    assert count(build("sa-convlstm", "cms-lstm", memory=False)) == 2_461_264
    assert count(build("sa-convlstm", "cms-lstm", gate_conv="full")) == expected - 4 * (
        2 * c * 9 + 2 * c * 3 * c
    ) + 4 * (2 * c * 3 * c * 9)


def test_sa_convlstm_table1_rows():
    plain = build("sa-convlstm", "cms-lstm", attention=False, memory=False)
    assert count(plain) == count(build("convlstm", "cms-lstm"))
    row3 = build("sa-convlstm", "cms-lstm", attention=False).stack.cells[0].sam
    assert row3.query is None and row3.fuse is None
    row4 = build("sa-convlstm", "cms-lstm", memory_attention=False).stack.cells[0].sam
    assert row4.memory_kv is None and row4.hidden_kv is not None
    with pytest.raises(ValueError, match="memory_attention"):
        build("sa-convlstm", "cms-lstm", memory=False, memory_attention=True)


def test_plain_row_computes_convlstm():
    torch.manual_seed(0)
    spec = LayerSpec(0, 2, 3, 4, height=8, width=8)
    sa = SAConvLSTMCell.from_spec(spec, attention=False, memory=False)
    ref = ConvLSTMCell.from_spec(spec, norm="layer", bias=False, forget_bias=1.0)
    ref.load_state_dict(sa.state_dict())
    x, state = torch.randn(2, 3, 8, 8), (torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8))
    torch.testing.assert_close(sa(x, state)[0], ref(x, state)[0])


def test_cms_lstm_step_is_ce_then_convlstm_then_se():
    torch.manual_seed(0)
    cell = get_entry("cms-lstm").build_cell(LayerSpec(0, 2, 4, 4, height=8, width=8))
    x, h, c = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    out, (h_new, c_new), m = cell(x, (h, c))
    x1, h1 = cell.context.embedding(x, h)
    want_h, want_c = cell.context.expression(*cell.lstm(x1, h1, c))
    torch.testing.assert_close(out, want_h)
    torch.testing.assert_close(c_new, want_c)
    assert h_new is out and m is None


def test_sa_convlstm_step_places_ce_se_and_sam():
    torch.manual_seed(0)
    cell = SAConvLSTMCell.from_spec(LayerSpec(0, 2, 4, 4, height=8, width=8), ce=True, se=True)
    state = cell.init_state(2, 8, 8, torch.device("cpu"), torch.float32)
    assert len(state) == 3
    state = tuple(torch.randn_like(s) for s in state)
    x = torch.randn(2, 4, 8, 8)
    out, (h, c, mem), _ = cell(x, state)
    assert h is out
    x1, h1 = cell.context.embedding(x, state[0])
    h2, c2 = cell.context.expression(*cell.lstm(x1, h1, state[1]))
    want_h, want_m = cell.sam(h2, state[2])
    torch.testing.assert_close(out, want_h)
    torch.testing.assert_close(c, c2)
    torch.testing.assert_close(mem, want_m)
    base = SAConvLSTMCell.from_spec(LayerSpec(0, 2, 4, 4, height=8, width=8), memory=False)
    assert len(base.init_state(1, 8, 8, torch.device("cpu"), torch.float32)) == 2


def test_se_size_multiple_reaches_the_stack():
    model = convrnn.build_model("cms-lstm", image_size=16, patch_size=1, hidden_channels=4)
    assert model.stack.divisor == 4
    ms = convrnn.build_model("ms-cms-lstm", image_size=16, patch_size=1, hidden_channels=4)
    assert ms.divisor == 8  # 4 layers pool once: 2 x 4
    with pytest.raises(ValueError, match="multiples of 4"):
        convrnn.build_model("cms-lstm", image_size=18, patch_size=1, hidden_channels=4)
    assert (
        convrnn.build_model(
            "cms-lstm", image_size=18, patch_size=1, hidden_channels=4, se_scales=(1, 3)
        ).stack.divisor
        == 3
    )
    with pytest.raises(ValueError, match="image_size"):
        convrnn.build_model("cms-lstm", hidden_channels=4)  # LayerNorm over [C, H, W]


def test_option_names():
    assert {
        "attention",
        "memory",
        "memory_attention",
        "attention_channels",
        "gate_conv",
        "scaled",
    } <= set(convrnn.registry.get_entry("sa-convlstm").option_names())
    assert "memory" not in convrnn.registry.get_entry("sa-convlstm-base").option_names()
    assert "dcb" not in get_entry("cms-lstm").option_names()


@pytest.mark.parametrize("name", ["cms-lstm", "sa-convlstm", "sa-convlstm-base"])
def test_saved_activations_grow_linearly_with_positions(name):
    """4x the positions must cost about 4x the saved bytes; stored attention weights would cost 16x."""
    from convrnn.cost import activation_bytes

    def saved(size):
        model = convrnn.build_model(
            name, num_layers=2, hidden_channels=4, patch_size=1, image_size=size
        )
        return activation_bytes(model, torch.rand(1, 2, 1, size, size), 1)

    assert saved(32) <= 4.5 * saved(16)
