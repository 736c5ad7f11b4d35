"""The Python API's input contract: float32 frames in [0, 1], anything else a named error."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import convrnn
from convrnn.errors import InputError, InputTypeError


@pytest.fixture(scope="module")
def model():
    return convrnn.build_model("convlstm", hidden_channels=4, num_layers=2, patch_size=1).eval()


@pytest.mark.parametrize(
    ("dtype", "fix"),
    [
        (torch.uint8, r"frames.float\(\) / 255"),
        (torch.float64, r"frames.float\(\)"),
        (torch.int64, "float"),
    ],
)
def test_wrong_dtypes_name_the_conversion(model, dtype, fix):
    frames = torch.zeros(1, 4, 1, 8, 8, dtype=dtype)
    with pytest.raises(InputTypeError, match=fix) as err:
        model.predict(frames, 2)
    assert isinstance(err.value, TypeError)
    with pytest.raises(InputTypeError, match=str(dtype)):
        model(frames, input_length=2)


def test_values_outside_the_unit_range_are_refused(model):
    raw = torch.full((1, 4, 1, 8, 8), 200.0)  # 8-bit pixels as float: the CLI refuses them too
    with pytest.raises(InputError, match=r"\[200, 200\].*divide by 255"):
        model.predict(raw, 2)
    with pytest.raises(InputError, match=r"lie in \[-0.5"):
        model(torch.full((1, 4, 1, 8, 8), -0.5), input_length=2)
    nan = torch.zeros(1, 4, 1, 8, 8)
    nan[0, 1, 0, 2, 2] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        model.predict(nan, 2)


def test_float16_and_rounding_at_the_bounds_are_accepted(model):
    frames = torch.rand(1, 4, 1, 8, 8)
    frames[0, 0, 0, 0, 0] = 1.0 + 1e-4  # a normalisation's float rounding
    assert model.predict(frames, 2).shape == (1, 2, 1, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert model.predict(frames.bfloat16(), 1).shape == (1, 1, 1, 8, 8)


def test_evaluate_rejects_nan_and_out_of_range(model):
    good = np.random.default_rng(0).random((2, 3, 1, 8, 8), dtype=np.float32)
    bad = good.copy()
    bad[0, 0, 0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        convrnn.metrics.evaluate(bad, good)
    with pytest.raises(InputError):
        convrnn.metrics.evaluate(good, good * 255)
    with pytest.raises(InputError):
        convrnn.metrics.evaluate(good, (good * 255).astype(np.uint8))
