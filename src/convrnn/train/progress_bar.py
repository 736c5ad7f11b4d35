"""The training bar: iterations out of the known total, with an ETA, on stderr, without ``v_num``.

Training draws from an endless shuffled stream (one Lightning "epoch" of unknown
length), so Lightning's own bar shows ``10/?`` and no ETA; this one counts the
run's iterations up to the iteration this invocation stops at
(``train.max_steps``, or ``train.stop_after``), from the resumed iteration on.
"""

from __future__ import annotations

import sys
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm, convert_inf


class StepProgressBar(TQDMProgressBar):
    """``train  37%|███▋      | 370/1000 [01:10<02:00, 5.2it/s, train/loss=512, val/mse=98.1]``."""

    def __init__(self, total: int) -> None:
        super().__init__(refresh_rate=1)
        self.total = total

    def _tqdm(self, desc: str, leave: bool, position: int = 0, **kwargs: Any) -> Tqdm:
        return Tqdm(
            desc=desc,
            position=position,
            disable=self.is_disabled,
            leave=leave,
            dynamic_ncols=True,
            file=sys.stderr,
            bar_format=self.BAR_FORMAT,
            **kwargs,
        )

    def init_train_tqdm(self) -> Tqdm:
        return self._tqdm("train", leave=True, total=self.total, unit="step", smoothing=0.05)

    def init_validation_tqdm(self) -> Tqdm:
        total = self.total_val_batches  # known here (Lightning sets it at the first batch)
        return self._tqdm("validate", leave=False, position=1, total=convert_inf(total))

    def init_sanity_tqdm(self) -> Tqdm:
        return self._tqdm("sanity check", leave=False)

    def on_validation_batch_start(
        self,
        trainer: pl.Trainer,
        pl_module: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        super().on_validation_batch_start(trainer, pl_module, batch, batch_idx, dataloader_idx)
        if batch_idx == 0:  # Lightning names it "Validation DataLoader 0": there is one loader
            self.val_progress_bar.set_description("validate", refresh=False)

    def _start_at_iteration(self, trainer: pl.Trainer) -> None:
        """The bar starts at the run's iteration (a resumed run's), its rate counts from there."""
        bar = self.train_progress_bar
        bar.reset(total=self.total)
        bar.initial = bar.n = int(getattr(trainer.lightning_module, "iteration", 0))
        bar.refresh()

    def on_train_start(self, trainer: pl.Trainer, *_: Any) -> None:
        super().on_train_start()
        self._start_at_iteration(trainer)  # a resumed run continues its epoch: no epoch start

    def on_train_epoch_start(self, trainer: pl.Trainer, *_: Any) -> None:
        self._start_at_iteration(
            trainer
        )  # (Lightning's would set the total to the unknown epoch's)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        bar = self.train_progress_bar
        if bar is not None and self.is_enabled:
            bar.n = int(pl_module.iteration)
            bar.set_postfix(self.get_metrics(trainer, pl_module))  # also redraws the bar

    def get_metrics(self, trainer: pl.Trainer, pl_module: Any) -> dict[str, Any]:
        """The progress-bar metrics without ``v_num`` (the logger's version, here "tensorboard")."""
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        return items
