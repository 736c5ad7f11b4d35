import pytest
import torch
from torch import sigmoid, tanh

import convrnn
from convrnn.blocks.local_attention import LocalAttention, local_attention
from convrnn.cells import PrecipLSTMCell
from convrnn.cost import saved_tensor_bytes
from tests.cell_reference import conv_params, conv_terms


def local_attention_direct(q, k, v, window):
    """Pixel loop: softmax over the window x window positions (y + dy, x + dx),
    dy, dx in [-(window // 2), window - 1 - window // 2], with zero keys/values outside the frame."""
    b, c, h, w = q.shape
    lo = window // 2
    out = torch.zeros_like(q)
    for y in range(h):
        for x in range(w):
            logits, values = [], []
            for dy in range(-lo, window - lo):
                for dx in range(-lo, window - lo):
                    yy, xx = y + dy, x + dx
                    inside = 0 <= yy < h and 0 <= xx < w
                    key = k[:, :, yy, xx] if inside else torch.zeros(b, c, dtype=q.dtype)
                    values.append(v[:, :, yy, xx] if inside else torch.zeros(b, c, dtype=q.dtype))
                    logits.append((q[:, :, y, x] * key).sum(1))
            weights = torch.softmax(torch.stack(logits, 1), 1)  # (b, window^2)
            out[:, :, y, x] = (weights.unsqueeze(1) * torch.stack(values, 2)).sum(2)
    return out


@pytest.mark.parametrize("window", [1, 2, 3, 4, 5, 8, 13])
@pytest.mark.parametrize("chunk_elements", [1, 200, 2**22])
def test_local_attention_matches_a_pixel_loop(window, chunk_elements):
    torch.manual_seed(window)
    q, k, v = (torch.randn(2, 3, 5, 6, dtype=torch.double) for _ in range(3))
    got = local_attention(q, k, v, window, chunk_elements=chunk_elements)
    torch.testing.assert_close(got, local_attention_direct(q, k, v, window))


@pytest.mark.parametrize("window", [2, 3])
def test_local_attention_gradients(window):
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 2, 4, 5, dtype=torch.double, requires_grad=True) for _ in range(3))
    assert torch.autograd.gradcheck(
        lambda a, b, c: local_attention(a, b, c, window, chunk_elements=30), (q, k, v)
    )


def test_local_attention_saves_only_q_k_v():
    q, k, v = (torch.randn(2, 4, 12, 10, requires_grad=True) for _ in range(3))
    nbytes, out = saved_tensor_bytes(local_attention, q, k, v, 7)
    assert nbytes == 3 * q.numel() * 4
    out.sum().backward()
    assert q.grad is not None and k.grad is not None and v.grad is not None


def test_local_attention_module_and_errors():
    la = LocalAttention(6, 4)
    assert sum(p.numel() for p in la.parameters()) == 3 * 6 * 6, "three bias-free 1x1 convs"
    x = torch.randn(1, 6, 5, 5)
    torch.testing.assert_close(
        la(x), local_attention_direct(la.query(x), la.key(x), la.value(x), 4)
    )
    with pytest.raises(ValueError, match="la_num"):
        LocalAttention(6, 0)
    with pytest.raises(ValueError, match="must share one"):
        local_attention(x, x, x[:, :, :4], 3)


def test_step_matches_official_equations():
    torch.manual_seed(0)
    cell = PrecipLSTMCell(4, 4, 3, la_num=3)
    x, x_prev = torch.randn(2, 4, 6, 6), torch.randn(2, 4, 6, 6)
    h, c, ms, mt, m = (torch.randn(2, 4, 6, 6) for _ in range(5))
    h1, state, m1 = cell(x, (h, c, ms, mt, x_prev), m)

    la = cell.attention
    x_att = x + cell.attention_out(local_attention_direct(la.query(x), la.key(x), la.value(x), 3))
    i, f, g, o = sum(conv_terms(cell.gates, x_att, h)).chunk(4, 1)
    c_ref = sigmoid(f) * c + sigmoid(i) * tanh(g)

    def memory(module, inp, mem):
        i_, f_, g_ = sum(conv_terms(module.gates, inp, mem)).chunk(3, 1)
        return sigmoid(f_) * mem + sigmoid(i_) * tanh(g_)

    m_ref = memory(cell.memory, x_att, m)
    ms_ref = memory(cell.spatial, x_att, ms)
    mt_ref = memory(cell.temporal, x - x_prev, mt)
    gate = sigmoid(o + sum(conv_terms(cell.output.to_gate, c_ref, ms_ref, mt_ref, m_ref)))
    h_ref = gate * tanh(cell.output.fuse(torch.cat([c_ref, ms_ref, mt_ref, m_ref], 1)))

    torch.testing.assert_close(h1, h_ref)
    torch.testing.assert_close(m1, m_ref)
    for got, want in zip(state, (h_ref, c_ref, ms_ref, mt_ref, x), strict=True):
        torch.testing.assert_close(got, want)


def test_state_shapes_and_stored_input():
    cell = PrecipLSTMCell(5, 4, la_num=4)
    state = cell.init_state(2, 8, 6, torch.device("cpu"), torch.float32)
    assert [s.shape for s in state] == [(2, 4, 8, 6)] * 4 + [(2, 5, 8, 6)]
    torch.manual_seed(0)
    model = convrnn.build_model(
        "ms-preciplstm", num_layers=4, hidden_channels=4, image_size=8, patch_size=1
    )
    state = model.init_state(1, 8, 8, torch.zeros(1))
    z = model.embed(torch.rand(1, 1, 8, 8))
    outputs, state = model.stack(z, state)
    torch.testing.assert_close(state[0][0][4], z)
    torch.testing.assert_close(state[0][1][4], torch.nn.functional.max_pool2d(outputs[0], 2))
    assert [s[0].shape[-1] for s in state[0]] == [8, 4, 4, 8]


@pytest.mark.parametrize("stack", ["", "ms-"])
@pytest.mark.parametrize(
    ("preset", "hidden", "expected"), [("ms-rnn", 64, 7_041_217), ("ms-lstm", 32, 1_763_425)]
)
def test_counts(stack, preset, hidden, expected):
    model = convrnn.build_model(f"{stack}preciplstm", preset, image_size=64)
    assert convrnn.count_parameters(model) == expected
    c = hidden
    per_layer = (
        2 * conv_params(c, 4 * c)  # x2h, h2h
        + 3 * 2 * conv_params(c, 3 * c)  # m, ms, mt memories
        + 4 * conv_params(c, c)  # c2o, ms2o, mt2o, m2o
        + conv_params(4 * c, c, 1)  # 1x1 fusion
        + 3 * c * c  # LA q, k, v
        + conv_params(c, c)  # W after LA
    )
    assert expected == 6 * per_layer + conv_params(1, c, 1) + conv_params(c, 1, 1)


@pytest.mark.parametrize("la_num", [1, 4, 5, 30])
def test_even_and_odd_windows_run(la_num):
    model = convrnn.build_model(
        "ms-preciplstm", num_layers=3, hidden_channels=4, image_size=8, patch_size=1, la_num=la_num
    )
    assert model.stack.cells[0].attention.window == la_num
    out = model(torch.rand(1, 3, 1, 8, 8), 2)
    assert out.shape == (1, 2, 1, 8, 8) and torch.isfinite(out).all()


def test_options_and_errors():
    assert set(PrecipLSTMCell.option_names()) == {
        "kernel_size",
        "la_num",
        "norm",
        "forget_bias",
        "bias",
    }
    assert convrnn.build_model("preciplstm").stack.cells[0].attention.window == 30
    with pytest.raises(ValueError, match="la_num"):
        convrnn.build_model("preciplstm", la_num=0)
    with pytest.raises(ValueError, match="image_size"):
        convrnn.build_model("preciplstm", norm="layer")
