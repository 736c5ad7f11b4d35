"""TrajGRU: the warp's pixel convention, the step equations, states, counts and options."""

import math

import pytest
import torch
import torch.nn.functional as F

import convrnn
from convrnn.cells import TrajGRUCell
from convrnn.cells.trajgru import warp_links as warp
from tests.cell_reference import conv1x1, conv_of, conv_params, embed_and_head


def slow_warp(feature: torch.Tensor, flows: torch.Tensor) -> torch.Tensor:
    """Bilinear sampling at (x + u, y + v) pixel by pixel, zero outside the frame."""
    b, c, h, w = feature.shape
    links = flows.shape[1] // 2
    flows = flows.detach()  # only the sampled values are compared, not their gradients
    out = torch.zeros(b, links * c, h, w, dtype=feature.dtype)

    def pixel(n, yy, xx):
        if 0 <= yy < h and 0 <= xx < w:
            return feature[n, :, yy, xx]
        return torch.zeros(c, dtype=feature.dtype)

    for n in range(b):
        for link in range(links):
            for y in range(h):
                for x in range(w):
                    sx = x + float(flows[n, 2 * link, y, x])
                    sy = y + float(flows[n, 2 * link + 1, y, x])
                    x0, y0 = math.floor(sx), math.floor(sy)
                    ax, ay = sx - x0, sy - y0
                    value = (
                        (1 - ax) * (1 - ay) * pixel(n, y0, x0)
                        + ax * (1 - ay) * pixel(n, y0, x0 + 1)
                        + (1 - ax) * ay * pixel(n, y0 + 1, x0)
                        + ax * ay * pixel(n, y0 + 1, x0 + 1)
                    )
                    out[n, link * c : (link + 1) * c, y, x] = value
    return out


def test_zero_flow_is_exactly_the_identity():
    torch.manual_seed(0)
    for h, w in ((16, 16), (8, 32)):
        feature = torch.randn(2, 3, h, w)
        out = warp(feature, torch.zeros(2, 4, h, w))
        assert torch.equal(out, feature.repeat(1, 2, 1, 1))
    feature = torch.randn(1, 2, 7, 5)  # odd sizes: equal up to rounding of the normalisation
    torch.testing.assert_close(warp(feature, torch.zeros(1, 2, 7, 5)), feature)


def test_integer_flow_shifts_by_exactly_that_many_pixels():
    torch.manual_seed(0)
    feature = torch.randn(2, 3, 16, 16)
    flows = torch.zeros(2, 4, 16, 16)
    flows[:, 0], flows[:, 1] = 2.0, -1.0  # link 0 reads (x + 2, y - 1)
    flows[:, 2], flows[:, 3] = -3.0, 4.0  # link 1 reads (x - 3, y + 4)
    out = warp(feature, flows)
    first = torch.zeros_like(feature)
    first[:, :, 1:, :-2] = feature[:, :, :-1, 2:]
    second = torch.zeros_like(feature)
    second[:, :, :-4, 3:] = feature[:, :, 4:, :-3]
    assert torch.equal(out[:, :3], first)
    assert torch.equal(out[:, 3:], second)
    odd = torch.randn(1, 2, 7, 5)
    shift = torch.zeros(1, 2, 7, 5)
    shift[:, 0] = 1.0
    expected = torch.zeros_like(odd)
    expected[..., :-1] = odd[..., 1:]
    torch.testing.assert_close(warp(odd, shift), expected)


def test_fractional_flows_match_slow_bilinear_sampling():
    torch.manual_seed(0)
    feature = torch.randn(2, 3, 5, 6)
    flows = 2.5 * torch.randn(2, 6, 5, 6)  # 3 links, some samples fall outside the frame
    torch.testing.assert_close(warp(feature, flows), slow_warp(feature, flows))


def test_official_convention_is_not_the_identity():
    # the official code: grid normalised by (W - 1), grid_sample(align_corners=False)
    feature = torch.randn(1, 1, 8, 8)
    ys, xs = torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij")
    grid = torch.stack([2 * xs / 7 - 1, 2 * ys / 7 - 1], dim=-1)[None]
    official = F.grid_sample(feature, grid, align_corners=False)
    assert (official - feature).abs().max() > 0.1
    assert torch.equal(warp(feature, torch.zeros(1, 2, 8, 8)), feature)


def test_warp_rejects_bad_flows():
    with pytest.raises(ValueError, match="flows must be"):
        warp(torch.zeros(1, 2, 4, 4), torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match="flows must be"):
        warp(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 5))


def test_step_matches_equations():
    torch.manual_seed(0)
    cell = TrajGRUCell(3, 4, links=2)
    x, h = torch.randn(2, 3, 5, 6), torch.randn(2, 4, 5, 6)
    h1, state, m = cell(x, (h,))
    assert m is None and not cell.uses_zigzag and len(state) == 1 and state[0] is h1
    features = F.leaky_relu(
        conv_of(cell.flow_features, 0, x) + conv_of(cell.flow_features, 1, h), 0.2
    )
    flows = conv_of(cell.flow, 0, features)
    warped = slow_warp(h, -flows)  # the state is gathered from p - flow
    z_x, r_x, h_x = conv_of(cell.input_gates, 0, x).chunk(3, 1)
    z_h, r_h, h_h = conv1x1(cell.project, warped).chunk(3, 1)
    z, r = torch.sigmoid(z_x + z_h), torch.sigmoid(r_x + r_h)
    candidate = F.leaky_relu(h_x + r * h_h, 0.2)
    torch.testing.assert_close(h1, (1 - z) * candidate + z * h)


def test_state_is_h_only():
    cell = TrajGRUCell(4, 4, links=3)
    state = cell.init_state(2, 6, 6, torch.device("cpu"), torch.float32)
    assert len(state) == 1 and state[0].shape == (2, 4, 6, 6) and not state[0].any()
    h, new_state, _ = cell(torch.randn(2, 4, 6, 6), state)
    assert h.shape == (2, 4, 6, 6) and len(new_state) == 1


def trajgru_layer(c: int, links: int, k: int = 3) -> int:
    """x->3c, x->c, h->c, flows c->2L (k x k), 1x1 projection L*c -> 3c."""
    return (
        conv_params(c, 3 * c, k)
        + 2 * conv_params(c, c, k)
        + conv_params(c, 2 * links, k)
        + conv_params(links * c, 3 * c, 1)
    )


@pytest.mark.parametrize("name", ["trajgru", "ms-trajgru"])
@pytest.mark.parametrize(
    ("preset", "hidden", "links", "expected"),
    [("ms-rnn", 64, 10, 1_915_705), ("ms-lstm", 32, 10, 497_113), ("ms-rnn", 64, 13, 2_157_661)],
)
def test_counts(name, preset, hidden, links, expected):
    assert 6 * trajgru_layer(hidden, links) + embed_and_head(hidden) == expected
    options = {} if links == 10 else {"links": links}
    assert convrnn.count_parameters(convrnn.build_model(name, preset, **options)) == expected


def test_options_and_errors():
    assert set(TrajGRUCell.option_names()) == {"kernel_size", "links", "bias"}
    assert convrnn.build_model("trajgru", hidden_channels=8).stack.cells[0].links == 10
    cell = TrajGRUCell(4, 4, 5, links=3, bias=False)
    assert cell.flow.weight.shape == (6, 4, 5, 5) and cell.project.bias is None
    for bad in (0, -2, 1.5):
        with pytest.raises(ValueError, match="links"):
            TrajGRUCell(4, 4, links=bad)
    with pytest.raises(ValueError, match="valid options"):
        convrnn.build_model("trajgru", norm="layer")
