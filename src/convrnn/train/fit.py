"""Training into a run directory (see :mod:`convrnn.runs`), and resuming it; only rank 0 writes."""

from __future__ import annotations

import errno
import json
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

from convrnn import config as config_lib
from convrnn import progress as progress_lib
from convrnn.errors import ConvrnnError, TrainingInterrupted
from convrnn.hardware import describe, resolve_precision
from convrnn.io import output_error, write_text_atomic
from convrnn.runs import CONFIG_FILE, DATA_FILE, MODEL_FILE, NORMALIZER_FILE
from convrnn.threads import apply_threads, processes_on_node
from convrnn.train.checkpoint_io import AtomicCheckpointIO
from convrnn.train.datamodule import SequenceDataModule
from convrnn.train.lock import RunLock, is_rank_zero
from convrnn.train.module import (
    ForecastModule,
    first_rain_pixel,
    loss_thresholds,
    model_kwargs,
)
from convrnn.train.rundir import (
    check_output_folder,
    checkpoint_iteration,
    last_checkpoint,
    nothing_to_do,
    remove_stale_temporaries,
    resume_command,
)
from convrnn.train.signals import SignalStop
from convrnn.train.summary import start_summary


class RunFiles(pl.Callback):
    """Writes the run's config files once (rank 0) and its checkpoints: ``last`` and ``best``.

    ``last.ckpt`` every ``every`` iterations and at the end; ``best.ckpt`` whenever
    ``val/mse`` improves (validation split, never test). Both are written
    atomically; when a validation falls on a checkpoint iteration, ``last`` is
    written after it, so it records the updated best score.
    """

    def __init__(
        self,
        run_dir: Path,
        cfg: dict[str, Any],
        build: dict[str, Any],
        normalizer: Any = None,
        info: Any = None,
    ) -> None:
        self.run_dir = run_dir
        self.cfg = cfg
        self.build = build
        self.normalizer = normalizer
        self.info = info  # the training data's DatasetInfo (interval, frame size, radar)
        self.best: float | None = None

    @property
    def checkpoints(self) -> Path:
        return self.run_dir / "checkpoints"

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if trainer.is_global_zero:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.run_dir / CONFIG_FILE, config_lib.dump(self.cfg))
            write_text_atomic(self.run_dir / MODEL_FILE, json.dumps(self.build, indent=2))
            if self.normalizer is not None:
                text = json.dumps(self.normalizer.to_dict(), indent=2)
                write_text_atomic(self.run_dir / NORMALIZER_FILE, text)
            if self.info is not None:
                text = json.dumps(self.info.to_dict(), indent=2, default=str)
                write_text_atomic(self.run_dir / DATA_FILE, text)

    def validates_at(self, iteration: int) -> bool:
        """Whether a validation follows ``iteration`` (scheduled, or the last of this invocation)."""
        every = config_lib.val_every(self.cfg)
        return iteration % every == 0 or iteration >= config_lib.stop_iteration(self.cfg)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any, idx: int
    ) -> None:
        it = pl_module.iteration
        if it % self.cfg["train"]["checkpoint_every"] == 0 and not self.validates_at(it):
            self.save_last(trainer, pl_module)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        if trainer.sanity_checking:
            return
        it = pl_module.iteration
        score = trainer.callback_metrics.get("val/mse")
        # the validation forced by train.stop_after is logged but never picks "best": a run
        # stopped and resumed then chooses exactly the checkpoint an uninterrupted run chooses
        scheduled = it % config_lib.val_every(self.cfg) == 0 or it >= self.cfg["train"]["max_steps"]
        if scheduled and score is not None and (self.best is None or float(score) < self.best):
            self.best = float(score)
            trainer.save_checkpoint(self.checkpoints / "best.ckpt", weights_only=False)
        if it % self.cfg["train"]["checkpoint_every"] == 0 or it >= config_lib.stop_iteration(
            self.cfg
        ):
            self.save_last(trainer, pl_module)

    def save_last(self, trainer: pl.Trainer, pl_module: Any) -> None:
        """Write ``last.ckpt`` (atomically, on rank 0) at the current iteration."""
        trainer.save_checkpoint(self.checkpoints / "last.ckpt", weights_only=False)
        pl_module.checkpointed_iteration = pl_module.iteration  # named by the non-finite guard

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = state_dict.get("best")


def _build_for(cfg: dict[str, Any], datamodule: SequenceDataModule) -> dict[str, Any]:
    train = datamodule.split("train")
    sample = train[0]
    size = (int(sample.shape[2]), int(sample.shape[3]))
    return model_kwargs(cfg, int(sample.shape[1]), size, getattr(train, "target_channels", None))


def _fresh_version(logs: Path, name: str) -> str:
    """``name``, or ``name.1``, ``name.2``... so that a resumed run never overwrites earlier CSV logs."""
    if not (logs / name).exists():
        return name
    n = 1
    while (logs / f"{name}.{n}").exists():
        n += 1
    return f"{name}.{n}"


def _accelerator(cfg: dict[str, Any]) -> str:
    """``train.accelerator``, with ``auto`` resolved: gpu where CUDA is available, else cpu."""
    accelerator = cfg["train"]["accelerator"]
    if accelerator == "auto":
        accelerator = "gpu" if torch.cuda.is_available() else "cpu"
    return accelerator


def run_precision(cfg: dict[str, Any], warn: bool = False) -> str:
    """The precision the run trains in: ``train.precision`` with ``auto`` resolved for the device.

    With ``warn``, an explicit bf16 precision on a CPU that emulates bf16 prints a warning.
    """
    precision, warning = resolve_precision(cfg["train"]["precision"], _accelerator(cfg))
    if warn and warning:
        print(f"convrnn train: warning: {warning}", file=sys.stderr, flush=True)
    return precision


def _trainer(cfg: dict[str, Any], run_dir: Path, callbacks: list[pl.Callback]) -> pl.Trainer:
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    from convrnn.train.progress_bar import StepProgressBar

    train = cfg["train"]
    devices, num_nodes = train["devices"], train["num_nodes"]
    accelerator = _accelerator(cfg)
    show = train["progress_bar"] and progress_lib.enabled()  # on a terminal, not --quiet
    progress = [StepProgressBar(config_lib.stop_iteration(cfg))] if show else []
    return pl.Trainer(
        accelerator=accelerator,
        devices=devices,
        num_nodes=num_nodes,  # Lightning checks devices x num_nodes against the launcher's world size
        strategy="ddp" if devices * num_nodes > 1 else "auto",
        precision=run_precision(cfg, warn=is_rank_zero()),
        max_epochs=-1,
        max_steps=-1,
        val_check_interval=config_lib.val_every(cfg),
        check_val_every_n_epoch=None,
        limit_val_batches=train["val_batches"] or 1.0,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,
        enable_checkpointing=False,
        enable_progress_bar=show,
        enable_model_summary=False,
        logger=[
            CSVLogger(run_dir, name="logs", version=_fresh_version(run_dir / "logs", "csv")),
            TensorBoardLogger(run_dir, name="logs", version="tensorboard", default_hp_metric=False),
        ],
        callbacks=[*progress, *callbacks],
        plugins=[AtomicCheckpointIO()],
        deterministic=False,
        log_every_n_steps=min(50, config_lib.val_every(cfg)),
    )


class StartSummary(pl.Callback):
    """Keeps the start summary in the run's CSV log folder (``logs/<version>/summary.txt``, rank 0)."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero:  # after the loggers made their folders
            log_dir = Path(trainer.loggers[0].log_dir)
            log_dir.mkdir(parents=True, exist_ok=True)
            write_text_atomic(log_dir / "summary.txt", "\n".join(self.lines) + "\n")


def _kept(run_dir: Path, iteration: int | None) -> str:
    if iteration is None:
        return "no checkpoint was written yet"
    return (
        f"{last_checkpoint(run_dir)} of iteration {iteration} is intact; once fixed, continue with: "
        f"{resume_command(run_dir)}"
    )


@contextmanager
def _output_errors(run_dir: Path, kept: Any) -> Iterator[None]:
    """Disk full / permission errors of the run's files as :class:`OutputError` (naming the kept checkpoint)."""
    try:
        yield
    except OSError as e:
        converted = output_error(e, run_dir, "choose another --out", f"; {kept()}")
        if converted is None:
            raise
        where = Path(converted.filename or run_dir).resolve()
        ours = where == run_dir.resolve() or run_dir.resolve() in where.parents
        if not ours and e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise  # a file that is not the run's (the data): not a matter of --out
        raise converted from e


def train(
    cfg: dict[str, Any], run_dir: str | Path, resume: bool = False, overwrite: bool = False
) -> Path:
    """Train ``cfg`` into ``run_dir`` (or continue it from ``last.ckpt`` with ``resume``); returns ``run_dir``.

    One training per run (:class:`~convrnn.train.lock.RunLock`); a non-empty folder that is not
    a run is refused unless ``overwrite`` (see :mod:`convrnn.train.rundir`); resuming a finished
    run writes nothing; SIGTERM/SIGINT save ``last.ckpt`` and raise ``TrainingInterrupted``.
    """
    run_dir = Path(run_dir)
    ckpt = last_checkpoint(run_dir)
    rank_zero = is_rank_zero()
    start = None
    if resume:
        if not ckpt.exists():
            raise FileNotFoundError(
                f"cannot resume: {ckpt} does not exist (train without --resume first)"
            )
        start = checkpoint_iteration(ckpt)
        done = nothing_to_do(run_dir, cfg, start)
        if done is not None:
            if rank_zero:
                print(done)
            return run_dir
    elif rank_zero:
        check_output_folder(run_dir, overwrite)
    state: dict[str, Any] = {"module": None}

    def kept() -> str:
        module = state["module"]
        return _kept(run_dir, module.checkpointed_iteration if module is not None else start)

    created = rank_zero and not resume and not run_dir.exists()
    try:
        return _train_locked(cfg, run_dir, resume, ckpt, start, rank_zero, kept, state)
    except TrainingInterrupted:
        raise
    except ConvrnnError:
        # a mistake found before the first checkpoint (a bad data option, a missing file) leaves
        # no half-made run behind: the folder this call created goes again
        if created and not ckpt.exists() and run_dir.exists():
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def _train_locked(
    cfg: dict[str, Any],
    run_dir: Path,
    resume: bool,
    ckpt: Path,
    start: int | None,
    rank_zero: bool,
    kept: Any,
    state: dict[str, Any],
) -> Path:
    """The body of :func:`train` under the run lock, the signal handlers and the error mapping."""
    # DDP workers Lightning starts for --devices N re-run train(): only rank 0 holds the lock
    lock = RunLock(run_dir) if rank_zero else nullcontext()
    with _output_errors(run_dir, kept), lock, SignalStop(run_dir, cfg, start) as stop:
        if not resume and ckpt.exists():  # (again: another training may have ended meanwhile)
            raise FileExistsError(
                f"{run_dir} already holds a run; pass --resume to continue it or choose another --out"
            )
        if rank_zero:
            remove_stale_temporaries(run_dir)
        threads = apply_threads(cfg["train"]["threads"], processes_on_node(cfg["train"]["devices"]))
        pl.seed_everything(cfg["train"]["seed"], workers=True, verbose=False)
        datamodule = SequenceDataModule(cfg)
        build = _build_for(cfg, datamodule)
        info = getattr(datamodule.split("train"), "info", None)
        radar = getattr(info, "radar", None)
        module = ForecastModule(cfg, build, loss_thresholds(cfg, radar), first_rain_pixel(radar))
        state["module"] = module
        stop.files = files = RunFiles(run_dir, cfg, build, datamodule.normalizer(), info)
        precision = describe(cfg["train"]["precision"], run_precision(cfg), _accelerator(cfg))
        summary = start_summary(cfg, datamodule, threads, precision) if rank_zero else []
        if rank_zero:
            print("\n".join(summary), flush=True)
        trainer = _trainer(cfg, run_dir, [files, stop, StartSummary(summary)])
        trainer.fit(
            module, datamodule=datamodule, ckpt_path=ckpt if resume else None, weights_only=True
        )
    return run_dir
