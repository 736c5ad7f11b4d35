import pytest
import torch

from convrnn.cells import ConvLSTMCell
from convrnn.stacks import Flat, MultiScale, pyramid_scales, resample, skip_sources
from tests.conftest import ProbeCell


def probe_factory(log):
    return lambda spec: ProbeCell(spec.in_channels, spec.hidden_channels, spec.index, log)


def convlstm_factory(spec):
    return ConvLSTMCell.from_spec(spec)


@pytest.mark.parametrize(
    ("depth", "scales"),
    [(2, [0, 0]), (3, [0, 1, 0]), (4, [0, 1, 1, 0]), (5, [0, 1, 2, 1, 0]), (6, [0, 1, 2, 2, 1, 0])],
)
def test_pyramid_scales(depth, scales):
    assert pyramid_scales(depth) == scales


def test_skip_sources_six_layers():
    s = pyramid_scales(6)
    assert skip_sources(s, "none") == [(), (0,), (1,), (2,), (3,), (4,)]
    assert skip_sources(s, "unet") == [(), (0,), (1,), (2,), (3, 1), (4, 0)]
    # official ms_convlstm_unet_plus3: L3 <- h2 + pool(h0) + pool(h1); L4 <- up(h3) + h0 + h1; L5 <- up(h4) + h0 + up(h3)
    assert skip_sources(s, "unet3+") == [(), (0,), (1,), (2, 0, 1), (3, 0, 1), (4, 0, 3)]
    assert skip_sources(s, "dense")[5] == (0, 1, 2, 3, 4)
    with pytest.raises(ValueError, match="skip="):
        skip_sources(s, "resnet")


def test_skip_sources_odd_depth_has_bottleneck():
    s = pyramid_scales(5)
    assert skip_sources(s, "unet") == [(), (0,), (1,), (2, 1), (3, 0)]


def test_resample_exact_sizes():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert resample(x, (2, 2)).flatten().tolist() == [5.0, 7.0, 13.0, 15.0]
    up = resample(torch.ones(1, 2, 3, 5), (6, 10))
    assert up.shape == (1, 2, 6, 10) and torch.allclose(up, torch.ones_like(up))
    assert resample(x, (4, 4)) is x
    with pytest.raises(ValueError):
        resample(x, (3, 3))


@pytest.mark.parametrize("stack_cls", [Flat, MultiScale])
@pytest.mark.parametrize("depth", [2, 3, 4, 5, 6])
def test_stack_shapes(stack_cls, depth):
    stack = stack_cls(convlstm_factory, depth, 8)
    state = stack.init_state(2, 16, 16, torch.device("cpu"), torch.float32)
    outputs, (states, m) = stack(torch.randn(2, 8, 16, 16), state)
    assert len(outputs) == depth and outputs[-1].shape == (2, 8, 16, 16)
    for j, (out, st) in enumerate(zip(outputs, states, strict=True)):
        size = 16 >> stack.scales[j]
        assert out.shape == (2, 8, size, size)
        assert all(s.shape[-2:] == (size, size) for s in st)
    assert m is None


def test_multiscale_skips_sum_resampled_outputs():
    log = []
    stack = MultiScale(probe_factory(log), 6, 2)
    stack(torch.zeros(1, 2, 8, 8), stack.init_state(1, 8, 8, torch.device("cpu"), torch.float32))
    inputs = {layer: value for layer, value, _, _ in log}
    sizes = {layer: size for layer, _, _, size in log}
    # each layer outputs (index + 1); unet: L4 <- h3 + h1 = 4 + 2, L5 <- h4 + h0 = 5 + 1
    assert inputs == {0: 0.0, 1: 1.0, 2: 2.0, 3: 3.0, 4: 6.0, 5: 6.0}
    assert sizes == {0: (8, 8), 1: (4, 4), 2: (2, 2), 3: (2, 2), 4: (4, 4), 5: (8, 8)}


def test_multiscale_without_skips():
    log = []
    stack = MultiScale(probe_factory(log), 6, 2, skip="none")
    stack(torch.zeros(1, 2, 8, 8), stack.init_state(1, 8, 8, torch.device("cpu"), torch.float32))
    assert [v for _, v, _, _ in log] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


@pytest.mark.parametrize("stack_cls", [Flat, MultiScale])
def test_zigzag_memory_travels_up_then_to_the_bottom_at_next_step(stack_cls):
    log = []
    depth = 5
    stack = stack_cls(probe_factory(log), depth, 2)
    state = stack.init_state(1, 8, 8, torch.device("cpu"), torch.float32)
    for _ in range(3):
        _, state = stack(torch.zeros(1, 2, 8, 8), state)
    # step t, layer j receives m = t * depth + j (each layer adds 1, no skip ever adds to m)
    received = [(layer, m) for layer, _, m, _ in log]
    assert received == [(j, float(t * depth + j)) for t in range(3) for j in range(depth)]
    assert state[1].shape[-2:] == (8, 8)


def test_stack_rejects_bad_sizes_and_depth():
    stack = MultiScale(convlstm_factory, 6, 4)
    with pytest.raises(ValueError, match="divisible by 4"):
        stack.layer_sizes(18, 16)
    with pytest.raises(ValueError, match="at least 2"):
        Flat(convlstm_factory, 1, 4)


def test_link_layers_sees_all_cells_of_its_type():
    seen = []

    class Linked(ProbeCell):
        @classmethod
        def link_layers(cls, cells):
            seen.append([c.layer_index for c in cells])

    Flat(lambda s: Linked(s.in_channels, s.hidden_channels, s.index), 3, 2)
    assert seen == [[0, 1, 2]]
