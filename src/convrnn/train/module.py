"""The LightningModule around any registry model: losses, sampling schedules, optimisers, validation."""

from __future__ import annotations

import sys
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor
from torchmetrics import MeanMetric

from convrnn.cells.registry import get_entry
from convrnn.config import BALANCED_LOSSES, stop_iteration
from convrnn.data.coverage import split_coverage, window_coverage
from convrnn.errors import ConfigError, NonFiniteLossError
from convrnn.metrics import FrameMetrics
from convrnn.metrics.nowcast import HKO7_THRESHOLDS
from convrnn.models.factory import build_model
from convrnn.models.forecaster import Forecaster
from convrnn.train.losses import frame_loss
from convrnn.train.sampling import AUTO_OPTIONS, SamplingSchedule
from convrnn.units import rain_to_pixel


def sampling_kind(cfg: dict[str, Any]) -> str:
    """The configured schedule, with ``auto``/``paper`` resolved to the model's default (else ``linear``)."""
    kind = cfg["train"]["sampling"]
    if kind in ("auto", "paper"):
        kind = get_entry(cfg["model"]["name"]).training.get("sampling", "linear")
    return kind


def sampling_options(cfg: dict[str, Any]) -> dict[str, Any]:
    """``train.sampling_options``, on top of what ``auto`` sets for short runs (``AUTO_OPTIONS``)."""
    options = dict(cfg["train"]["sampling_options"])
    if cfg["train"]["sampling"] == "auto":
        options = {**AUTO_OPTIONS.get(sampling_kind(cfg), {}), **options}
    return options


def model_kwargs(
    cfg: dict[str, Any],
    in_channels: int,
    image_size: tuple[int, int],
    target_channels: list[int] | None = None,
) -> dict[str, Any]:
    """``build_model`` keywords of a config for frames of ``in_channels`` x ``image_size``."""
    options = dict(cfg["model"]["options"])
    options.setdefault("in_channels", in_channels)
    if target_channels is not None:  # the dataset's targets (data.options.target_channels)
        options.setdefault("target_channels", list(target_channels))
    options.setdefault("image_size", list(image_size))
    if cfg["train"]["compile"]:
        options["compile"] = True
    return {"name": cfg["model"]["name"], "preset": cfg["model"]["preset"], **options}


def first_rain_pixel(radar: Any) -> float | None:
    """The dataset's first verification threshold (mm/h) in pixels; None for non-radar data."""
    return None if radar is None else radar.pixel_thresholds()[0]


def loss_thresholds(cfg: dict[str, Any], radar: Any) -> list[float] | None:
    """The HKO-7 rain thresholds in the data's pixels for a balanced loss (None for other losses).

    ``radar`` is the dataset's :class:`~convrnn.data.info.RadarSpec` (``info.radar``):
    its Z-R law turns 0.5, 2, 5, 10, 30 mm/h into the normalised pixels the loss sees.
    """
    loss = cfg["train"]["loss"]
    if loss not in BALANCED_LOSSES:
        return None
    if radar is None:
        raise ConfigError(
            f"train.loss={loss} weights pixels by their rain rate, but {cfg['data']['name']!r} "
            "with these options is not radar data; for rain rates (mm/h) set "
            "data.options.normalize=rain, for reflectivity (dBZ) normalize=dbz, or use "
            "train.loss=l1+l2"
        )
    return [float(rain_to_pixel(t, radar.law)) for t in HKO7_THRESHOLDS]


class ForecastModule(pl.LightningModule):
    """Trains a :class:`Forecaster` with the papers' recipes (see ``convrnn.config.DEFAULTS``).

    ``pixel_thresholds``: the balanced losses' rain thresholds in normalised pixels
    (:func:`loss_thresholds`); needed only for ``b-mse``/``b-mae``. ``rain_pixel``:
    the data's first rain threshold in pixels (radar data); after a validation where
    the truth reaches it and no forecast pixel does, a warning says so.
    """

    def __init__(
        self,
        config: dict[str, Any],
        build: dict[str, Any],
        pixel_thresholds: list[float] | None = None,
        rain_pixel: float | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(
            {
                "config": config,
                "build": build,
                "pixel_thresholds": pixel_thresholds,
                "rain_pixel": rain_pixel,
            }
        )
        self.cfg = config
        self.pixel_thresholds = pixel_thresholds
        self.rain_pixel = rain_pixel
        self._rain_seen = torch.zeros(2)  # validation: (truth reached rain_pixel, forecast did)
        self.model: Forecaster = build_model(**build)
        self.automatic_optimization = False
        train = config["train"]
        self.schedule = SamplingSchedule(
            sampling_kind(config), train["max_steps"], train["seed"], **sampling_options(config)
        )
        self.iteration = 0  # completed training iterations (batches), saved in checkpoints
        self.checkpointed_iteration: int | None = None  # iteration of the newest last.ckpt, if any
        self.input_length = config["data"]["input_length"]
        # validation scores: torchmetrics reduces sums and counts across processes, so they are
        # exact whatever the number of processes (each sequence is seen once, shards unpadded);
        # a NaN score stays NaN (never a mean of the finite part). MSE/MAE are the library's
        # one computation (FrameMetrics, as `convrnn test`), without the slow PSNR/SSIM.
        self.val_loss = MeanMetric(nan_strategy="disable")
        self.val_frames = FrameMetrics(ssim=False, psnr=False)

    # -- optimisation ---------------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        train = self.cfg["train"]
        kwargs: dict[str, Any] = {"lr": train["lr"], "betas": tuple(train["betas"])}
        if train["weight_decay"] is not None:
            kwargs["weight_decay"] = train["weight_decay"]
        opt_cls = torch.optim.AdamW if train["optimizer"] == "adamw" else torch.optim.Adam
        optimizer = opt_cls(self.model.parameters(), **kwargs)
        steps = train["max_steps"]
        if train["lr_schedule"] == "cosine":
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(
                optimizer, T_max=steps, eta_min=train["min_lr"]
            )
        elif train["lr_schedule"] == "onecycle":
            sched = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=train["lr"], total_steps=steps
            )
        else:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def sequence_loss(self, preds: Tensor, frames: Tensor, seen: Tensor | None = None) -> Tensor:
        """The configured loss between predictions of frames 1..T-1 and the truth.

        ``seen`` (True = observed, the shape of ``frames``) leaves unobserved pixels out.
        """
        train = self.cfg["train"]
        first = self.input_length if train["loss_frames"] == "future" else 1
        preds = preds[:, first - 1 :]
        mask = None if seen is None else self.model.targets_of(seen[:, first:])
        target = self.model.targets_of(frames[:, first:])
        return frame_loss(
            preds,
            target,
            train["loss"],
            train["loss_reduction"],
            mask,
            self.pixel_thresholds,
            train["loss_weight_max"],
        )

    def _kept_checkpoint(self) -> str:
        if self.checkpointed_iteration is None:
            every = self.cfg["train"]["checkpoint_every"]
            return (
                "no checkpoint was written yet (the first is due at iteration "
                f"{min(every, stop_iteration(self.cfg))})"
            )
        return f"checkpoints/last.ckpt of iteration {self.checkpointed_iteration} was kept"

    def _stop_non_finite(self, what: str) -> None:
        raise NonFiniteLossError(
            f"non-finite {what} at training iteration {self.iteration + 1}; training stopped "
            f"before the optimiser step and {self._kept_checkpoint()}. Lower the learning rate, "
            "set train.grad_clip, or check the data for NaN values."
        )

    def _check_finite(self, loss: Tensor) -> None:
        bad = torch.tensor(0.0 if torch.isfinite(loss) else 1.0, device=loss.device)
        if self.trainer is not None and self.trainer.world_size > 1:
            bad = self.trainer.strategy.reduce(bad, reduce_op="max")
        if bad.item() > 0:
            self._stop_non_finite(f"loss ({loss.item()})")

    def _check_finite_gradients(self) -> None:
        """Stop before a step that would write NaN/inf into the weights (one reduction, one sync).

        DDP has already averaged the gradients, so every process sees the same ones and
        stops together. Under ``16-mixed`` the gradient scaler owns this: non-finite
        (scaled) gradients are expected there, and it skips those steps itself.
        """
        if self._trainer is not None and getattr(self.trainer.precision_plugin, "scaler", None):
            return
        grads = [p.grad.detach() for p in self.model.parameters() if p.grad is not None]
        if not grads:
            return
        # the largest |gradient| (max-norm: no squares, so no overflow; NaN propagates)
        largest = torch.stack([torch.linalg.vector_norm(g, ord=float("inf")) for g in grads]).max()
        if not torch.isfinite(largest).item():
            self._stop_non_finite(f"gradient (largest |value| {largest.item()}) with a finite loss")

    def _optimise(self, frames: Tensor) -> Tensor:
        optimizer = self.optimizers()
        frames, seen = split_coverage(frames)
        mask = self.schedule.mask(
            self.iteration, frames.shape[0], self.input_length, frames.shape[1], self.global_rank
        )
        if mask is not None:
            mask = mask.to(frames.device)
        preds, aux = self.model(frames, self.input_length, mask, return_aux=True)
        loss = self.sequence_loss(preds, frames, seen)
        if aux is not None:
            loss = loss + aux
        self._check_finite(loss)
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        self._check_finite_gradients()
        clip = self.cfg["train"]["grad_clip"]
        if clip is not None:
            self.clip_gradients(optimizer, gradient_clip_val=clip, gradient_clip_algorithm="norm")
        optimizer.step()
        return loss.detach()

    def training_step(self, batch: Tensor, batch_idx: int) -> Tensor:
        loss = self._optimise(batch)
        if self.cfg["train"]["reverse_sequence"]:
            loss = 0.5 * (loss + self._optimise(batch.flip(1)))
        scheduler = self.lr_schedulers()
        if scheduler is not None:
            scheduler.step()
        self.iteration += 1
        encoder, decoder = self.schedule.probabilities(self.iteration - 1)
        self.log("train/loss", loss, prog_bar=True, batch_size=batch.shape[0])
        # scheduled sampling's eta: the probability that a forecast step (after the inputs) reads
        # the ground truth instead of its own prediction; reverse sampling also varies the inputs'
        self.log("train/teacher_forcing", decoder, batch_size=batch.shape[0])
        if self.schedule.kind == "reverse":
            self.log("train/teacher_forcing_inputs", encoder, batch_size=batch.shape[0])
        self.log("train/iteration", float(self.iteration), batch_size=batch.shape[0])
        if self.iteration >= stop_iteration(self.cfg):
            self.trainer.should_stop = True  # also triggers the final validation
        return loss

    # -- validation ---------------------------------------------------------------------------
    def validation_step(self, batch: Tensor, batch_idx: int) -> None:
        truth = batch
        batch, seen = split_coverage(batch)
        preds = self.model(batch, self.input_length)
        b = batch.shape[0]
        loss = self.sequence_loss(preds, batch, seen).detach()
        self.val_loss.update(loss.expand(b))  # the batch mean, b times
        self.log("val/loss", self.val_loss, batch_size=b)
        scored = None if seen is None else window_coverage(self.model.targets_of(seen))
        truth = self.model.targets_of(truth[:, self.input_length :])
        self.val_frames.update(preds[:, self.input_length - 1 :], truth, scored)
        if self.rain_pixel is not None:  # NaN (not observed) truth compares False
            future = preds[:, self.input_length - 1 :]
            rain = torch.stack(
                [(truth >= self.rain_pixel).any(), (future >= self.rain_pixel).any()]
            )
            self._rain_seen = torch.maximum(self._rain_seen.to(rain.device), rain.float())
        if batch_idx == 0 and self.trainer.is_global_zero:
            self._log_picture(self.model.targets_of(batch[0]), preds[0])

    def on_validation_epoch_end(self) -> None:
        if not self.val_frames.update_called and self.trainer.world_size == 1:
            return  # no validation batch: nothing to log
        scores = self.val_frames.compute()  # already summed over every process
        self.val_frames.reset()
        self._warn_if_dry()
        for key in ("mse", "mae"):
            # every process holds the same value: "max" over the copies passes it on unchanged
            self.log(
                f"val/{key}", scores[key], prog_bar=key == "mse", sync_dist=True, reduce_fx="max"
            )

    def _warn_if_dry(self) -> None:
        """Say so when the truth rains and no forecast pixel reaches the first rain threshold."""
        if self.rain_pixel is None:
            return
        seen, self._rain_seen = self._rain_seen, torch.zeros(2)
        if self._trainer is not None and self.trainer.world_size > 1:
            seen = self.trainer.strategy.reduce(seen.to(self.device), reduce_op="max")
        truth_rains, forecast_rains = (bool(v) for v in seen.tolist())
        if truth_rains and not forecast_rains and self.trainer.is_global_zero:
            print(
                f"convrnn train: warning: at iteration {self.iteration} no forecast pixel of the "
                "validation split reaches the first rain threshold while the truth does: the "
                "model predicts no rain. Check data.options.normalize (rain or dbz), try "
                "model.options.residual=true or a balanced loss (train.loss=b-mse), or train longer",
                file=sys.stderr,
            )

    def _log_picture(self, frames: Tensor, preds: Tensor) -> None:
        from lightning.pytorch.loggers import TensorBoardLogger

        from convrnn.viz import comparison_grid

        strip = comparison_grid(
            frames[: self.input_length], frames[self.input_length :], preds[self.input_length - 1 :]
        )
        for logger in self.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image("val/sequence", strip.float().cpu(), self.iteration)

    # -- checkpoint state ---------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["convrnn"] = {
            "iteration": self.iteration,
            "sampling": self.schedule.state_dict(),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("convrnn", {})
        self.iteration = int(state.get("iteration", 0))
        self.checkpointed_iteration = self.iteration  # a resumed run starts from last.ckpt
        if "sampling" in state:
            self.schedule = SamplingSchedule.from_state_dict(state["sampling"])
