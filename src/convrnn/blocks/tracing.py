"""Whether a call runs inside a trace, where value checks and eager-only kernels must stand aside."""

from __future__ import annotations

import torch


def exporting() -> bool:
    """Whether this call is being traced (torch.export, torch.compile, TorchScript/ONNX tracing).

    The value checks read tensor values (data-dependent control flow), which a traced
    graph cannot hold: an exported program takes whatever it is given, and the
    exporting code checks its sample input eagerly instead. The eager-only kernels
    (Winograd convolution, query-blocked attention) are custom autograd Functions or
    thread-count dependent shapes that a trace should not bake in.
    """
    return torch.compiler.is_compiling() or torch.jit.is_tracing()
