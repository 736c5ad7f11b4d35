"""Safe file writing (atomic, with clear disk-full and permission errors) and safe checkpoint loading."""

from __future__ import annotations

import errno
import os
import pickle
import re
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import torch

from convrnn.errors import CheckpointError, OutputError, RunError


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


#: errno of a write that fails because of where it writes (not a bug): its reason and its fix
WRITE_ERRORS = {
    errno.ENOSPC: ("no space left on device", "free some space there"),
    errno.EDQUOT: ("disk quota exceeded", "free some space or raise the quota"),
    errno.EACCES: ("permission denied", "make it writable"),
    errno.EPERM: ("operation not permitted", "make it writable"),
    errno.EROFS: ("read-only file system", "remount it writable"),
}

#: the temporary files of :func:`atomic_file`: ``.<name>.<8 random characters>.tmp``
TEMPORARY = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp$")


def output_error(
    error: OSError,
    path: str | os.PathLike | None = None,
    elsewhere: str = "write elsewhere",
    more: str = "",
) -> OutputError | None:
    """An :class:`OutputError` naming the path, reason and fix of a disk-full/permission ``error``.

    None for any other ``error``. ``path`` is named when the error has no file name;
    ``elsewhere`` is the other fix ("choose another --out"), ``more`` is appended.
    """
    if error.errno not in WRITE_ERRORS:
        return None
    reason, fix = WRITE_ERRORS[error.errno]
    where = error.filename if error.filename is not None else path
    converted = OutputError(f"cannot write {where}: {reason}; {fix} or {elsewhere}{more}")
    converted.errno, converted.strerror, converted.filename = error.errno, reason, where
    return converted


def stale_temporaries(folder: str | os.PathLike, names: set[str] | None = None) -> list[Path]:
    """The temporary files :func:`atomic_file` left in ``folder`` (for targets in ``names``, if given)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for entry in folder.iterdir():
        match = TEMPORARY.match(entry.name)
        if match and entry.is_file() and (names is None or match["name"] in names):
            found.append(entry)
    return sorted(found)


@contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary file that appears at ``path`` only once fully written (temp file, fsync, rename).

    A crash or an exception mid-write leaves any previous file untouched and no temporary behind
    (a killed process leaves its ``.<name>.*.tmp``; ``convrnn train`` removes those of its run).
    The file gets the permissions ``open()`` would give a new file (``0o666 & ~umask``), not the
    private ``0o600`` of the temporary, so a shared data cache stays readable by the group.
    A full disk or a missing permission raises :class:`OutputError` naming the path.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and not isinstance(e, OutputError):
            converted = output_error(e, path)
            if converted is not None:
                raise converted from e
        raise


class _KeepWriteError:
    """A file wrapper that remembers the ``OSError`` of a write (torch's zip writer replaces it)."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        try:
            return self.file.write(data)
        except OSError as e:
            self.error = e
            raise

    def flush(self) -> None:
        self.file.flush()


def save_atomic(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` through :func:`atomic_file`."""
    with atomic_file(path) as f:
        kept = _KeepWriteError(f)
        try:
            torch.save(obj, kept)
        except RuntimeError as e:  # "[enforce fail at inline_container.cc] ...": the real cause
            if kept.error is not None:
                raise kept.error from e
            raise


def save_npy_atomic(path: str | os.PathLike, array: Any) -> None:
    """``numpy.save`` through :func:`atomic_file`."""
    import numpy as np

    with atomic_file(path) as f:
        np.save(f, array)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) through :func:`atomic_file`."""
    with atomic_file(path) as f:
        f.write(text.encode())


_OTHER_CHECKPOINT = "use the run's other checkpoint (best or last) or train again"


def load_safe(path: str | os.PathLike, map_location: Any = "cpu", mmap: bool = False) -> Any:
    """Load a checkpoint with ``weights_only=True`` (tensors and plain containers, never arbitrary objects).

    Every failure is a :class:`CheckpointError` (a missing file a :class:`RunError`) naming the
    file and the fix; a file holding other objects is refused, never unpickled.
    """
    path = Path(path)
    if not path.exists():
        raise RunError(f"checkpoint {path} not found")
    if path.is_dir():
        raise CheckpointError(f"checkpoint {path} is a folder, not a .ckpt file")
    try:
        if not zipfile.is_zipfile(path):  # torch writes zip archives; anything else is not ours
            raise CheckpointError(
                f"checkpoint {path} is corrupt or truncated, or not a checkpoint (it is not a "
                f"PyTorch zip archive); {_OTHER_CHECKPOINT}"
            )
        return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError:
        # torch's text suggests weights_only=False, which would run whatever the file holds
        raise CheckpointError(
            f"checkpoint {path} holds objects convrnn does not load: it was not written by convrnn "
            "or was modified; convrnn loads only tensors and plain containers, never arbitrary "
            f"Python objects; {_OTHER_CHECKPOINT}"
        ) from None
    except PermissionError:
        raise CheckpointError(
            f"checkpoint {path} cannot be read: permission denied; make it readable"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(
            f"checkpoint {path} is corrupt or truncated ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else 'no detail'}); {_OTHER_CHECKPOINT}"
        ) from None


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu", mmap: bool = False) -> dict:
    """:func:`load_safe` of a Lightning checkpoint of a convrnn run (a dict with a ``state_dict``)."""
    checkpoint = load_safe(path, map_location, mmap)
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise CheckpointError(
            f"checkpoint {path} is not a Lightning checkpoint of a convrnn run (it has no "
            f"state_dict); {_OTHER_CHECKPOINT}"
        )
    return checkpoint
