"""CPU threads of PyTorch: ``--threads N`` / ``train.threads``, or a default that does not oversubscribe.

PyTorch's own default is one intra-op thread per core of the whole machine. On a
machine shared with other jobs, in a container or job limited to a few cores, or
with several training processes per node, those threads compete for the same
cores, and OpenMP threads spin while they wait: an oversubscribed training step
can take many times longer than with one thread. The default here is

1. ``OMP_NUM_THREADS`` when it is set (a launcher or the user chose; torchrun sets
   1 per process when it starts several);
2. else the cores this process may run on (its CPU affinity mask, as set by
   ``taskset``, cgroups cpusets or SLURM; hyperthread siblings count once),
   divided among the training processes on this node (``train.devices``, or
   torchrun's ``LOCAL_WORLD_SIZE``); at least 1;
3. for a single process, less the cores other work keeps busy right now
   (``/proc/stat`` sampled for a quarter of a second at start): on a 2-core
   machine with another job running this gives 1 thread, which measured 2.4-2.8x
   faster a step than 2 (``benchmarks/threads.py``).

The count (and so the order of floating-point sums) can then differ between two
runs of the same config on a busy and an idle machine; it is printed and kept in
the run's log, and ``--threads N`` fixes it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from convrnn.errors import ConfigError

_TOPOLOGY = "/sys/devices/system/cpu/cpu{}/topology/thread_siblings_list"


def _siblings_of(cpu: int) -> str | None:
    """The hyperthread siblings of ``cpu`` as Linux lists them (e.g. ``"0,8"``), or None."""
    try:
        return Path(_TOPOLOGY.format(cpu)).read_text().strip() or None
    except OSError:
        return None


def allowed_cpus() -> set[int]:
    """The logical CPUs this process may run on (its affinity mask; every CPU where unknown)."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        return set(range(os.cpu_count() or 1))


def usable_cores(
    cpus: Iterable[int] | None = None, siblings: Callable[[int], str | None] = _siblings_of
) -> int:
    """Physical cores among ``cpus`` (default: the affinity mask); siblings of one core count once."""
    cpus = sorted(allowed_cpus() if cpus is None else set(cpus))
    groups = {siblings(cpu) or f"cpu{cpu}" for cpu in cpus}
    return max(1, len(groups))


def processes_on_node(devices: int = 1, environ: Mapping[str, str] | None = None) -> int:
    """Training processes sharing this node: torchrun's ``LOCAL_WORLD_SIZE``, else ``devices``."""
    env = os.environ if environ is None else environ
    local = env.get("LOCAL_WORLD_SIZE", "")
    return int(local) if local.isdigit() and int(local) > 0 else max(1, devices)


@dataclass(frozen=True)
class ThreadChoice:
    """A thread count and why it was chosen (printed and written to the run's log)."""

    threads: int
    reason: str

    def __str__(self) -> str:
        return f"{self.threads} CPU thread{'s' if self.threads != 1 else ''} ({self.reason})"


def busy_cores(seconds: float = 0.25, stat: str | Path = "/proc/stat") -> float:
    """Cores kept busy by other work: the machine's non-idle CPU time over ``seconds`` (we sleep).

    0 where ``/proc/stat`` cannot be read (not Linux).
    """
    import time

    def sample() -> tuple[int, int, int] | None:
        try:
            fields = Path(stat).read_text().split("\n", 1)[0].split()
        except OSError:
            return None
        if not fields or fields[0] != "cpu":
            return None
        values = [int(v) for v in fields[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
        cpus = os.cpu_count() or 1
        return sum(values[:8]), idle, cpus

    first = sample()
    if first is None:
        return 0.0
    time.sleep(seconds)
    second = sample()
    if second is None or second[0] <= first[0]:
        return 0.0
    total, idle = second[0] - first[0], second[1] - first[1]
    return max(0.0, (total - idle) / total * second[2])


def default_threads(
    processes: int = 1,
    environ: Mapping[str, str] | None = None,
    cores: int | None = None,
    busy: float | None = None,
) -> ThreadChoice:
    """The default thread count of one of ``processes`` processes on this node (module docstring).

    ``busy``: cores other work keeps busy (measured by :func:`busy_cores` when None).
    """
    env = os.environ if environ is None else environ
    omp = env.get("OMP_NUM_THREADS", "").strip()
    if omp:
        if not omp.isdigit() or int(omp) < 1:
            raise ConfigError(
                f"OMP_NUM_THREADS={omp!r} is not a positive integer; unset it or set e.g. 1"
            )
        return ThreadChoice(int(omp), "OMP_NUM_THREADS")
    cores = usable_cores() if cores is None else cores
    threads = max(1, cores // max(1, processes))
    share = f" / {processes} processes on this node" if processes > 1 else ""
    reason = f"default: {cores} usable cores{share}"
    if processes == 1 and cores > 1:  # several processes of one run would count each other
        busy = busy_cores() if busy is None else busy
        taken = min(cores - 1, round(busy))
        if taken > 0:
            threads = cores - taken
            reason += f", {taken} busy with other work"
    return ThreadChoice(threads, reason)


def choose_threads(
    requested: int | None,
    processes: int = 1,
    environ: Mapping[str, str] | None = None,
    cores: int | None = None,
    busy: float | None = None,
) -> ThreadChoice:
    """``requested`` (``--threads``/``train.threads``) if given, else :func:`default_threads`."""
    if requested is None:
        return default_threads(processes, environ, cores, busy)
    if not isinstance(requested, int) or isinstance(requested, bool) or requested < 1:
        raise ConfigError(f"threads must be a positive integer, got {requested!r}")
    return ThreadChoice(requested, "--threads / train.threads")


def apply_threads(requested: int | None, processes: int = 1) -> ThreadChoice:
    """Set PyTorch's intra-op thread count (:func:`choose_threads`) and return the choice."""
    import torch

    choice = choose_threads(requested, processes)
    torch.set_num_threads(choice.threads)
    return choice
