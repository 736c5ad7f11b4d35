"""How much the command line says (a leaf): progress bars on a terminal, Lightning's banner off.

The CLI calls :func:`configure` once per command with ``--quiet`` / ``--verbose``.
Library code asks :func:`bar` for a tqdm bar: it draws on stderr only when stderr
is a terminal and ``--quiet`` was not given, and is a silent no-op otherwise, so
pipes, log files and ``--json`` output never see it. Without ``--verbose``,
Lightning's start-up banner and tips and known deprecation warnings of the
dependencies are hidden; from Python (no :func:`configure`) nothing is hidden.
"""

from __future__ import annotations

import logging
import re
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_STATE = {"quiet": False, "verbose": False}

#: Lightning's start-up banner, tips and checkpoint-restore lines (a resumed bar starts at its
#: iteration); its other messages, e.g. the DDP set-up, stay
BANNER = re.compile(
    r"(GPU|TPU|HPU|IPU) available: |💡 Tip: |`Trainer\(\w+=.*\)` was configured so "
    r"|You are using a CUDA device |LOCAL_RANK: \d+ - CUDA_VISIBLE_DEVICES: "
    r"|Restoring states from the checkpoint path at |Restored all states from the checkpoint at "
)
#: the loggers those lines come from (Lightning's rank-zero helpers and its CUDA accelerator)
BANNER_LOGGERS = (
    "lightning.pytorch.utilities.rank_zero",
    "lightning.fabric.utilities.rank_zero",
    "lightning_utilities.core.rank_zero",
    "lightning.pytorch.accelerators.cuda",
)
#: warnings that say nothing a convrnn user can act on (message patterns)
KNOWN_WARNINGS = (
    r".*isinstance\(treespec, LeafSpec\)` is deprecated",  # Lightning's _pytree on torch >= 2.10
    r".*LeafSpec.* is deprecated",
    r"The '\w+_dataloader' does not have many workers",  # we choose the workers on purpose
)


class _HideBanner(logging.Filter):
    """Drops the records of :data:`BANNER`."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not BANNER.match(record.getMessage())


_HIDE_BANNER = _HideBanner()


def configure(*, quiet: bool = False, verbose: bool = False) -> None:
    """Set this process's noise level: ``quiet`` hides the bars; without ``verbose`` the banner goes."""
    _STATE.update(quiet=quiet, verbose=verbose)
    for name in BANNER_LOGGERS:
        logger = logging.getLogger(name)
        logger.removeFilter(_HIDE_BANNER)
        if not verbose:
            logger.addFilter(_HIDE_BANNER)
    if not verbose:
        for pattern in KNOWN_WARNINGS:
            warnings.filterwarnings("ignore", message=pattern)


def enabled() -> bool:
    """Whether progress bars are drawn: stderr is a terminal and ``--quiet`` was not given."""
    if _STATE["quiet"]:
        return False
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def bar(total: int | None, desc: str, unit: str = "it", **kwargs: Any) -> Any:
    """A tqdm bar on stderr with ``total`` and an ETA (disabled where :func:`enabled` is false)."""
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        disable=not enabled(),
        file=sys.stderr,
        dynamic_ncols=True,
        leave=True,
        **kwargs,
    )


@contextmanager
def printing() -> Iterator[None]:
    """Print to stdout inside this block without tearing the bars on the terminal."""
    from tqdm import tqdm

    with tqdm.external_write_mode(file=sys.stdout):
        yield
