import pytest
import torch

from convrnn.train.losses import frame_loss
from convrnn.train.sampling import SamplingSchedule


def test_predrnn_schedule_values():
    s = SamplingSchedule("predrnn", max_steps=100_000)
    assert s.probabilities(0) == (1.0, pytest.approx(1 - 2e-5))
    assert s.probabilities(24_999)[1] == pytest.approx(0.5)
    assert s.probabilities(49_998)[1] == pytest.approx(2e-5)
    assert s.probabilities(49_999) == (1.0, 0.0)  # iteration 50,000 reaches the stop
    assert s.probabilities(80_000) == (1.0, 0.0)


def test_linear_schedule_values():
    s = SamplingSchedule("linear", max_steps=100, fraction=0.5)
    assert s.probabilities(24)[1] == pytest.approx(0.5)
    assert s.probabilities(49)[1] == 0.0
    full = SamplingSchedule("linear", max_steps=100)
    assert full.probabilities(74)[1] == pytest.approx(0.25)


def test_reverse_schedule_values():
    s = SamplingSchedule("reverse", max_steps=300, step_1=100, step_2=200, alpha=10)
    assert s.probabilities(50) == (0.5, 0.5)
    enc, dec = s.probabilities(109)  # iteration 110
    assert enc == pytest.approx(1 - 0.5 * torch.exp(torch.tensor(-1.0)).item())
    assert dec == pytest.approx(0.45)
    assert s.probabilities(199) == (1.0, 0.0)
    default = SamplingSchedule(
        "reverse", max_steps=150
    )  # MS-RNN: thirds of the run, alpha = run / 15
    assert default.options == {"step_1": 50, "step_2": 100, "alpha": 10}


def test_masks_follow_the_probabilities():
    s = SamplingSchedule("predrnn", max_steps=100_000, seed=3)
    mask = s.mask(step=24_999, batch=4000, input_length=10, total_length=20)
    assert mask.shape == (4000, 18)
    assert torch.all(mask[:, :9] == 1)  # steps 1..9 read the inputs
    assert mask[:, 9:].mean().item() == pytest.approx(0.5, abs=0.02)
    assert torch.equal(mask, s.mask(24_999, 4000, 10, 20))  # a pure function of the iteration
    assert not torch.equal(mask, s.mask(24_999, 4000, 10, 20, rank=1))  # ranks draw their own
    assert s.mask(60_000, 4, 10, 20) is None  # eta = 0: plain free running


def test_reverse_masks_cover_the_encoder():
    s = SamplingSchedule("reverse", max_steps=300, step_1=100, step_2=200, alpha=10)
    mask = s.mask(step=0, batch=4000, input_length=10, total_length=20)
    assert mask[:, :9].mean().item() == pytest.approx(0.5, abs=0.02)
    assert mask[:, 9:].mean().item() == pytest.approx(0.5, abs=0.02)


def test_schedule_roundtrip_and_errors():
    s = SamplingSchedule("linear", 10, seed=1, fraction=0.5)
    assert SamplingSchedule.from_state_dict(s.state_dict()).state_dict() == s.state_dict()
    with pytest.raises(ValueError, match="valid"):
        SamplingSchedule("linear", 10, stop=5)
    with pytest.raises(ValueError, match="one of"):
        SamplingSchedule("cosine", 10)
    with pytest.raises(ValueError, match="step_1 < step_2"):
        SamplingSchedule("reverse", 10, step_1=8, step_2=4)


def test_frame_losses():
    pred = torch.zeros(2, 3, 1, 4, 4)
    target = torch.full_like(pred, 0.5)
    assert frame_loss(pred, target, "l2").item() == pytest.approx(16 * 0.25)
    assert frame_loss(pred, target, "l1").item() == pytest.approx(16 * 0.5)
    assert frame_loss(pred, target, "l1+l2").item() == pytest.approx(16 * 0.75)
    assert frame_loss(pred, target, "l2", "mean").item() == pytest.approx(0.25)
    with pytest.raises(ValueError, match="differ"):
        frame_loss(pred, target[:, :2])
