"""Cost analysis: parameters and the bytes a training forward pass saves for backward."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


def saved_tensor_bytes(
    fn: Any, *args: Any, exclude: nn.Module | None = None, **kwargs: Any
) -> tuple[int, Any]:
    """Run ``fn(*args, **kwargs)`` and count the bytes autograd saves for backward.

    Every saved tensor's storage is counted once (views and repeated saves of one
    tensor share a storage); the parameters of ``exclude`` are not activations
    and are left out. The count is exact and independent of the device.
    """
    param_ptrs = set()
    if exclude is not None:
        param_ptrs = {p.untyped_storage().data_ptr() for p in exclude.parameters()}
    storages: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in param_ptrs:
            storages[ptr] = storage.nbytes()
        # detached: keeping the tensor itself makes a saved output hold its own grad_fn, a
        # reference cycle through C++ that gc cannot free when backward never runs (pytorch#115255)
        return t.detach()

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn(*args, **kwargs)
    return sum(storages.values()), out


def activation_bytes(model: nn.Module, frames: Tensor, input_length: int) -> int:
    """Bytes saved for backward by one training forward of ``model`` on ``frames``."""
    was_training = model.training
    model.train()
    try:
        with torch.enable_grad():
            nbytes, _ = saved_tensor_bytes(model, frames, input_length, exclude=model)
    finally:
        model.train(was_training)
    return nbytes
