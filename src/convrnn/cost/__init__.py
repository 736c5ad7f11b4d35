"""Cost analysis: parameters, FLOPs, saved activations, peak memory, step time, inference speed, max size.

Conventions: ``flops`` are counted by PyTorch's own ``FlopCounterMode`` on one
training forward pass (2 FLOPs per multiply-add); ``macs = flops / 2`` is the
unit of the OpenSTL and MS-RNN tables. ``activation_bytes`` are the bytes of
the tensors autograd saves for backward during that forward (each storage
once, parameters excluded): exact and device-independent. ``peak_memory_bytes``
is what one full training step (forward, loss, backward, Adam step) needs on
top of the persistent weights, optimizer state and data, after a warm-up step:
the CUDA allocator's peak, or on CPU the RSS high-water mark of a fresh process
(see :func:`measure_peak_memory`).

Modules: :mod:`~convrnn.cost.counters` (exact counts), :mod:`~convrnn.cost.memory`
(peak memory), :mod:`~convrnn.cost.timing` (the training step and its time),
:mod:`~convrnn.cost.bench` (the rows of ``convrnn bench`` and the largest size).
"""

from convrnn.cost.bench import (
    BenchSpec,
    bench_row,
    max_square_size,
    measure_peak_memory,
    peak_memory_stats,
)
from convrnn.cost.counters import (
    activation_bytes,
    checkpoint_inputs,
    count_flops,
    count_parameters,
    flops_by_op,
    saved_tensor_bytes,
    training_flops,
    training_flops_by_op,
)
from convrnn.cost.memory import call_in_fresh_process, step_peak_memory
from convrnn.cost.timing import inference_fps, train_step, training_step_seconds

__all__ = [
    "BenchSpec",
    "activation_bytes",
    "bench_row",
    "call_in_fresh_process",
    "checkpoint_inputs",
    "count_flops",
    "count_parameters",
    "flops_by_op",
    "inference_fps",
    "max_square_size",
    "measure_peak_memory",
    "peak_memory_stats",
    "saved_tensor_bytes",
    "step_peak_memory",
    "train_step",
    "training_flops",
    "training_flops_by_op",
    "training_step_seconds",
]
