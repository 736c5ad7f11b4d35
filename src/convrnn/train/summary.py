"""What ``train`` says: the data and threads it starts with, and a closing hint that works for the run.

The start summary (data set, series, windows per split, normalisation, schedule,
validation interval, CPU threads) is printed by rank 0 and written to the run's
log folder (``logs/<csv version>/summary.txt``). The closing hint is checked
against the run as it is: ``convrnn test RUN`` only when the run has a checkpoint
to score and its test split loads; otherwise the command that does work
(``--resume``, ``--checkpoint last``, ``--split val``) and how to add a test split.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from convrnn import config as config_lib
from convrnn.data.advice import dataset_advice
from convrnn.errors import ConvrnnError
from convrnn.runs import read_config, read_normalizer
from convrnn.train.data import load_split
from convrnn.train.module import sampling_kind, sampling_options
from convrnn.train.rundir import BEST, CHECKPOINTS, checkpoint_iteration, last_checkpoint


def split_lines(split: str, dataset: Any) -> list[str]:
    """A split's summary lines (the dataset's own ``summary()`` where it has one)."""
    if hasattr(dataset, "summary"):
        return list(dataset.summary())
    return [f"{split}: {len(dataset)} sequences"]


def try_split(cfg: dict[str, Any], datamodule: Any, split: str) -> tuple[Any, str | None]:
    """The split's dataset, or ``(None, why)`` when the test split cannot be built (no test file).

    A training or validation split that cannot be built raises here, before the first step.
    The test split is built as ``convrnn test`` builds it and not kept: training never reads it.
    """
    if split != "test":
        return datamodule.split(split), None
    try:
        return load_split(cfg, split, datamodule.normalizer()), None
    except ConvrnnError as e:
        return None, str(e)


def start_summary(
    cfg: dict[str, Any], datamodule: Any, threads: Any, precision: str | None = None
) -> list[str]:
    """The lines ``train`` prints first: data, windows per split, normalisation, schedule, threads.

    ``precision``: the line that names the precision the run trains in (``auto`` resolved).
    """
    data, train = cfg["data"], cfg["train"]
    root = data["root"] if data["root"] is not None else "the default data folder"
    lines = [
        f"data: {data['name']} at {root}, {data['input_length']} -> {data['output_length']} frames"
    ]
    shown: set[str] = set()
    for split in ("train", "val", "test"):
        dataset, why = try_split(cfg, datamodule, split)
        if dataset is None:
            lines.append(f"  {split}: not available ({why})")
            continue
        for line in split_lines(split, dataset):
            if line not in shown:
                lines.append(f"  {line}")
                shown.add(line)
    advice = dataset_advice(datamodule.split("train"))
    if advice:
        lines.append(f"  {advice}")
    every, steps = config_lib.val_every(cfg), train["max_steps"]
    options = sampling_options(cfg)
    lines.append(
        f"training: {steps} iterations of {train['batch_size']} sequences, validation every "
        f"{every}, teacher forcing {train['sampling']} ({sampling_kind(cfg)}"
        + (f" {options})" if options else ")")
    )
    if train["val_every"] is not None and every >= steps > 1:
        lines.append(
            f"  validation only at the end (train.val_every = {every} >= max_steps = {steps}): "
            "best.ckpt will be the last state; leave val_every unset to validate 5 times"
        )
    lines.append(f"threads: {threads}")
    if precision is not None:
        lines.append(precision)
    return lines


def _quoted(run_dir: Path) -> str:
    return shlex.quote(str(run_dir))


def closing_hint(run_dir: str | Path) -> str:
    """The ``next:`` line(s) after ``train``: a command that works for this run as it is now."""
    run_dir = Path(run_dir)
    cfg = read_config(run_dir)
    last = last_checkpoint(run_dir)
    if not last.exists():
        return "next: nothing to score yet (no checkpoint was written)"
    iteration = checkpoint_iteration(last)
    q = _quoted(run_dir)
    if iteration < cfg["train"]["max_steps"]:
        return (
            f"next: convrnn train --out {q} --resume  (continues from iteration {iteration} to "
            f"{cfg['train']['max_steps']}); to score it now: convrnn test {q} --checkpoint last"
        )
    checkpoint = "" if (run_dir / CHECKPOINTS / BEST).exists() else " --checkpoint last"
    try:
        load_split(cfg, "test", read_normalizer(run_dir))
    except ConvrnnError as e:
        return (
            f"next: this run has no test split ({e}). Add one (for your own arrays: a test.* file "
            "or test/ folder next to train.*, or splits=/split_at= that leave frames or series "
            f"for test) and run convrnn test {q}{checkpoint}; meanwhile score the validation "
            f"split: convrnn test {q}{checkpoint} --split val"
        )
    return f"next: convrnn test {q}{checkpoint}"
