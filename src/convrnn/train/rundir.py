"""What ``train`` may do with a run directory: refuse other folders, see a finished run, clean temporaries.

A folder is a convrnn run when it holds ``checkpoints/last.ckpt`` or the run
lock ``.lock`` that ``convrnn train`` writes first. Any other existing, non-empty
folder is the user's: ``train`` writes into it only with ``overwrite=True``,
which lets the run's files (``config.yaml``, ``model.json``,
``normalization.json``, ``checkpoints/``, ``logs/``) replace files of those names
and leaves every other file alone; nothing is ever deleted.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from convrnn.config import stop_iteration
from convrnn.errors import RunError
from convrnn.io import load_checkpoint, stale_temporaries
from convrnn.runs import CONFIG_FILE, DATA_FILE, MODEL_FILE, NORMALIZER_FILE
from convrnn.train.lock import is_run_marker

CHECKPOINTS = "checkpoints"
LAST = "last.ckpt"
BEST = "best.ckpt"
#: files of the run folder itself that only ``train`` writes (with the run lock held)
RUN_FILES = {CONFIG_FILE, MODEL_FILE, NORMALIZER_FILE, DATA_FILE}


def last_checkpoint(run_dir: Path) -> Path:
    """``RUN_DIR/checkpoints/last.ckpt``."""
    return run_dir / CHECKPOINTS / LAST


def resume_command(run_dir: Path) -> str:
    """The command that continues ``run_dir``."""
    return f"convrnn train --out {shlex.quote(str(run_dir))} --resume"


def check_output_folder(run_dir: Path, overwrite: bool = False) -> None:
    """Refuse a ``run_dir`` that is a file, or a non-empty folder that is not a convrnn run."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RunError(f"--out {run_dir} is a file, not a folder; choose another --out")
    if not run_dir.is_dir() or overwrite:
        return
    if last_checkpoint(run_dir).exists() or is_run_marker(run_dir):
        return
    entries = sorted(p.name + ("/" if p.is_dir() else "") for p in run_dir.iterdir())
    if not entries:
        return
    shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
    raise RunError(
        f"{run_dir} is not empty and is not a convrnn run (it holds {shown}, and no "
        f"{CHECKPOINTS}/{LAST}); choose a new or empty --out, or pass --overwrite to write the run "
        f"into it (files named {', '.join(sorted(RUN_FILES))}, {CHECKPOINTS}/ and logs/ are "
        "replaced, every other file stays)"
    )


def remove_stale_temporaries(run_dir: Path) -> list[Path]:
    """Delete what killed atomic writes of a training left in ``run_dir``; returns the files removed.

    Only ``.<name>.*.tmp`` of checkpoints and of the run's own files: ``convrnn test``
    and ``predict`` may be writing their temporaries next to them right now.
    """
    found = stale_temporaries(run_dir / CHECKPOINTS) + stale_temporaries(run_dir, RUN_FILES)
    for path in found:
        path.unlink(missing_ok=True)
    return found


def checkpoint_iteration(path: Path) -> int:
    """The training iteration a convrnn checkpoint holds (read lazily, without loading its tensors)."""
    checkpoint = load_checkpoint(path, "cpu", mmap=True)
    state = checkpoint.get("convrnn")
    if not isinstance(state, dict) or "iteration" not in state:
        raise RunError(f"{path} was not written by convrnn train (it holds no training iteration)")
    return int(state["iteration"])


def nothing_to_do(run_dir: Path, cfg: dict[str, Any], iteration: int) -> str | None:
    """The message of a resume that has nothing to train (finished, or past ``stop_after``); else None."""
    train = cfg["train"]
    checkpoints = run_dir / CHECKPOINTS
    best = f" and {checkpoints / BEST}" if (checkpoints / BEST).exists() else ""
    if iteration >= train["max_steps"]:
        return (
            f"{run_dir} is finished at iteration {iteration} (train.max_steps="
            f"{train['max_steps']}); nothing to resume, nothing written. Checkpoints: "
            f"{checkpoints / LAST}{best}"
        )
    if iteration >= stop_iteration(cfg):
        return (
            f"{run_dir} is already at iteration {iteration}, not before train.stop_after="
            f"{train['stop_after']}; nothing written. Resume without train.stop_after (or with a "
            f"later one) to continue towards {train['max_steps']}"
        )
    return None
