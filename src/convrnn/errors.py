"""The user-error family: every mistake a user can make raises a :class:`ConvrnnError` subclass.

The CLI turns these (and only these, plus the OS and checkpoint errors it maps)
into a one-line message and exit status 2; anything else is a bug and keeps its
traceback. Each class also derives from the built-in type callers already
catch (``ValueError``, ``KeyError``, ``FileNotFoundError``, ``RuntimeError``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class ConvrnnError(Exception):
    """Base of every error that names a user's mistake and its fix."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class ConfigError(ConvrnnError, ValueError):
    """A configuration key, value or option is invalid."""


class ChoiceError(ConfigError, KeyError):
    """A name (model, preset, dataset, loss, ...) is not one of the valid choices."""


class InputError(ConvrnnError, ValueError):
    """Input frames or arrays cannot be used as given (shape, dtype, range)."""


class DatasetError(ConvrnnError, ValueError):
    """A dataset copy is corrupt, inconsistent or does not match its format."""


class MissingDataError(DatasetError, FileNotFoundError):
    """Files or folders a dataset needs are missing."""


class RunError(ConvrnnError, FileNotFoundError):
    """A run directory or checkpoint is missing, incomplete or not a convrnn run."""


class CheckpointError(ConvrnnError, RuntimeError):
    """A checkpoint is corrupt, truncated, not a convrnn checkpoint, or holds objects it may not load."""


class RunLockedError(ConvrnnError, RuntimeError):
    """Another process is training into the same run directory."""


class NonFiniteLossError(ConvrnnError, RuntimeError):
    """Training produced a NaN or infinite loss or gradient (stopped before the optimiser step)."""


class InputTypeError(InputError, TypeError):
    """Input of the wrong type or dtype (e.g. uint8 or float64 frames where float32 is expected)."""


class OutputError(ConvrnnError, OSError):
    """A file could not be written: no space left, quota exceeded, permission denied, read-only."""


class ExportError(ConvrnnError, RuntimeError):
    """An export failed: the exported file does not reproduce the eager model, or a tool is missing."""


class TrainingInterrupted(ConvrnnError):
    """SIGTERM or SIGINT stopped a training; ``exit_code`` is the status to exit with (143, 130).

    ``iteration`` is the iteration ``checkpoint`` holds (``None`` when no checkpoint exists);
    ``rank`` is the process's global rank, so that only rank 0 reports it.
    """

    def __init__(
        self,
        message: str,
        signal_name: str,
        exit_code: int,
        iteration: int | None = None,
        checkpoint: str | None = None,
        rank: int = 0,
    ) -> None:
        super().__init__(message)
        self.signal_name = signal_name
        self.exit_code = exit_code
        self.iteration = iteration
        self.checkpoint = checkpoint
        self.rank = rank


def check_choice(kind: str, value: Any, choices: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise :class:`ChoiceError` listing them."""
    valid = list(choices)
    if value not in valid:
        listed = ", ".join(str(c) for c in sorted(valid, key=str))
        raise ChoiceError(f"unknown {kind} {value!r}; valid {kind}s: {listed}")
    return value
