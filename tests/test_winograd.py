"""Winograd F(4x4, 3x3) training convolutions: the direct conv2d's sums and gradients, used where they pay."""

import pytest
import torch
import torch.nn.functional as F

from convrnn.blocks import GateConv, winograd
from convrnn.blocks import gate_conv as gate_conv_module
from convrnn.blocks.winograd import MIN_TILES, winograd_conv3x3
from convrnn.errors import ConfigError

#: float32 Winograd F(4x4, 3x3) rounds about 100x more than a direct convolution (1e-5 against 1e-7)
TOLERANCE = 1e-4


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest absolute difference relative to the largest magnitude of ``b``."""
    a, b = a.detach(), b.detach()
    return float((a - b).abs().max() / b.abs().max())


def direct(weight, bias, *inputs):
    """The plain sum of one padded 3x3 conv2d per input."""
    starts = torch.tensor([0, *(x.shape[1] for x in inputs)]).cumsum(0).tolist()
    out = sum(
        F.conv2d(x, weight[:, a:b], padding=1)
        for x, a, b in zip(inputs, starts, starts[1:], strict=False)
    )
    return out if bias is None else out + bias.view(1, -1, 1, 1)


@pytest.mark.parametrize(
    ("channels", "batch", "height", "width", "with_bias"),
    [((8, 8), 2, 32, 32, True), ((3, 5, 2), 1, 16, 24, False), ((1,), 4, 8, 12, True)],
)
def test_outputs_and_gradients_equal_direct_convolution(channels, batch, height, width, with_bias):
    torch.manual_seed(0)
    inputs = [torch.randn(batch, c, height, width, requires_grad=True) for c in channels]
    weight = torch.randn(6, sum(channels), 3, 3, requires_grad=True)
    bias = torch.randn(6, requires_grad=True) if with_bias else None
    leaves = [*inputs, weight] + ([bias] if with_bias else [])
    expected = direct(weight, bias, *inputs)
    got = winograd_conv3x3(weight, bias, *inputs)
    assert got.shape == expected.shape
    assert relative_error(got, expected) < TOLERANCE
    grad = torch.randn_like(expected)
    for g, e in zip(
        torch.autograd.grad(got, leaves, grad),
        torch.autograd.grad(expected, leaves, grad),
        strict=True,
    ):
        assert g.shape == e.shape
        assert relative_error(g, e) < TOLERANCE


def test_only_three_by_three_kernels_on_frames_of_whole_tiles():
    x = torch.randn(1, 2, 8, 8)
    with pytest.raises(ValueError, match="3x3"):
        winograd_conv3x3(torch.randn(4, 2, 5, 5), None, x)
    with pytest.raises(ValueError, match="divisible by 4"):
        winograd_conv3x3(torch.randn(4, 2, 3, 3), None, torch.randn(1, 2, 8, 10))


@pytest.fixture
def calls(monkeypatch):
    """Counts GateConv's Winograd calls."""
    seen = []

    def counting(*args):
        seen.append(args[2].shape)
        return winograd_conv3x3(*args)

    monkeypatch.setattr(gate_conv_module, "winograd_conv3x3", counting)
    return seen


def _gate_inputs(batch=2, size=32, channels=4, **layout):
    return [torch.randn(batch, channels, size, size, **layout) for _ in range(2)]


def test_gate_conv_trains_by_winograd_where_it_pays(calls):
    torch.manual_seed(0)
    gate = GateConv((4, 4), 16)
    inputs = _gate_inputs()
    got = gate(*inputs)
    assert len(calls) == 1
    gate.set_algorithm("direct")
    expected = gate(*inputs)
    assert len(calls) == 1
    assert relative_error(got, expected) < TOLERANCE
    # the bias rows each get the whole bias gradient, as with one conv2d per input
    gate.set_algorithm("auto")
    (bias_grad,) = torch.autograd.grad(gate(*inputs).sum(), gate.bias)
    assert torch.allclose(bias_grad, torch.full_like(bias_grad, 2 * 32 * 32))


@pytest.mark.parametrize(
    "case", ["no_grad", "too_few_tiles", "not_whole_tiles", "channels_last", "bf16", "norm", "5x5"]
)
def test_gate_conv_keeps_conv2d_where_winograd_does_not_pay(calls, case):
    batch = MIN_TILES // 64 // 2 if case == "too_few_tiles" else 2
    size = 30 if case == "not_whole_tiles" else 32
    gate = GateConv(
        (4, 4),
        16,
        5 if case == "5x5" else 3,
        norm="layer" if case == "norm" else "none",
        height=size,
        width=size,
    )
    inputs = _gate_inputs(batch, size)
    if case == "channels_last":
        inputs = [x.contiguous(memory_format=torch.channels_last) for x in inputs]
    if case == "no_grad":
        with torch.no_grad():
            gate(*inputs)
    elif case == "bf16":
        with torch.autocast("cpu", dtype=torch.bfloat16):
            gate(*inputs)
    else:
        gate(*inputs)
    assert calls == []


def test_forecaster_sets_every_gate_conv_and_checks_the_name(tiny):
    model = tiny("convlstm", conv_algorithm="direct")
    gates = [m for m in model.modules() if isinstance(m, GateConv)]
    assert gates and all(g.algorithm == "direct" for g in gates)
    assert model.conv_algorithm == "direct"
    assert all(g.algorithm == "auto" for g in tiny("convlstm").modules() if isinstance(g, GateConv))
    with pytest.raises(ConfigError, match="conv_algorithm='fft'"):
        tiny("convlstm", conv_algorithm="fft")


@pytest.mark.parametrize("name", ["convlstm", "ms-convlstm", "predrnn"])
def test_training_step_equals_the_direct_one(tiny, calls, name):
    """A model's predictions and every weight's gradient match conv2d's to float rounding."""
    torch.manual_seed(1)
    frames = torch.rand(2, 6, 1, 64, 64)
    results = {}
    for algorithm in ("direct", "auto"):
        model = tiny(name, patch_size=1).use_conv_algorithm(algorithm)
        pred = model(frames, 3)
        pred.square().mean().backward()
        results[algorithm] = (pred, [p.grad for p in model.parameters()])
    assert calls, "the auto model never used Winograd"
    (pred_d, grads_d), (pred_w, grads_w) = results["direct"], results["auto"]
    assert relative_error(pred_w, pred_d) < TOLERANCE
    for g, e in zip(grads_w, grads_d, strict=True):
        assert relative_error(g, e) < 1e-3


def test_scratch_buffers_are_reused_and_start_above_the_mmap_threshold_cap():
    like = torch.empty(0)
    small = winograd._scratch("test", (3, 4), like)
    again = winograd._scratch("test", (5,), like)
    assert small.data_ptr() == again.data_ptr(), "a smaller request reuses the buffer"
    buffer = winograd._SCRATCH[("test", torch.float32, like.device)]
    assert buffer.numel() * buffer.element_size() >= winograd.SCRATCH_MIN_BYTES > 32 * 2**20
    larger = buffer.numel() + 1
    key = ("test", torch.float32, like.device)
    grown = winograd._scratch("test", (larger,), like)
    assert grown.numel() == larger == winograd._SCRATCH[key].numel()
    del winograd._SCRATCH[key]


@pytest.mark.parametrize("batch", [1, 2])
def test_each_input_gradient_owns_its_memory(batch):
    # a view into one gradient of all inputs would keep the others' memory alive until it dies
    inputs = [torch.randn(batch, c, 16, 16, requires_grad=True) for c in (3, 5)]
    weight = torch.randn(4, 8, 3, 3, requires_grad=True)
    grads = torch.autograd.grad(winograd_conv3x3(weight, None, *inputs).sum(), inputs)
    scratch = {t.untyped_storage().data_ptr() for t in winograd._SCRATCH.values()}
    for g, x in zip(grads, inputs, strict=True):
        assert g._base is None
        assert g.untyped_storage().nbytes() == x.numel() * x.element_size()
        assert g.untyped_storage().data_ptr() not in scratch


def test_stale_scratch_values_never_reach_the_result():
    torch.manual_seed(0)
    inputs = [torch.randn(2, c, 8, 12, requires_grad=True) for c in (3, 2)]
    weight = torch.randn(4, 5, 3, 3, requires_grad=True)
    winograd_conv3x3(weight, None, *inputs)  # makes every scratch buffer
    for buffer in winograd._SCRATCH.values():
        buffer.fill_(float("nan"))  # what an earlier call of another shape may leave
    got = winograd_conv3x3(weight, None, *inputs)
    assert relative_error(got, direct(weight, None, *inputs)) < TOLERANCE
    grads = torch.autograd.grad(got.sum(), [*inputs, weight])
    assert all(torch.isfinite(g).all() for g in grads)
