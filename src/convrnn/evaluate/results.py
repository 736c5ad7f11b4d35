"""The result files of ``convrnn test``: ``metrics[_<split>].json`` and ``metrics_per_frame[_<split>].csv``."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from convrnn.io import write_text_atomic
from convrnn.metrics.frames import json_ready

NON_FINITE_NOTE = (
    "null marks a value that is not a finite number (standard JSON has no inf/NaN); the keys are "
    "listed here with what they were. PSNR is +inf for a frame whose 8-bit prediction equals the "
    "truth (per-image PSNR, the papers' definition), and so is any mean over such frames."
)


def result_files(run_dir: str | Path, split: str) -> tuple[Path, Path]:
    """``(metrics JSON, per-frame CSV)`` of a split: ``metrics.json`` / ``metrics_per_frame.csv`` for
    test, ``metrics_<split>.json`` / ``metrics_per_frame_<split>.csv`` for the others."""
    suffix = "" if split == "test" else f"_{split}"
    run_dir = Path(run_dir)
    return run_dir / f"metrics{suffix}.json", run_dir / f"metrics_per_frame{suffix}.csv"


def write_per_frame_csv(
    path: Path, results: dict[str, dict[str, Any]], extra: dict[str, list[Any]] | None = None
) -> None:
    """One row per frame, one column per forecaster and ``*_per_frame`` metric (``model_mse`` ...).

    ``extra`` adds columns after ``frame`` (e.g. the lead time and scores in physical units).
    """
    names = list(results)
    metrics = [
        k[: -len("_per_frame")]
        for k in results[names[0]]
        if k.endswith("_per_frame") and isinstance(results[names[0]][k], list)
    ]
    frames = len(results[names[0]][f"{metrics[0]}_per_frame"])
    extra = extra or {}
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(["frame", *extra] + [f"{n}_{m}" for n in names for m in metrics])
    for i in range(frames):
        writer.writerow(
            [i + 1, *(column[i] for column in extra.values())]
            + [results[n][f"{m}_per_frame"][i] for n in names for m in metrics]
        )
    write_text_atomic(path, text.getvalue())


def write_report(path: Path, report: dict[str, Any]) -> dict[str, str]:
    """Write ``report`` as standard JSON (non-finite values as null, listed under ``non_finite``).

    Returns the non-finite keys, ``{dotted key: "inf" / "-inf" / "nan"}``.
    """
    written, non_finite = json_ready(report)
    if non_finite:
        written["non_finite"] = non_finite
        written["non_finite_note"] = NON_FINITE_NOTE
    write_text_atomic(path, json.dumps(written, indent=2, allow_nan=False))
    return non_finite
