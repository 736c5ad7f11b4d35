"""Preemption-safe stops: SIGTERM / SIGINT save ``last.ckpt`` at an iteration boundary and exit non-zero.

During the training loop a signal only sets a flag. After the current iteration
(and its scheduled validation, so that ``best.ckpt`` and ``last.ckpt`` record
exactly what an uninterrupted run records) every process agrees on the flag,
rank 0 writes ``last.ckpt`` and the training raises :class:`TrainingInterrupted`
(exit status 128 + signal: 143 for SIGTERM, 130 for SIGINT). ``--resume`` then
continues exactly. A validation in progress is finished first (send the signal
again to stop without it). Before the loop starts, or at a second signal, the training
stops at once and keeps the checkpoint it had. Lightning's own SIGTERM handler
(which ends ``fit`` with status 0 and no checkpoint) is replaced while training.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import lightning.pytorch as pl
import torch

from convrnn.config import stop_iteration
from convrnn.errors import TrainingInterrupted
from convrnn.train.rundir import BEST, CHECKPOINTS, last_checkpoint, resume_command

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class SignalStop(pl.Callback):
    """Installs the SIGTERM/SIGINT handlers for a ``with`` block and stops training at the next boundary.

    ``files`` (set before ``fit``) writes the checkpoints: ``files.save_last(trainer,
    module)`` and ``files.validates_at(iteration)``. ``start`` is the iteration of the
    ``last.ckpt`` a resumed run starts from.
    """

    def __init__(self, run_dir: Path, cfg: dict[str, Any], start: int | None = None) -> None:
        self.run_dir = run_dir
        self.cfg = cfg
        self.start = start
        self.files: Any = None
        self.received: int | None = None
        self.phase = "setup"  # setup -> training -> done
        self.pending = 0  # the signal to stop at after this iteration's validation
        self.previous: dict[int, Any] = {}
        self.trainer: pl.Trainer | None = None
        self.module: Any = None

    # -- handlers -------------------------------------------------------------------------------
    def __enter__(self) -> SignalStop:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                current = signal.getsignal(signum)
                if current is signal.SIG_IGN:  # e.g. SIGINT of a background job: stay deaf to it
                    continue
                self.previous[signum] = current
                signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self.previous = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.phase == "done":  # the run has reached its end: let it finish normally
            return
        again = self.received is not None
        self.received = self.received or signum
        if self.phase == "setup" or again:
            self._kill_workers()
            raise self._interrupted(signum, at_once=True)
        if self._rank() == 0:  # os.write: print() may be interrupted mid-write of the same stream
            name = signal.Signals(signum).name
            os.write(
                2,
                f"\nconvrnn train: {name} received; saving {CHECKPOINTS}/last.ckpt after the current "
                f"iteration (send {name} again to stop at once)\n".encode(),
            )

    def _rank(self) -> int:
        return self.trainer.global_rank if self.trainer is not None else 0

    def _kill_workers(self) -> None:
        """Rank 0 stopping at once takes the DDP workers Lightning started with it (they write nothing)."""
        launcher = getattr(self.trainer.strategy, "launcher", None) if self.trainer else None
        if self._rank() == 0 and hasattr(launcher, "procs"):
            launcher.kill(signal.SIGKILL)

    # -- the message ----------------------------------------------------------------------------
    def _kept(self) -> int | None:
        if self.module is not None and self.module.checkpointed_iteration is not None:
            return self.module.checkpointed_iteration
        return self.start

    def _interrupted(self, signum: int, at_once: bool = False) -> TrainingInterrupted:
        name = signal.Signals(signum).name
        last = last_checkpoint(self.run_dir)
        kept = self._kept()
        max_steps = self.cfg["train"]["max_steps"]
        if at_once:
            where = "before training began" if self.phase == "setup" else "at once"
            head = f"stopped by {name} {where}; "
        else:
            head = f"stopped by {name} at iteration {kept} of {max_steps}; "
        if kept is None:
            text = head + "no checkpoint was written; run the same command again to start over"
        else:
            best = self.run_dir / CHECKPOINTS / BEST
            also = f" ({best} holds the best validation so far)" if best.exists() else ""
            text = (
                f"{head}{last} holds iteration {kept}{also}. Continue with: "
                f"{resume_command(self.run_dir)}"
            )
        return TrainingInterrupted(
            text, name, 128 + signum, kept, str(last) if kept is not None else None, self._rank()
        )

    # -- the stop -------------------------------------------------------------------------------
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.trainer, self.module = trainer, pl_module

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for signum in self.previous:  # Lightning installed its own SIGTERM handler in between
            signal.signal(signum, self._handle)
        self.phase = "training"

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.phase = "done"

    def _agreed(self, trainer: pl.Trainer) -> int:
        """The signal any process received (the largest number), 0 if none: all processes stop together."""
        received = self.received or 0
        if trainer.world_size > 1:
            flag = torch.tensor(float(received), device=trainer.strategy.root_device)
            received = int(trainer.strategy.reduce(flag, reduce_op="max").item())
        return received

    def _finishing(self, pl_module: Any) -> bool:
        return pl_module.iteration >= stop_iteration(self.cfg)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any, idx: int
    ) -> None:
        if self._finishing(pl_module):  # the last iteration: its checkpoint is written anyway
            return
        received = self._agreed(trainer)
        if not received:
            return
        if self.files.validates_at(pl_module.iteration):
            self.pending = received  # the checkpoint must follow the scheduled validation
            return
        self._stop(trainer, pl_module, received)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        if trainer.sanity_checking or self._finishing(pl_module):
            return
        received = self.pending or self._agreed(trainer)
        if received:
            self._stop(trainer, pl_module, received)

    def _stop(self, trainer: pl.Trainer, pl_module: Any, received: int) -> None:
        self.received = self.received or received
        if pl_module.checkpointed_iteration != pl_module.iteration:
            self.files.save_last(trainer, pl_module)
        self.phase = "done"
        raise self._interrupted(received)
