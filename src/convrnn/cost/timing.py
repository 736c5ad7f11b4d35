"""The training step every cost measurement runs, and its time; predicted frames per second.

A leaf: it imports nothing from convrnn.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA); nothing to wait for on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_step(
    model: nn.Module, frames: Tensor, input_length: int, optimizer: torch.optim.Optimizer
) -> None:
    """One full training step: forward, L2 loss on frames ``1 .. T-1``, backward, ``optimizer.step()``."""
    optimizer.zero_grad(set_to_none=True)
    loss = (model(frames, input_length) - frames[:, 1:]).square().mean()
    loss.backward()
    optimizer.step()


def training_step_seconds(
    model: nn.Module, frames: Tensor, input_length: int, steps: int = 5, warmup: int = 2
) -> float:
    """Median seconds of a full training step (forward, L2 loss, backward, Adam) after ``warmup`` steps."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.train()
    times = []
    for i in range(warmup + steps):
        sync(frames.device)
        start = time.perf_counter()
        train_step(model, frames, input_length, optimizer)
        sync(frames.device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def call_seconds(
    call: Callable[[], Any], device: torch.device, repeats: int = 3, warmup: int = 1
) -> float:
    """Median wall seconds of ``call()`` after ``warmup`` calls (CUDA work waited for)."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        call()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def inference_fps(model: Any, inputs: Tensor, horizon: int, repeats: int = 3) -> float:
    """Predicted frames per second of ``model.predict(inputs, horizon)`` (all sequences of the batch)."""
    seconds = call_seconds(lambda: model.predict(inputs, horizon), inputs.device, repeats)
    return inputs.shape[0] * horizon / seconds
