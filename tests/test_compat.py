"""compat="official": each switch reproduces one official equation and changes nothing else.

The official code (reference official-ms-rnn.md 1.2, 1.6, 1.12) is re-implemented here
directly from its description, independently of convrnn's vectorised versions.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import convrnn
from convrnn.blocks import warp
from convrnn.cells import MIMCell, TrajGRUCell
from convrnn.cells.motionrnn import MotionGRU
from convrnn.cli import main
from convrnn.errors import ChoiceError
from convrnn.registry import COMPAT_MODES, get_entry, list_models


def official_warp(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """The official ``warp(input, flow)``: absolute grid + flow, / max(size - 1, 1), align_corners=False."""
    b, _, h, w = x.shape
    xx = torch.arange(w, dtype=x.dtype).view(1, 1, 1, w).expand(b, 1, h, w)
    yy = torch.arange(h, dtype=x.dtype).view(1, 1, h, 1).expand(b, 1, h, w)
    grid = torch.cat((xx, yy), 1) + flow
    gx = 2.0 * grid[:, 0] / max(w - 1, 1) - 1.0
    gy = 2.0 * grid[:, 1] / max(h - 1, 1) - 1.0
    return F.grid_sample(x, torch.stack((gx, gy), -1), align_corners=False)


def bilinear(img: torch.Tensor, px: float, py: float) -> torch.Tensor:
    """Bilinear sample of ``img`` (C, H, W) at pixel coordinates (px, py), zeros outside."""
    _, h, w = img.shape
    x0, y0 = math.floor(px), math.floor(py)
    out = torch.zeros(img.shape[0], dtype=img.dtype)
    for yy, wy in ((y0, 1 - (py - y0)), (y0 + 1, py - y0)):
        for xx, wx in ((x0, 1 - (px - x0)), (x0 + 1, px - x0)):
            if 0 <= yy < h and 0 <= xx < w:
                out += wy * wx * img[:, yy, xx]
    return out


# -- the option --------------------------------------------------------------------------------


def test_every_model_takes_compat_and_a_bad_value_names_the_choices():
    assert COMPAT_MODES == ("paper", "official")
    for name in list_models():
        assert "compat" in get_entry(name).option_names(), name
    with pytest.raises(
        ChoiceError, match="unknown compat 'offical'; valid compats: official, paper"
    ):
        convrnn.build_model("convlstm", compat="offical")
    with pytest.raises(ChoiceError, match="valid compats"):
        TrajGRUCell(2, 2, compat="exact")


@pytest.mark.parametrize("name", ["convlstm", "ms-convlstm", "predrnn", "mim", "ms-preciplstm"])
def test_models_without_an_official_difference_are_unchanged(name):
    torch.manual_seed(0)
    kw = dict(num_layers=4, hidden_channels=4, image_size=16, patch_size=1)
    paper = convrnn.build_model(name, **kw)
    official = convrnn.build_model(name, **kw, compat="official")
    official.load_state_dict(paper.state_dict())
    x = torch.rand(2, 4, 1, 16, 16)
    assert torch.equal(paper(x, 2), official(x, 2))
    assert official.config["options"] == {"compat": "official"}


@pytest.mark.parametrize("name", ["trajgru", "motionrnn", "ms-mim", "ms-motionrnn", "ms-trajgru"])
def test_parameter_counts_are_unchanged(name):
    paper = convrnn.build_model(name, "ms-rnn", image_size=64)
    official = convrnn.build_model(name, "ms-rnn", image_size=64, compat="official")
    assert convrnn.count_parameters(official) == convrnn.count_parameters(paper)
    assert convrnn.count_parameters(official) == get_entry(name).params["ms-rnn"]
    assert [n for n, _ in official.named_parameters()] == [n for n, _ in paper.named_parameters()]


# -- (a) the warp normalisation ----------------------------------------------------------------


def test_zero_flow_is_the_identity_by_default_and_a_half_pixel_shift_under_official():
    torch.manual_seed(0)
    h, w = 4, 8  # powers of two: the default normalisation is exact
    x = torch.randn(1, 2, h, w, dtype=torch.double)
    zero = torch.zeros(1, 1, 2, h, w, dtype=torch.double)
    assert torch.equal(warp(x, zero)[:, :, 0], x)
    shifted = warp(x, zero, official=True)[:, :, 0]
    # by hand: pixel (i, j) is sampled at (j W/(W-1) - 1/2, i H/(H-1) - 1/2)
    for i in range(h):
        for j in range(w):
            expected = bilinear(x[0], j * w / (w - 1) - 0.5, i * h / (h - 1) - 0.5)
            torch.testing.assert_close(shifted[0, :, i, j], expected)
    # the corner pixel: half a pixel outside on both axes -> a quarter of its value
    torch.testing.assert_close(shifted[0, :, 0, 0], 0.25 * x[0, :, 0, 0])
    assert (shifted - x).abs().max() > 0.1


def test_official_warp_matches_the_official_function_on_random_flows():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 6, 7, dtype=torch.double)
    flows = 1.7 * torch.randn(2, 4, 2, 6, 7, dtype=torch.double)
    ours = warp(x, flows, official=True)
    for k in range(4):
        torch.testing.assert_close(ours[:, :, k], official_warp(x, flows[:, k]))
    assert (warp(x, flows)[:, :, 0] - official_warp(x, flows[:, 0])).abs().max() > 1e-2


def test_trajgru_official_changes_only_the_warp():
    """The official step, written out with the official per-link warp loop, equals compat='official'."""
    torch.manual_seed(0)
    cell = TrajGRUCell(3, 4, links=2, compat="official").double()
    paper = TrajGRUCell(3, 4, links=2).double()
    paper.load_state_dict(cell.state_dict())
    x, h = torch.randn(2, 3, 6, 6, dtype=torch.double), torch.randn(2, 4, 6, 6, dtype=torch.double)
    flows = cell.flows(x, h)
    warped = torch.cat([official_warp(h, -flows[:, 2 * i : 2 * i + 2]) for i in range(2)], 1)
    z_x, r_x, h_x = cell.input_gates(x).chunk(3, 1)
    z_h, r_h, h_h = cell.project(warped).chunk(3, 1)
    z, r = torch.sigmoid(z_x + z_h), torch.sigmoid(r_x + r_h)
    expected = (1 - z) * F.leaky_relu(h_x + r * h_h, 0.2) + z * h
    torch.testing.assert_close(cell(x, (h,))[0], expected)
    assert (paper(x, (h,))[0] - expected).abs().max() > 1e-3


# -- (b) MotionRNN's two reshapes --------------------------------------------------------------


def official_motion_gru(gru: MotionGRU, h, flow, trend):
    """The official MotionGRU (official-ms-rnn.md 1.6), with its Warp and its reshapes as coded."""
    e = gru.encode(h)
    u = torch.sigmoid(gru.update(torch.cat([e, flow], 1)))
    r = torch.sigmoid(gru.reset(torch.cat([e, flow], 1)))
    z = torch.tanh(gru.candidate(torch.cat([e, r * flow], 1)))
    trend_new = trend + gru.alpha * (flow - trend)
    flow_new = u * z + (1 - u) * flow + trend_new
    b, c2, hh, ww = flow_new.shape
    flows = flow_new.reshape(c2 // 2, b, 2, hh, ww)  # k^2 b 2 h w, straight
    warped = torch.stack([official_warp(e, flows[i]) for i in range(c2 // 2)])  # k^2 b c h w
    warped = warped.permute(1, 2, 3, 4, 0)  # b c h w k^2
    mask = torch.sigmoid(gru.mask(e)).permute(0, 2, 3, 1).unsqueeze(1)  # b 1 h w k^2
    merged = (mask * warped).reshape(b, -1, hh, ww)  # straight
    dec = gru.decode(gru.merge(merged))
    g = torch.sigmoid(gru.gate(torch.cat([dec, h], 1)))
    return g * h + (1 - g) * dec, flow_new, trend_new


def test_official_motion_gru_is_the_official_code_at_batch_3():
    torch.manual_seed(0)
    gru = MotionGRU(8, official=True).double()
    paper = MotionGRU(8).double()
    paper.load_state_dict(gru.state_dict())
    h = torch.randn(3, 8, 8, 8, dtype=torch.double)
    flow, trend = (torch.randn(3, 18, 4, 4, dtype=torch.double) for _ in range(2))
    want = official_motion_gru(gru, h, flow, trend)
    for got, expected in zip(gru(h, flow, trend), want, strict=True):
        torch.testing.assert_close(got, expected)
    assert (paper(h, flow, trend)[0] - want[0]).abs().max() > 1e-3


def test_flow_split_is_unchanged_at_batch_1_and_mixes_samples_above():
    torch.manual_seed(0)
    official, paper = MotionGRU(8, official=True), MotionGRU(8)
    one = torch.randn(1, 18, 4, 4)
    assert torch.equal(official.split_flows(one), paper.split_flows(one))
    three = torch.randn(3, 18, 4, 4)
    got = official.split_flows(three)  # (B, K, 2, H, W)
    flat = three.flatten()  # the official reading: index ((k * B + b) * 2 + d) * H * W + ...
    for b in range(3):
        for k in range(9):
            start = ((k * 3 + b) * 2) * 16
            assert torch.equal(got[b, k].flatten(), flat[start : start + 32])
    assert torch.equal(paper.split_flows(three)[1, 2], three[1, 4:6])
    assert not torch.equal(got, paper.split_flows(three))


def test_merge_reads_the_pixel_last_tensor_straight_at_any_batch():
    torch.manual_seed(0)
    official, paper = MotionGRU(8, official=True), MotionGRU(8)
    warped = torch.randn(1, 2, 9, 4, 4)  # (B, C, K, H, W)
    pixel_last = warped.permute(0, 1, 3, 4, 2).contiguous()  # (B, C, H, W, K) as the official
    assert torch.equal(official.merge_samples(warped).flatten(), pixel_last.flatten())
    mine = paper.merge_samples(warped)
    assert torch.equal(mine[0, 1 * 9 + 4], warped[0, 1, 4]), "channel c K + k: flow k of channel c"
    assert not torch.equal(mine, official.merge_samples(warped))


@pytest.mark.parametrize("name", ["motionrnn", "ms-motionrnn"])
def test_official_motionrnn_mixes_the_samples_of_a_batch_as_the_official_code(name):
    torch.manual_seed(0)
    kw = dict(num_layers=4, hidden_channels=8, image_size=16, patch_size=1)
    paper = convrnn.build_model(name, **kw)
    official = convrnn.build_model(name, **kw, compat="official")
    official.load_state_dict(paper.state_dict())
    frames = torch.rand(3, 5, 1, 16, 16)

    def batch_vs_singles(model):
        singles = torch.cat([model(frames[i : i + 1], 3) for i in range(3)])
        return (model(frames, 3) - singles).abs().max()

    assert batch_vs_singles(paper) < 1e-6
    assert batch_vs_singles(official) > 1e-4


# -- (c) the MS-MIM / MS-MotionRNN diagonal input ---------------------------------------------


def up(x: torch.Tensor) -> torch.Tensor:
    """The official ``nn.Upsample(scale_factor=2, mode='bilinear')``."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


@pytest.mark.parametrize("name", ["ms-mim", "ms-motionrnn"])
def test_ms_diagonal_input_is_the_official_formula(name):
    """Layer 3 of 4 (H/2 -> H, skip from layer 0): MIM-N gets up(h2_t) + h0_t - up(h2_{t-1})."""
    torch.manual_seed(0)
    kw = dict(num_layers=4, hidden_channels=8, image_size=16, patch_size=1)
    results = {}
    for compat in ("paper", "official"):
        torch.manual_seed(0)
        model = convrnn.build_model(name, **kw, compat=compat)
        assert model.stack.sources[3] == (2, 0)
        seen: list[torch.Tensor] = []
        model.stack.cells[3].mim_n.register_forward_hook(
            lambda m, args, out, seen=seen: seen.append(args[0])
        )
        state = model.init_state(2, 16, 16, torch.zeros(1))
        torch.manual_seed(1)
        outputs = []
        for _ in range(3):
            layers, state = model.stack(model.embed(torch.rand(2, 1, 16, 16)), state)
            outputs.append(layers)
        results[compat] = (seen, outputs)
    seen, outs = results["official"]
    for t in (1, 2):
        x_t = up(outs[t][2]) + outs[t][0]
        torch.testing.assert_close(seen[t], x_t - up(outs[t - 1][2]))
    assert torch.equal(seen[0], up(outs[0][2]) + outs[0][0]), "t = 0: x_prev = 0"
    seen, outs = results["paper"]
    x_1 = up(outs[1][2]) + outs[1][0]
    torch.testing.assert_close(seen[1], x_1 - (up(outs[0][2]) + outs[0][0]))
    assert (seen[1] - (x_1 - up(outs[0][2]))).abs().max() > 1e-3


@pytest.mark.parametrize("name", ["ms-mim", "ms-motionrnn"])
def test_ms_encoder_layers_are_unchanged_by_the_diagonal_switch(name):
    """Without a skip the layer's input is the layer below: only the decoder layers differ."""
    torch.manual_seed(0)
    kw = dict(num_layers=4, hidden_channels=8, image_size=16, patch_size=1)
    paper = convrnn.build_model(name, **kw)
    official = convrnn.build_model(name, **kw, compat="official")
    if name == "ms-motionrnn":  # MotionGRU's own switches are not the subject here
        for cell in official.stack.cells:
            for module in cell.modules():
                if isinstance(module, MotionGRU):
                    module.official = False
    official.load_state_dict(paper.state_dict())
    frames = torch.rand(2, 4, 1, 16, 16)
    state_p = paper.init_state(2, 16, 16, frames)
    state_o = official.init_state(2, 16, 16, frames)
    for t in range(4):
        out_p, state_p = paper.stack(paper.embed(frames[:, t]), state_p)
        out_o, state_o = official.stack(official.embed(frames[:, t]), state_o)
        for layer in (0, 1, 2):  # the encoder and the bottleneck: identical
            assert torch.equal(out_p[layer], out_o[layer])
    assert (out_p[3] - out_o[3]).abs().max() > 1e-5


def test_a_mim_cell_outside_a_stack_keeps_its_input():
    cell = MIMCell(4, 4, layer_index=1, compat="official")
    assert cell.takes_below and not MIMCell(4, 4, layer_index=0, compat="official").takes_below
    x = torch.randn(1, 4, 6, 6)
    state = cell.init_state(1, 6, 6, x.device, x.dtype)
    assert cell(x, state)[1][4] is x
    below = torch.randn(1, 4, 6, 6)
    assert cell(x, state, below=below)[1][4] is below


# -- the command line --------------------------------------------------------------------------


@pytest.fixture
def series(tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((40, 8, 8), dtype=np.float32))
    return tmp_path


def _train(series, *settings):
    return main(["train", "--model", "ms-mim", "--data", str(series / "x.npy"), "--max-steps", "1",
                 "--out", str(series / "run"), "--batch-size", "2",
                 "--set", "data.input_length=2", "--set", "data.output_length=2",
                 "--set", "model.options.hidden_channels=4", "--set", "model.options.num_layers=4",
                 "--set", "model.options.patch_size=1", "--set", "train.progress_bar=false",
                 "--set", "train.val_every=1", *settings])  # fmt: skip


def test_cli_bad_compat_is_named_and_nothing_is_written(series, capsys):
    assert _train(series, "--set", "model.options.compat=offical") == 2
    err = capsys.readouterr().err
    assert "valid compats: official, paper" in err and "Traceback" not in err
    assert not (series / "run").exists()


@pytest.mark.slow
def test_cli_compat_official_is_saved_with_the_run(series):
    assert _train(series, "--set", "model.options.compat=official") == 0
    model = convrnn.load(series / "run")
    assert model.config["options"]["compat"] == "official"
    assert model.stack.cells[3].takes_below
