import pytest
import torch

from convrnn.models import Forecaster, patch, unpatch
from convrnn.stacks import Flat
from tests.conftest import ProbeCell


def test_patch_roundtrip_and_channel_order():
    x = torch.randn(2, 3, 8, 12)
    z = patch(x, 4)
    assert z.shape == (2, 48, 2, 3)
    torch.testing.assert_close(unpatch(z, 4), x)
    # channel c * p^2 + ph * p + pw holds pixel (ph, pw) of each block of channel c
    c, ph, pw = 2, 1, 3
    torch.testing.assert_close(z[:, c * 16 + ph * 4 + pw], x[:, c, ph::4, pw::4])


def test_forward_returns_every_next_frame(tiny):
    model = tiny()
    frames = torch.rand(3, 7, 1, 16, 16)
    out = model(frames, input_length=4)
    assert out.shape == (3, 6, 1, 16, 16)


@pytest.mark.parametrize(("t_in", "horizon"), [(1, 1), (1, 5), (3, 2), (6, 9)])
def test_predict_any_length(t_in, horizon, tiny):
    model = tiny()
    out = model.predict(torch.rand(2, t_in, 1, 16, 16), horizon)
    assert out.shape == (2, horizon, 1, 16, 16)
    assert out.min() >= 0 and out.max() <= 1
    assert not out.requires_grad


def test_predict_equals_training_rollout_without_teacher(tiny):
    model = tiny()
    frames = torch.rand(2, 8, 1, 16, 16)
    with torch.no_grad():
        train_out = model(frames, input_length=3)
    pred = model.predict(frames[:, :3], 5, clip=False)
    torch.testing.assert_close(pred, train_out[:, 2:])


def test_teacher_mask_selects_ground_truth_or_prediction(tiny):
    model = tiny()
    frames = torch.rand(2, 6, 1, 16, 16)
    with torch.no_grad():
        free = model(frames, input_length=2)
        forced = model(frames, input_length=5)
        ones = torch.ones(2, 4)
        assert torch.allclose(model(frames, 2, teacher_mask=ones), forced)
        zeros = torch.zeros(2, 4)
        assert torch.allclose(model(frames, 2, teacher_mask=zeros), model(frames, 1))
        assert not torch.allclose(free, forced)
        per_sample = torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
        mixed = model(frames, 2, teacher_mask=per_sample)
        assert torch.allclose(mixed[0], forced[0]) and torch.allclose(mixed[1], model(frames, 1)[1])


def test_gradients_reach_all_parameters(tiny):
    model = tiny()
    model(torch.rand(2, 5, 1, 16, 16), 3).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_checkpointing_gives_same_outputs_and_gradients(tiny):
    base = tiny()
    ckpt = tiny(checkpointing="step")
    ckpt.load_state_dict(base.state_dict())
    frames = torch.rand(2, 5, 1, 16, 16)
    a, b = base(frames, 3), ckpt(frames, 3)
    torch.testing.assert_close(a, b)
    a.square().sum().backward()
    b.square().sum().backward()
    for p, q in zip(base.parameters(), ckpt.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad)


def test_forecaster_errors(tiny):
    model = tiny()
    with pytest.raises(ValueError, match=r"\(B, T, C, H, W\)"):
        model(torch.rand(6, 1, 16, 16), 3)
    with pytest.raises(ValueError, match="in_channels=1"):
        model(torch.rand(1, 6, 3, 16, 16), 3)
    with pytest.raises(ValueError, match="divisible by 4"):
        model(torch.rand(1, 6, 1, 18, 16), 3)
    with pytest.raises(ValueError, match="input_length"):
        model(torch.rand(1, 6, 1, 16, 16), 6)
    with pytest.raises(ValueError, match="teacher_mask"):
        model(torch.rand(1, 6, 1, 16, 16), 3, teacher_mask=torch.ones(1, 5))
    with pytest.raises(ValueError, match="NaN"):
        model.predict(torch.full((1, 2, 1, 16, 16), float("nan")), 2)
    with pytest.raises(ValueError, match="horizon"):
        model.predict(torch.rand(1, 2, 1, 16, 16), 0)
    with pytest.raises(ValueError, match="identity"):
        Forecaster(
            Flat(lambda s: ProbeCell(s.in_channels, s.hidden_channels), 2, 4), 1, embed="identity"
        )


def test_image_size_is_enforced_when_built_for_it(tiny):
    model = tiny("convlstm", image_size=16, norm="layer")
    with pytest.raises(ValueError, match="image_size"):
        model(torch.rand(1, 4, 1, 32, 32), 2)


def assert_same_training_pass(reference, other, frames, grad_atol=1e-5, relative=False):
    """Same outputs of a training call on ``frames`` and same gradients of a squared loss."""
    a, b = reference(frames, 2), other(frames, 2)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    a.square().sum().backward()
    b.square().sum().backward()
    for p, q in zip(reference.parameters(), other.parameters(), strict=True):
        if p.grad is None:
            assert q.grad is None
            continue
        # float sums in another order: optionally a tolerance relative to the largest gradient
        atol = grad_atol * float(p.grad.abs().max()) + 1e-6 if relative else grad_atol
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-3, atol=atol)


@pytest.mark.slow
def test_compiled_step_agrees_with_eager(tiny):
    eager = tiny(num_layers=2, hidden_channels=4, patch_size=1)
    compiled = tiny(num_layers=2, hidden_channels=4, patch_size=1, compile=True)
    compiled.load_state_dict(eager.state_dict())
    frames = torch.rand(2, 4, 1, 8, 8)
    assert_same_training_pass(eager, compiled, frames)
    torch.testing.assert_close(
        eager.predict(frames[:, :2], 3), compiled.predict(frames[:, :2], 3), rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize("name", ["ms-convlstm", "predrnn", "ms-motionrnn", "cms-lstm"])
def test_channels_last_agrees_with_contiguous(name, tiny):
    plain = tiny(name, num_layers=2, hidden_channels=4, image_size=16)
    nhwc = tiny(name, num_layers=2, hidden_channels=4, image_size=16, channels_last=True)
    nhwc.load_state_dict(plain.state_dict())
    conv_weights = [p for p in nhwc.parameters() if p.dim() == 4]
    assert conv_weights
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in conv_weights)
    assert_same_training_pass(plain, nhwc, torch.rand(2, 4, 1, 16, 16), 1e-3, relative=True)
