"""One training per run directory: an exclusive OS lock on ``RUN_DIR/.lock``, held by rank 0.

``flock`` locks belong to the open file, so the kernel releases them when the
holder exits or is killed: a lock file left by a dead process never blocks.
The file stays (it also marks the folder as a convrnn run); while held it names
the holder's PID and host, so that a second training can say who it waits for.
"""

from __future__ import annotations

import errno
import os
import re
import socket
import sys
import time
from pathlib import Path
from types import TracebackType

from convrnn.errors import RunLockedError

try:
    import fcntl
except ImportError:  # Windows: no flock, no lock
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".lock"
HOLDER_PREFIX = "convrnn train"

#: variables that a launcher sets to a process's rank (Lightning's own workers get LOCAL_RANK)
RANK_VARIABLES = ("RANK", "SLURM_PROCID", "NODE_RANK", "GROUP_RANK", "LOCAL_RANK")


def is_rank_zero() -> bool:
    """Whether this process is global rank 0 (no launcher variable names another rank)."""
    values = (os.environ.get(name, "") for name in RANK_VARIABLES)
    return all(int(value) == 0 for value in values if value.isdigit())


def holder(run_dir: str | Path) -> str:
    """What the lock file of ``run_dir`` says about its holder (empty if nothing)."""
    try:
        return (Path(run_dir) / LOCK_FILE).read_text(errors="replace").strip()
    except OSError:
        return ""


def is_run_marker(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` holds a lock file written by convrnn train (empty while being written)."""
    path = Path(run_dir) / LOCK_FILE
    if not path.is_file():
        return False
    text = holder(run_dir)
    return text == "" or text.startswith(HOLDER_PREFIX)


class RunLock:
    """An exclusive, non-blocking ``flock`` on ``RUN_DIR/.lock`` for the life of a ``with`` block."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self.fd: int | None = None

    def __enter__(self) -> RunLock:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        if fcntl is None:
            os.close(fd)
            return self
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunLockedError(self._locked_message()) from None
        except OSError as e:
            os.close(fd)
            if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
            print(
                f"convrnn train: warning: {self.run_dir} is on a filesystem without file locks; "
                "nothing stops a second training from writing into the same run",
                file=sys.stderr,
            )
            return self
        self.fd = fd
        started = time.strftime("%Y-%m-%dT%H:%M:%S")
        text = f"{HOLDER_PREFIX} pid {os.getpid()} host {socket.gethostname()} since {started}\n"
        os.ftruncate(fd, 0)
        os.pwrite(fd, text.encode(), 0)
        return self

    def _locked_message(self) -> str:
        found = re.search(r"pid (\d+) host (\S+)", holder(self.run_dir))
        who = "another convrnn train"
        if found:
            pid, host = found.groups()
            here = host == socket.gethostname()
            who += f" (pid {pid})" if here else f" (pid {pid} on host {host})"
        return f"{who} is writing to {self.run_dir}; wait for it or choose another --out"

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
