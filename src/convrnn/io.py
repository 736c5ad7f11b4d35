"""Safe file writing and checkpoint loading."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import torch


def proc_status(field: str) -> str | None:
    """The first word of a ``/proc/self/status`` field (``Umask``, ``VmRSS``...); None without it."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    words = line.split()
                    return words[1] if len(words) > 1 else None
    except OSError:
        return None
    return None


def current_umask() -> int:
    """The process umask (read from /proc where possible; else set and restored at once)."""
    text = proc_status("Umask")
    if text is not None and all(c in "01234567" for c in text):
        return int(text, 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary file that appears at ``path`` only once fully written (temp file, fsync, rename).

    A crash or an exception mid-write leaves any previous file untouched and no temporary behind.
    The file gets the permissions ``open()`` would give a new file (``0o666 & ~umask``), not the
    private ``0o600`` of the temporary, so a shared data cache stays readable by the group.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_atomic(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` through :func:`atomic_file`."""
    with atomic_file(path) as f:
        torch.save(obj, f)


def save_npy_atomic(path: str | os.PathLike, array: Any) -> None:
    """``numpy.save`` through :func:`atomic_file`."""
    import numpy as np

    with atomic_file(path) as f:
        np.save(f, array)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) through :func:`atomic_file`."""
    with atomic_file(path) as f:
        f.write(text.encode())


def load_safe(path: str | os.PathLike, map_location: Any = "cpu") -> Any:
    """Load a checkpoint with ``weights_only=True`` (tensors and plain containers, never arbitrary objects)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise RuntimeError(
            f"checkpoint {path} cannot be read (corrupt or not a checkpoint): {e}"
        ) from e
