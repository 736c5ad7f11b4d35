"""Inference memory format: channels-last where measured faster (CUDA), or as asked; same forecasts."""

import pytest
import torch

from convrnn.errors import ConfigError
from convrnn.models.inference import InferenceOptions, predict, prepare


def test_channels_last_gives_the_same_forecast(tiny):
    inputs = torch.rand(2, 3, 1, 16, 16)
    plain = prepare(tiny(), InferenceOptions(device="cpu", memory_format="contiguous"))
    want = predict(plain, inputs, 4, plain.inference_options)
    nhwc = prepare(tiny(), InferenceOptions(device="cpu", memory_format="channels_last"))
    assert nhwc.channels_last
    weight = next(p for p in nhwc.parameters() if p.dim() == 4 and p.shape[-1] > 1)
    assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
    torch.testing.assert_close(predict(nhwc, inputs, 4, nhwc.inference_options), want)
    back = prepare(nhwc, InferenceOptions(device="cpu", memory_format="contiguous"))
    assert not back.channels_last and weight.is_contiguous()


def test_auto_keeps_the_models_format_on_cpu(tiny):
    options = InferenceOptions(device="cpu")
    assert options.memory_format == "auto" and options.channels_last is None
    assert prepare(tiny(channels_last=True), options).channels_last
    assert not prepare(tiny(), options).channels_last


def test_unknown_memory_format_is_an_error():
    with pytest.raises(ConfigError, match="memory_format"):
        InferenceOptions(memory_format="nhwc")
