"""Advection-anchored forecasts: dense Lucas-Kanade motion of the inputs, semi-Lagrangian advection."""

import pytest
import torch

from convrnn.cost.counters import count_parameters
from convrnn.errors import ConfigError
from convrnn.models.motion import advect, estimate_motion


def blobs(frames: int, size: int, vx: float, vy: float) -> torch.Tensor:
    """``(1, frames, 1, size, size)`` Gaussian rain cells moving ``(vx, vy)`` pixels per frame."""
    y, x = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    cells = [(0.3, 0.55, 0.05, 1.0), (0.7, 0.3, 0.025, 0.6), (0.45, 0.8, 0.1, 0.4)]
    out = []
    for t in range(frames):
        field = torch.zeros(size, size)
        for cx, cy, s, peak in cells:
            dx, dy = x - (cx * size + vx * t), y - (cy * size + vy * t)
            field += peak * torch.exp(-(dx**2 + dy**2) / (2 * (s * size) ** 2))
        out.append(field)
    return torch.stack(out)[None, :, None]


def _zero_head(model):
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
    return model


@pytest.mark.parametrize("size, vx, vy", [(64, 1.3, -0.7), (128, -2.5, 1.5)])
def test_motion_of_a_translation_is_recovered(size, vx, vy):
    frames = blobs(4, size, vx, vy)
    motion = estimate_motion(frames)
    assert motion.shape == (1, 2, size, size)
    rain = frames[0, -1, 0] > 0.1
    assert abs(motion[0, 0][rain].mean().item() - vx) < 0.1
    assert abs(motion[0, 1][rain].mean().item() - vy) < 0.1
    # the advected last frame is far closer to the next frame than the last frame itself
    after = blobs(5, size, vx, vy)[:, -1]
    moved_error = (advect(frames[:, -1], motion) - after).abs().mean()
    assert moved_error < 0.2 * (frames[:, -1] - after).abs().mean()


def test_motion_without_texture_or_a_second_frame_is_zero():
    assert torch.equal(estimate_motion(torch.zeros(2, 4, 1, 32, 32)), torch.zeros(2, 2, 32, 32))
    one = estimate_motion(torch.rand(1, 1, 1, 16, 16))
    assert torch.equal(one, torch.zeros(1, 2, 16, 16))


def test_advect_zero_motion_is_identity_and_integer_motion_a_shift():
    frame = torch.rand(2, 1, 8, 8)
    assert torch.equal(advect(frame, torch.zeros(2, 2, 8, 8)), frame)
    motion = torch.zeros(2, 2, 8, 8)
    motion[:, 0] = 2.0  # two pixels to the right; nothing flows in from outside
    moved = advect(frame, motion)
    torch.testing.assert_close(moved[..., 2:], frame[..., :-2])
    assert torch.equal(moved[..., :2], torch.zeros(2, 1, 8, 2))


def test_untrained_advection_model_is_an_extrapolation_nowcast(tiny):
    model = _zero_head(
        tiny("ms-convlstm", num_layers=2, hidden_channels=4, residual=True, anchor="advection")
    ).eval()
    frames = blobs(7, 32, 1.0, -0.5)
    forecast = model.predict(frames[:, :4], 3)
    motion = estimate_motion(frames[:, :4])
    expected, step = [], frames[:, 3]
    for _ in range(3):
        step = advect(step, motion)
        expected.append(step)
    assert torch.equal(forecast, torch.stack(expected, dim=1).clamp(0, 1))
    # closer to the truth than persistence at every lead
    for k in range(3):
        moved = (forecast[:, k] - frames[:, 4 + k]).abs().mean()
        assert moved < (frames[:, 3] - frames[:, 4 + k]).abs().mean()


def test_training_sees_the_observed_frames_only(tiny):
    model = tiny("ms-convlstm", num_layers=2, hidden_channels=4, residual=True, anchor="advection")
    frames = blobs(6, 16, 1.0, 0.5)
    changed = frames.clone()
    changed[:, 3:] = torch.rand_like(changed[:, 3:])
    # without teacher forcing the forecasts depend on the 3 observed frames alone (motion too)
    assert torch.equal(model(frames, 3)[:, 2:], model(changed, 3)[:, 2:])
    model(frames, 3).sum().backward()
    assert torch.isfinite(model.head.weight.grad).all() and model.head.weight.grad.abs().sum() > 0


def test_anchor_adds_no_weights_and_needs_residual(tiny):
    plain = tiny("ms-convlstm", num_layers=2, hidden_channels=4, residual=True)
    moved = tiny("ms-convlstm", num_layers=2, hidden_channels=4, residual=True, anchor="advection")
    assert count_parameters(plain) == count_parameters(moved)
    assert moved.config["options"]["anchor"] == "advection"
    with pytest.raises(ConfigError, match="residual=true"):
        tiny(anchor="advection")
    with pytest.raises(ConfigError, match="anchor"):
        tiny(residual=True, anchor="flow")


def test_advection_model_exports_with_its_motion_in_the_program(tiny, tmp_path):
    from convrnn.export.deploy import export_program

    model = tiny(
        "ms-convlstm",
        num_layers=2,
        hidden_channels=4,
        residual=True,
        anchor="advection",
        image_size=(32, 32),
    ).eval()
    described = export_program(model, tmp_path / "model.pt2", 4, 3)
    assert described["checked"]["max_abs_diff"] <= described["checked"]["tolerance"]
