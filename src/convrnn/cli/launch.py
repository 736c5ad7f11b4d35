"""How this process was started: alone, as a worker Lightning launched for ``--devices N``, or as
one of several processes of a torchrun/SLURM launch; its global rank; the run directory handed down.

Lightning's detectors are not used because they answer other questions:
``TorchElasticEnvironment.detect()`` needs ``TORCHELASTIC_RUN_ID`` (a launch that sets only
``WORLD_SIZE`` is several processes too), ``SLURMEnvironment.detect()`` is true for a single-task
``srun`` and false in interactive jobs (and warns when ``srun`` exists but is unused), and
``rank_zero``'s rank reads ``LOCAL_RANK`` before ``SLURM_PROCID`` and fails on a non-numeric value.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

#: lets DDP worker processes find the run directory their parent chose
RUN_DIR_ENV = "CONVRNN_RUN_DIR"


def inherited_run_dir() -> str | None:
    """The run directory a parent handed down to this worker process (None if not a worker)."""
    return os.environ.get(RUN_DIR_ENV) if "LOCAL_RANK" in os.environ else None


def external_launch() -> bool:
    """Started by torchrun or srun as one of several processes (not by Lightning's own launcher)."""
    if os.environ.get(RUN_DIR_ENV) and "LOCAL_RANK" in os.environ:
        return False  # a worker Lightning started for --devices N; it inherits the run directory
    sizes = (os.environ.get("WORLD_SIZE"), os.environ.get("SLURM_NTASKS"))
    return any(size is not None and size.isdigit() and int(size) > 1 for size in sizes)


def global_rank() -> int:
    """This process's global rank from ``RANK``, ``SLURM_PROCID`` or ``LOCAL_RANK``; 0 alone."""
    for name in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 0


@contextmanager
def handing_down(run_dir: str) -> Iterator[None]:
    """Within the block, worker processes (which re-run this command) find ``run_dir``."""
    previous = os.environ.get(RUN_DIR_ENV)
    os.environ[RUN_DIR_ENV] = str(run_dir)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(RUN_DIR_ENV, None)
        else:
            os.environ[RUN_DIR_ENV] = previous
