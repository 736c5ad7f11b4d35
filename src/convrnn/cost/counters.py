"""Exact, device-independent counts: parameters, FLOPs and the bytes saved for backward.

A leaf: it imports nothing from convrnn, and works on any ``nn.Module`` or callable.
"""

from __future__ import annotations

import inspect
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.utils.checkpoint
from torch import Tensor, nn
from torch.utils._pytree import tree_leaves

#: the code object of ``torch.utils.checkpoint.checkpoint`` under its ``torch._disable_dynamo`` wrapper
_CHECKPOINT_CODE = inspect.unwrap(torch.utils.checkpoint.checkpoint).__code__


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (shared parameters counted once)."""
    return sum(p.numel() for p in model.parameters())


def _cpu_attention_formulas() -> dict[Any, Callable[..., int]]:
    """Formulas for the CPU's fused attention, which ``torch.utils.flop_counter`` does not know.

    Without them the ``L x L`` products of ``scaled_dot_product_attention`` on a CPU count
    zero FLOPs; the formulas are the library's own for the CUDA kernels of the same maths.
    """
    from torch.utils import flop_counter

    def forward(query: Any, key: Any, value: Any, *args: Any, **kwargs: Any) -> int:
        return flop_counter.sdpa_flop_count(query, key, value)

    def backward(grad: Any, query: Any, key: Any, value: Any, *args: Any, **kwargs: Any) -> int:
        return flop_counter.sdpa_backward_flop_count(grad, query, key, value)

    aten = torch.ops.aten
    formulas: dict[Any, Callable[..., int]] = {}
    for name, formula in (
        ("_scaled_dot_product_flash_attention_for_cpu", forward),
        ("_scaled_dot_product_flash_attention_for_cpu_backward", backward),
    ):
        if hasattr(aten, name):
            formulas[getattr(aten, name)] = formula
    return formulas


def flops_by_op(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, int]:
    """FLOPs of ``fn(*args, **kwargs)`` per aten operator (``"aten.convolution"``, ...), as :func:`count_flops`."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False, custom_mapping=_cpu_attention_formulas())
    with counter:
        fn(*args, **kwargs)
    return {str(op): int(n) for op, n in counter.get_flop_counts().get("Global", {}).items()}


def count_flops(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    """FLOPs of ``fn(*args, **kwargs)`` counted by ``torch.utils.flop_counter`` (2 per multiply-add).

    The CPU's fused attention counts as the same attention on a GPU does.
    """
    return sum(flops_by_op(fn, *args, **kwargs).values())


def training_flops(model: nn.Module, frames: Tensor, input_length: int) -> int:
    """FLOPs of one training forward (the full rollout of ``frames``)."""
    return sum(training_flops_by_op(model, frames, input_length).values())


def training_flops_by_op(model: nn.Module, frames: Tensor, input_length: int) -> dict[str, int]:
    """:func:`training_flops` per aten operator."""
    with torch.no_grad():
        return flops_by_op(model, frames, input_length)


@contextmanager
def checkpoint_inputs(record: Callable[[Tensor], None]) -> Iterator[None]:
    """Call ``record`` on every tensor passed to ``torch.utils.checkpoint.checkpoint`` in this thread.

    A checkpointed region keeps its inputs until backward to recompute from them, but
    autograd's saved-tensor hooks see only its top-level tensor arguments: nested ones (a
    recurrent state tuple) are held by ``checkpoint`` itself. A profile function observes the
    calls (however ``checkpoint`` was imported) and replaces nothing; one already installed is
    chained. A C-level profiler (cProfile before Python 3.12) cannot be chained: the nested
    inputs are then not seen, and a warning says so.
    """
    previous = sys.getprofile()
    if previous is not None and not callable(previous):
        warnings.warn(
            "a C-level profiler is active: tensors nested in the arguments of activation "
            "checkpointing are not counted",
            RuntimeWarning,
            stacklevel=3,
        )
        yield
        return

    def observe(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code is _CHECKPOINT_CODE:
            inputs = (frame.f_locals.get("args", ()), frame.f_locals.get("kwargs", {}))
            for leaf in tree_leaves(inputs):
                if isinstance(leaf, Tensor):
                    record(leaf)
        if previous is not None:
            previous(frame, event, arg)

    sys.setprofile(observe)
    try:
        yield
    finally:
        sys.setprofile(previous)


def saved_tensor_bytes(
    fn: Callable[..., Any], *args: Any, exclude: nn.Module | None = None, **kwargs: Any
) -> tuple[int, Any]:
    """Run ``fn(*args, **kwargs)`` and count the bytes kept for backward.

    Every tensor autograd saves is counted once by storage (views and repeated
    saves of one tensor share a storage); the parameters of ``exclude`` are not
    activations and are left out. Activation checkpointing hides the tensors
    it recomputes from autograd's hooks but keeps its inputs until backward:
    those inputs (the frame and the recurrent state of each checkpointed step)
    are counted too (see :func:`checkpoint_inputs`).
    """
    param_ptrs = set()
    if exclude is not None:
        param_ptrs = {p.untyped_storage().data_ptr() for p in exclude.parameters()}
    storages: dict[int, int] = {}

    def record(t: Tensor) -> None:
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in param_ptrs:
            storages[ptr] = storage.nbytes()

    def pack(t: Tensor) -> Tensor:
        record(t)
        # detached: a saved output that held its own grad_fn would make a reference cycle
        # through the C++ graph, which the garbage collector cannot free (a leak per call)
        return t.detach()

    with checkpoint_inputs(record), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
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
