import math

import pytest
import torch
import torch.nn.functional as F
from torch import sigmoid, tanh

import convrnn
from convrnn.blocks import warp
from convrnn.cells import MIMCell, MotionRNNCell
from convrnn.cells.motionrnn import MotionGRU
from tests.cell_reference import conv_params, conv_terms


def bilinear(img: torch.Tensor, px: float, py: float) -> torch.Tensor:
    """Bilinear sample of img (C, H, W) at pixel coordinates (px, py); zeros outside."""
    _, h, w = img.shape
    x0, y0 = math.floor(px), math.floor(py)
    out = torch.zeros(img.shape[0], dtype=img.dtype)
    for yy, wy in ((y0, 1 - (py - y0)), (y0 + 1, py - y0)):
        for xx, wx in ((x0, 1 - (px - x0)), (x0 + 1, px - x0)):
            if 0 <= yy < h and 0 <= xx < w:
                out += wy * wx * img[:, yy, xx]
    return out


def warp_direct(x: torch.Tensor, flows: torch.Tensor) -> torch.Tensor:
    """Pixel loop: out[b, :, k, y, x] = x[b] sampled at (x + flow_k_x, y + flow_k_y)."""
    b, c, h, w = x.shape
    k = flows.shape[1]
    out = torch.zeros(b, c, k, h, w, dtype=x.dtype)
    for n in range(b):
        for j in range(k):
            for yy in range(h):
                for xx in range(w):
                    fx, fy = flows[n, j, 0, yy, xx].item(), flows[n, j, 1, yy, xx].item()
                    out[n, :, j, yy, xx] = bilinear(x[n], xx + fx, yy + fy)
    return out


def test_warp_matches_a_pixel_loop_and_is_exact_on_integer_shifts():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 5, 6, dtype=torch.double)
    flows = 2.5 * torch.randn(2, 4, 2, 5, 6, dtype=torch.double)
    torch.testing.assert_close(warp(x, flows), warp_direct(x, flows))
    torch.testing.assert_close(
        warp(x, torch.zeros_like(flows)), x.unsqueeze(2).expand(-1, -1, 4, -1, -1)
    )
    shift = torch.zeros(2, 1, 2, 5, 6, dtype=torch.double)
    shift[:, :, 0] = 1.0  # sample one pixel to the right: out[..., x] = in[..., x + 1]
    out = warp(x, shift)[:, :, 0]
    torch.testing.assert_close(out[..., :-1], x[..., 1:])
    assert out[..., -1].abs().max() == 0, "outside the map is zero"
    with pytest.raises(ValueError, match="flows must have shape"):
        warp(x, flows[:, :, :, :4])


def motion_gru_direct(gru: MotionGRU, h, flow, trend):
    """MotionGRU written out (official-ms-rnn.md 1.6), with per-sample flows and per-pixel channel merge."""
    e = F.conv2d(h, gru.encode.weight, gru.encode.bias, stride=2)
    u = sigmoid(gru.update(torch.cat([e, flow], 1)))
    r = sigmoid(gru.reset(torch.cat([e, flow], 1)))
    z = tanh(gru.candidate(torch.cat([e, r * flow], 1)))
    trend_new = trend + gru.alpha * (flow - trend)
    flow_new = u * z + (1 - u) * flow + trend_new
    b, enc, hh, ww = e.shape
    k = gru.flows
    flows = torch.stack([flow_new[:, 2 * j : 2 * j + 2] for j in range(k)], 1)
    flows = flows + gru.offsets
    mask = sigmoid(gru.mask(e))
    warped = warp_direct(e, flows)
    merged = torch.zeros(b, enc * k, hh, ww, dtype=h.dtype)
    for c in range(enc):
        for j in range(k):
            merged[:, c * k + j] = mask[:, j] * warped[:, c, j]
    dec = gru.decode(gru.merge(merged))
    g = sigmoid(gru.gate(torch.cat([dec, h], 1)))
    return g * h + (1 - g) * dec, flow_new, trend_new


@pytest.mark.parametrize("neighbour_offsets", [False, True])
def test_motion_gru_matches_direct_computation(neighbour_offsets):
    torch.manual_seed(0)
    gru = MotionGRU(8, 3, 0.5, neighbour_offsets=neighbour_offsets).double()
    h = torch.randn(2, 8, 6, 8, dtype=torch.double)
    flow, trend = (torch.randn(2, 18, 3, 4, dtype=torch.double) for _ in range(2))
    got = gru(h, flow, trend)
    want = motion_gru_direct(gru, h, flow, trend)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b)


def test_neighbour_offsets_are_the_k_by_k_grid():
    gru = MotionGRU(8, 3, neighbour_offsets=True)
    expected = [(dx, dy) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    assert gru.offsets.view(9, 2).tolist() == [list(map(float, p)) for p in expected]
    assert MotionGRU(8, 3).offsets.abs().sum() == 0


def test_highway_layer_step():
    """h = X + (1 - o) x, with o the ST-LSTM output gate; state (h, c, F, D) in layer 0."""
    torch.manual_seed(0)
    cell = MotionRNNCell(8, 8, layer_index=0, depth=3)
    x, h, c, m = (torch.randn(2, 8, 6, 6) for _ in range(4))
    flow, trend = (torch.randn(2, 18, 3, 3) for _ in range(2))
    h1, state, m1 = cell(x, (h, c, flow, trend), m)

    i, f, g, o = sum(conv_terms(cell.gates, x, h)).chunk(4, 1)
    c_ref = sigmoid(f) * c + sigmoid(i) * tanh(g)
    i_m, f_m, g_m = sum(conv_terms(cell.memory.gates, x, m)).chunk(3, 1)
    m_ref = sigmoid(f_m) * m + sigmoid(i_m) * tanh(g_m)
    gate = sigmoid(o + sum(conv_terms(cell.output.to_gate, c_ref, m_ref)))
    h_mim = gate * tanh(cell.output.fuse(torch.cat([c_ref, m_ref], 1)))
    motion, flow_ref, trend_ref = cell.motion(h_mim, flow, trend)
    h_ref = motion + (1 - gate) * x

    torch.testing.assert_close(h1, h_ref)
    torch.testing.assert_close(m1, m_ref)
    for got, want in zip(state, (h_ref, c_ref, flow_ref, trend_ref), strict=True):
        torch.testing.assert_close(got, want)


def test_last_layer_is_a_mim_cell_without_motion():
    torch.manual_seed(0)
    cell = MotionRNNCell(8, 8, layer_index=2, depth=3)
    mim = MIMCell(8, 8, layer_index=2)
    missing, unexpected = mim.load_state_dict(cell.state_dict(), strict=False)
    assert not missing and unexpected and all(k.startswith("unused_motion.") for k in unexpected)
    state = cell.init_state(2, 6, 6, torch.device("cpu"), torch.float32)
    assert len(state) == 5, "no F, D in the last layer"
    x = torch.randn(2, 8, 6, 6)
    h, _, m = cell(x, state)
    h_mim, _, m_mim = mim(x, state)
    torch.testing.assert_close(h, h_mim)
    torch.testing.assert_close(m, m_mim)
    lean = MotionRNNCell(8, 8, layer_index=2, depth=3, faithful=False)
    assert not any("motion" in n for n, _ in lean.named_parameters())


def test_state_shapes():
    cpu = torch.device("cpu")
    shapes = [
        s.shape
        for s in MotionRNNCell(8, 8, layer_index=1, depth=3).init_state(2, 8, 6, cpu, torch.float32)
    ]
    assert shapes == [(2, 8, 8, 6)] * 5 + [(2, 18, 4, 3)] * 2  # h, c, n, s, x_prev, F, D
    shapes = [
        s.shape
        for s in MotionRNNCell(8, 8, layer_index=0, depth=3, motion_kernel=2).init_state(
            1, 8, 8, cpu, torch.float32
        )
    ]
    assert shapes == [(1, 8, 8, 8)] * 2 + [(1, 8, 4, 4)] * 2
    model = convrnn.build_model(
        "ms-motionrnn", num_layers=5, hidden_channels=8, image_size=16, patch_size=1
    )
    state, _ = model.init_state(1, 16, 16, torch.zeros(1))
    assert [len(s) for s in state] == [4, 7, 7, 7, 5]
    assert [s[-1].shape[-1] for s in state[:4]] == [8, 4, 2, 4]


@pytest.mark.parametrize("name", ["motionrnn", "ms-motionrnn"])
def test_samples_of_a_batch_do_not_interact(name):
    """The official Warp mixes flows between samples for batch > 1; here a batch is independent samples."""
    torch.manual_seed(0)
    model = convrnn.build_model(name, num_layers=4, hidden_channels=8, image_size=16, patch_size=1)
    frames = torch.rand(3, 5, 1, 16, 16)
    out = model(frames, 3)
    changed = frames.clone()
    changed[0] = torch.rand(5, 1, 16, 16)
    out_changed = model(changed, 3)
    assert torch.equal(out_changed[1:], out[1:])
    assert (out_changed[0] - out[0]).abs().max() > 1e-3
    singles = torch.cat([model(frames[i : i + 1], 3) for i in range(3)])
    torch.testing.assert_close(out, singles, rtol=0, atol=1e-6)
    state = model.init_state(3, 16, 16, frames)
    for t in range(3):
        _, state, _ = model.step(frames[:, t], state)
    flow = state[0][0][-2]
    assert flow.abs().mean() > 0.01, "the flows are really used (non-zero) in this check"


def official_warp(x, flows):
    """The official Warp's flow layout: (B, 2K, H, W) reshaped straight to (K, B, 2, H, W)."""
    b, k, _, h, w = flows.shape
    return warp(x, flows.reshape(b, 2 * k, h, w).reshape(k, b, 2, h, w).transpose(0, 1))


def test_motion_gru_batch_of_3_is_3_samples(monkeypatch):
    """With flows of a few pixels, the official layout visibly mixes samples; ours does not."""
    torch.manual_seed(0)
    gru = MotionGRU(8)
    h = torch.randn(3, 8, 8, 8)
    flow, trend = 2 * torch.randn(3, 18, 4, 4), 2 * torch.randn(3, 18, 4, 4)
    other = flow.clone()
    other[0] = 2 * torch.randn(18, 4, 4)

    def mixing(fn):
        monkeypatch.setattr("convrnn.cells.motionrnn.warp", fn)
        batch = gru(h, flow, trend)[0]
        changed = (gru(h, other, trend)[0][1:] - batch[1:]).abs().max()
        singles = torch.cat(
            [gru(h[i : i + 1], flow[i : i + 1], trend[i : i + 1])[0] for i in range(3)]
        )
        return changed, (batch - singles).abs().max()

    changed, vs_singles = mixing(warp)
    assert changed == 0 and vs_singles < 1e-6
    changed, vs_singles = mixing(official_warp)
    assert changed > 1e-3 and vs_singles > 1e-3, "the check can see the official bug"


def test_multiscale_twin_needs_larger_divisors():
    flat = convrnn.build_model(
        "motionrnn", num_layers=6, hidden_channels=8, image_size=12, patch_size=1
    )
    assert flat.divisor == 2
    with pytest.raises(ValueError, match=r"divisible by 8; got 12x12"):
        convrnn.build_model(
            "ms-motionrnn", num_layers=6, hidden_channels=8, image_size=12, patch_size=1
        )
    assert (
        convrnn.build_model(
            "ms-motionrnn", num_layers=6, hidden_channels=8, image_size=16, patch_size=1
        ).divisor
        == 8
    )
    with pytest.raises(ValueError, match="even height and width"):
        MotionGRU(8)(torch.zeros(1, 8, 5, 6), torch.zeros(1, 18, 2, 3), torch.zeros(1, 18, 2, 3))


def motion_gru_count(c: int, k: int = 3) -> int:
    e, fl = c // 4, 2 * k * k
    return (
        conv_params(c, e, 2)  # encoder, kernel 2 stride 2
        + 3 * conv_params(e + fl, fl, 1)  # u, r, z
        + conv_params(e, k * k, 1)  # mask
        + conv_params(e * k * k, e, 1)  # merge
        + (e * c * 16 + c)  # deconv, kernel 4
        + conv_params(2 * c, c, 1)  # gate
    )


@pytest.mark.parametrize("stack", ["", "ms-"])
@pytest.mark.parametrize(
    ("preset", "hidden", "expected"), [("ms-rnn", 64, 7_560_547), ("ms-lstm", 32, 1_899_859)]
)
def test_counts_and_the_faithful_option(stack, preset, hidden, expected):
    full = convrnn.build_model(f"{stack}motionrnn", preset, image_size=64)
    lean = convrnn.build_model(f"{stack}motionrnn", preset, image_size=64, faithful=False)
    mim = convrnn.build_model(f"{stack}mim", preset, image_size=64)
    assert convrnn.count_parameters(full) == expected
    assert expected - convrnn.count_parameters(mim) == 6 * motion_gru_count(hidden)
    dead = (
        153 * hidden**2 + 17 * hidden + motion_gru_count(hidden)
    )  # layer 0's MIM blocks, last MotionGRU
    assert convrnn.count_parameters(full) - convrnn.count_parameters(lean) == dead


def test_options_and_errors():
    assert {"motion_kernel", "alpha", "neighbour_offsets", "faithful"} <= set(
        MotionRNNCell.option_names()
    )
    small = convrnn.build_model(
        "motionrnn", num_layers=2, hidden_channels=8, image_size=8, patch_size=1, motion_kernel=2
    )
    assert small.stack.cells[0].motion.update.out_channels == 8
    with pytest.raises(ValueError, match="multiple of 4"):
        convrnn.build_model("motionrnn", hidden_channels=6)
    with pytest.raises(ValueError, match="in_channels"):
        MotionRNNCell(4, 8, layer_index=0, depth=2)
    with pytest.raises(ValueError, match="motion_kernel"):
        MotionGRU(8, 0)
    torch.manual_seed(0)
    plain = convrnn.build_model(
        "motionrnn", num_layers=2, hidden_channels=8, image_size=8, patch_size=1
    )
    torch.manual_seed(0)
    grid = convrnn.build_model(
        "motionrnn",
        num_layers=2,
        hidden_channels=8,
        image_size=8,
        patch_size=1,
        neighbour_offsets=True,
    )
    frames = torch.rand(1, 3, 1, 8, 8)
    assert not torch.allclose(plain(frames, 2), grid(frames, 2))
