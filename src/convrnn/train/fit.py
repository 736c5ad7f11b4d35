"""Training into a run directory (see :mod:`convrnn.runs`), and resuming it; only rank 0 writes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

from convrnn import config as config_lib
from convrnn.io import write_text_atomic
from convrnn.runs import CONFIG_FILE, MODEL_FILE, NORMALIZER_FILE
from convrnn.train.checkpoint_io import AtomicCheckpointIO
from convrnn.train.datamodule import SequenceDataModule
from convrnn.train.module import ForecastModule, model_kwargs


class RunFiles(pl.Callback):
    """Writes the run's config files once (rank 0) and its checkpoints: ``last`` and ``best``.

    ``last.ckpt`` every ``every`` iterations and at the end; ``best.ckpt`` whenever
    ``val/mse`` improves (validation split, never test). Both are written
    atomically; when a validation falls on a checkpoint iteration, ``last`` is
    written after it, so it records the updated best score.
    """

    def __init__(
        self, run_dir: Path, cfg: dict[str, Any], build: dict[str, Any], normalizer: Any = None
    ) -> None:
        self.run_dir = run_dir
        self.cfg = cfg
        self.build = build
        self.normalizer = normalizer
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

    def _validates_at(self, iteration: int) -> bool:
        train = self.cfg["train"]
        return iteration % train["val_every"] == 0 or iteration >= config_lib.stop_iteration(
            self.cfg
        )

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any, idx: int
    ) -> None:
        it = pl_module.iteration
        if it % self.cfg["train"]["checkpoint_every"] == 0 and not self._validates_at(it):
            self._save_last(trainer, pl_module)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        if trainer.sanity_checking:
            return
        it = pl_module.iteration
        score = trainer.callback_metrics.get("val/mse")
        # the validation forced by train.stop_after is logged but never picks "best": a run
        # stopped and resumed then chooses exactly the checkpoint an uninterrupted run chooses
        scheduled = it % self.cfg["train"]["val_every"] == 0 or it >= self.cfg["train"]["max_steps"]
        if scheduled and score is not None and (self.best is None or float(score) < self.best):
            self.best = float(score)
            trainer.save_checkpoint(self.checkpoints / "best.ckpt", weights_only=False)
        if it % self.cfg["train"]["checkpoint_every"] == 0 or it >= config_lib.stop_iteration(
            self.cfg
        ):
            self._save_last(trainer, pl_module)

    def _save_last(self, trainer: pl.Trainer, pl_module: Any) -> None:
        trainer.save_checkpoint(self.checkpoints / "last.ckpt", weights_only=False)
        pl_module.checkpointed_iteration = pl_module.iteration  # named by the non-finite guard

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = state_dict.get("best")


def _build_for(cfg: dict[str, Any], datamodule: SequenceDataModule) -> dict[str, Any]:
    sample = datamodule.split("train")[0]
    return model_kwargs(cfg, int(sample.shape[1]), (int(sample.shape[2]), int(sample.shape[3])))


def _fresh_version(logs: Path, name: str) -> str:
    """``name``, or ``name.1``, ``name.2``... so that a resumed run never overwrites earlier CSV logs."""
    if not (logs / name).exists():
        return name
    n = 1
    while (logs / f"{name}.{n}").exists():
        n += 1
    return f"{name}.{n}"


def _trainer(cfg: dict[str, Any], run_dir: Path, callbacks: list[pl.Callback]) -> pl.Trainer:
    from lightning.pytorch.callbacks import TQDMProgressBar
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    train = cfg["train"]
    devices, num_nodes = train["devices"], train["num_nodes"]
    accelerator = train["accelerator"]
    if accelerator == "auto":
        accelerator = "gpu" if torch.cuda.is_available() else "cpu"
    if accelerator == "cpu" and devices > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // devices))
    progress = [TQDMProgressBar(refresh_rate=10)] if train["progress_bar"] else []
    return pl.Trainer(
        accelerator=accelerator,
        devices=devices,
        num_nodes=num_nodes,  # Lightning checks devices x num_nodes against the launcher's world size
        strategy="ddp" if devices * num_nodes > 1 else "auto",
        precision=train["precision"],
        max_epochs=-1,
        max_steps=-1,
        val_check_interval=train["val_every"],
        check_val_every_n_epoch=None,
        limit_val_batches=train["val_batches"] or 1.0,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,
        enable_checkpointing=False,
        enable_progress_bar=train["progress_bar"],
        enable_model_summary=False,
        logger=[
            CSVLogger(run_dir, name="logs", version=_fresh_version(run_dir / "logs", "csv")),
            TensorBoardLogger(run_dir, name="logs", version="tensorboard", default_hp_metric=False),
        ],
        callbacks=[*progress, *callbacks],
        plugins=[AtomicCheckpointIO()],
        deterministic=False,
        log_every_n_steps=min(50, train["val_every"]),
    )


def train(cfg: dict[str, Any], run_dir: str | Path, resume: bool = False) -> Path:
    """Train ``cfg`` into ``run_dir`` (or continue it from ``last.ckpt`` with ``resume``); returns ``run_dir``."""
    run_dir = Path(run_dir)
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    if resume and not ckpt.exists():
        raise FileNotFoundError(
            f"cannot resume: {ckpt} does not exist (train without --resume first)"
        )
    if not resume and ckpt.exists():
        raise FileExistsError(
            f"{run_dir} already holds a run; pass --resume to continue it or choose another --out"
        )
    pl.seed_everything(cfg["train"]["seed"], workers=True, verbose=False)
    datamodule = SequenceDataModule(cfg)
    build = _build_for(cfg, datamodule)
    module = ForecastModule(cfg, build)
    files = RunFiles(run_dir, cfg, build, datamodule.normalizer())
    trainer = _trainer(cfg, run_dir, [files])
    trainer.fit(
        module, datamodule=datamodule, ckpt_path=ckpt if resume else None, weights_only=True
    )
    return run_dir
