"""The Forecaster: patching, 1x1 embedding, a Stack of cells, a 1x1 head and the autoregressive rollout."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from convrnn.blocks.gate_conv import GateConv
from convrnn.blocks.tracing import exporting
from convrnn.errors import ConfigError, InputError, InputTypeError
from convrnn.models.motion import advect, estimate_motion
from convrnn.models.patching import patch, unpatch
from convrnn.models.targets import check_target_channels
from convrnn.stacks.base import Stack, StackState

EMBEDS = ("conv", "identity")
CHECKPOINTING = ("none", "step")
#: what a residual forecast adds its change to: the frame given, or that frame moved along the motion
ANCHORS = ("persistence", "advection")
#: frame dtypes the model takes (float16/bfloat16 where autocast runs them)
FRAME_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
#: how far outside [0, 1] input values may lie (float rounding of a normalisation)
RANGE_TOLERANCE = 1e-3


class Forecaster(nn.Module):
    """Predicts the next frames of ``(B, T, C, H, W)`` sequences in ``[0, 1]``.

    * ``forecaster(frames, input_length, teacher_mask=None)`` (training) returns
      ``(B, T-1, C, H, W)``: the prediction of frames ``1 .. T-1``. Step ``t``
      reads ``frames[:, t]`` while ``t < input_length`` and its own previous
      prediction after that, unless ``teacher_mask`` (``(B, T-2)``, or
      broadcastable to ``(B, T-2, C, H, W)``; entry ``t-1`` governs the input of
      step ``t``) mixes in the ground truth: ``mask * frame + (1 - mask) * prediction``.
    * ``forecaster.predict(inputs, horizon)`` returns ``(B, horizon, C, H, W)``
      from any ``T_in >= 1`` inputs, without targets and without a graph.

    Options: ``checkpointing="step"`` recomputes each time step in backward
    instead of keeping its activations; ``compile=True`` runs the time step
    through ``torch.compile``; ``channels_last=True`` keeps weights, frames and
    recurrent states in the NHWC memory format (faster convolutions on GPUs
    with tensor cores; see ``benchmarks/README.md`` for its effect on CPUs);
    ``conv_algorithm="auto"`` trains the gate convolutions by Winograd where that is
    measured faster (float32 on CPUs, :mod:`convrnn.blocks.winograd`), ``"direct"``
    always by ``conv2d``.

    ``target_channels`` (input channel indices, default all): the model predicts only
    these channels (``out_channels = len(target_channels)``), e.g. rain from rain plus
    other variables. In the rollout a prediction is fed back into the target channels
    of the next input, and the other channels are held at their last observed values
    (the last input frame): inputs of unknown future are persisted, never invented.

    ``residual=True`` (default False, the papers' behaviour): the head predicts the
    change from the frame the step was given (in the normalised space; of the target
    channels under ``target_channels``); the head starts at zero, so an untrained model
    forecasts exactly persistence, and training only has to learn the change.
    ``anchor="advection"`` (with ``residual=True``) moves that frame one step along the
    motion of the input frames first (:mod:`convrnn.models.motion`, dense Lucas-Kanade
    and semi-Lagrangian advection, no weights): an untrained model is then an
    extrapolation nowcast, and training learns growth, decay and what motion misses.
    """

    def __init__(
        self,
        stack: Stack,
        in_channels: int = 1,
        patch_size: int = 1,
        *,
        embed: str = "conv",
        checkpointing: str = "none",
        compile: bool = False,
        channels_last: bool = False,
        image_size: tuple[int, int] | None = None,
        target_channels: list[int] | tuple[int, ...] | None = None,
        residual: bool = False,
        anchor: str = "persistence",
        conv_algorithm: str = "auto",
    ) -> None:
        super().__init__()
        if embed not in EMBEDS:
            raise ValueError(f"embed={embed!r} is not supported; choose one of {EMBEDS}")
        if checkpointing not in CHECKPOINTING:
            raise ValueError(
                f"checkpointing={checkpointing!r} is not supported; choose one of {CHECKPOINTING}"
            )
        if patch_size < 1:
            raise ValueError(f"patch_size must be >= 1, got {patch_size}")
        if not isinstance(residual, bool):
            raise ConfigError(f"residual={residual!r}: give true or false")
        if anchor not in ANCHORS:
            raise ConfigError(f"anchor={anchor!r} is not one of {', '.join(ANCHORS)}")
        if anchor != "persistence" and not residual:
            raise ConfigError(f"anchor={anchor!r} anchors residual forecasts: set residual=true")
        self.anchor = anchor
        self.stack = stack
        self.residual = residual
        self.in_channels = in_channels
        self.patch_size = patch_size
        self.checkpointing = checkpointing
        self.image_size = image_size
        self.target_channels = check_target_channels(target_channels, in_channels)
        #: channels the head predicts (the input channels unless ``target_channels`` picks fewer)
        self.out_channels = len(self.target_channels or range(in_channels))
        if self.target_channels is not None:  # not persistent: the state_dict keeps its keys
            index = torch.tensor(self.target_channels, dtype=torch.long)
            self.register_buffer("_target_index", index, persistent=False)
        frame_channels = in_channels * patch_size**2
        if embed == "identity":
            if frame_channels != stack.channels:
                raise ValueError(
                    f"embed='identity' needs in_channels * patch_size**2 == hidden_channels, "
                    f"got {frame_channels} and {stack.channels}; use embed='conv'"
                )
            self.embed = nn.Identity()
        else:
            self.embed = nn.Conv2d(frame_channels, stack.channels, 1)
        self.head = nn.Conv2d(stack.channels, self.out_channels * patch_size**2, 1)
        if (
            residual
        ):  # an untrained model is exactly persistence (a zero change), not a random drift
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
        #: how the registry built this model (enough to rebuild it); empty if built by hand
        self.config: dict[str, Any] = {}
        self.compiled = compile
        self.use_channels_last(channels_last)
        self.use_conv_algorithm(conv_algorithm)
        # torch.compile one time step (not the whole rollout): a small graph, reused at every step
        self._step = torch.compile(self.step) if compile else self.step

    @property
    def divisor(self) -> int:
        """Frame height and width must be multiples of this (patch size x 2**levels)."""
        return self.patch_size * self.stack.divisor

    def check_frames(self, frames: Tensor, name: str = "frames") -> None:
        """Raise a ValueError naming the problem if ``frames`` cannot go through this model."""
        if not isinstance(frames, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(frames).__name__}")
        if frames.dim() != 5:
            raise ValueError(f"{name} must have shape (B, T, C, H, W), got {tuple(frames.shape)}")
        _, _, c, h, w = frames.shape
        if c != self.in_channels:
            raise ValueError(
                f"{name} have {c} channels but the model was built for in_channels={self.in_channels}"
            )
        if self.image_size is not None and (h, w) != tuple(self.image_size):
            raise ValueError(
                f"{name} are {h}x{w} but the model was built for image_size={tuple(self.image_size)} "
                "(its LayerNorm shapes depend on it); rebuild with the right image_size"
            )
        d = self.divisor
        if h % d or w % d:
            levels = max(self.stack.scales)
            raise ValueError(
                f"frame size {h}x{w} is not divisible by {d} = patch_size {self.patch_size} x 2**{levels} "
                f"(the stack pools {levels} times); crop or pad the frames to a multiple of {d}, "
                "or use a smaller patch_size or fewer layers"
            )

    def check_values(self, frames: Tensor, name: str = "frames") -> None:
        """Raise InputTypeError/InputError unless ``frames`` are float32 (or float16/bfloat16) in [0, 1]."""
        if frames.dtype not in FRAME_DTYPES:
            fix = "frames.float() / 255" if frames.dtype == torch.uint8 else "frames.float()"
            raise InputTypeError(
                f"{name} have dtype {frames.dtype}; the model takes float32 in [0, 1] (float16 or "
                f"bfloat16 under autocast): convert with {fix}"
            )
        if frames.numel() == 0 or exporting():
            return
        lo, hi = (float(v) for v in torch.aminmax(frames.detach()))
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise InputError(
                f"{name} contain NaN or infinite values; fill them (e.g. torch.nan_to_num) first"
            )
        if lo < -RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
            raise InputError(
                f"{name} lie in [{lo:.4g}, {hi:.4g}] but the model takes values in [0, 1]; "
                "normalise them as the training data were (8-bit pixels: divide by 255)"
            )

    def targets_of(self, frames: Tensor) -> Tensor:
        """The target channels of frames ``(..., C, H, W)`` (all of them without ``target_channels``)."""
        if self.target_channels is None:
            return frames
        return frames.index_select(-3, self._target_index.to(frames.device))

    def feed_back(self, pred: Tensor, observed: Tensor) -> Tensor:
        """The next input from a prediction: ``pred`` in the target channels, ``observed`` elsewhere."""
        if self.target_channels is None:
            return pred
        return observed.index_copy(1, self._target_index, pred.to(observed.dtype))

    def init_state(self, batch: int, height: int, width: int, ref: Tensor) -> StackState:
        """Zero recurrent state for frames of ``height`` x ``width``."""
        p = self.patch_size
        state = self.stack.init_state(batch, height // p, width // p, ref.device, ref.dtype)
        if self.channels_last:
            state = torch.utils._pytree.tree_map(self._memory_format, state)
        return state

    def use_channels_last(self, on: bool = True) -> Forecaster:
        """Keep weights, frames and states in NHWC (``on``) or NCHW from now on; returns ``self``."""
        self.channels_last = on
        layout = torch.channels_last if on else torch.contiguous_format
        for tensor in (*self.parameters(), *self.buffers()):
            if tensor.dim() == 4:
                tensor.data = tensor.data.contiguous(memory_format=layout)
        return self

    def use_conv_algorithm(self, algorithm: str) -> Forecaster:
        """Train every gate convolution by ``algorithm`` (``auto`` | ``direct``); returns ``self``."""
        for module in self.modules():
            if isinstance(module, GateConv):
                module.set_algorithm(algorithm)
        self.conv_algorithm = algorithm
        return self

    def _memory_format(self, x: Tensor) -> Tensor:
        """``x`` in this model's memory format (NHWC for 4-D tensors under ``channels_last``)."""
        if self.channels_last and isinstance(x, Tensor) and x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def step(
        self, frame: Tensor, state: StackState, motion: Tensor | None = None
    ) -> tuple[Tensor, StackState, list[Tensor]]:
        """One time step: frame ``(B, C, H, W)`` -> next-frame prediction, new state, layer outputs.

        ``motion`` ``(B, 2, H, W)``: the advection anchor's motion (:meth:`motion_of`).
        """
        z = self.embed(self._memory_format(patch(frame, self.patch_size)))
        outputs, state = self.stack(z, state)
        pred = unpatch(self.head(outputs[-1]), self.patch_size)
        if self.residual:  # the head predicts the change from the frame it was given
            anchor = self.targets_of(frame)
            if motion is not None:
                anchor = advect(anchor, motion)
            pred = pred + anchor.to(pred.dtype)
        return pred, state, outputs

    def motion_of(self, inputs: Tensor) -> Tensor | None:
        """The motion of the observed ``inputs`` ``(B, T_in, C, H, W)`` under the advection anchor, else None."""
        if self.anchor != "advection":
            return None
        return estimate_motion(self.targets_of(inputs))

    def _advance(
        self, frame: Tensor, state: StackState, motion: Tensor | None
    ) -> tuple[Tensor, StackState]:
        if self.checkpointing == "step" and self.training and torch.is_grad_enabled():
            pred, state, _ = checkpoint(
                self._step,
                frame,
                state,
                motion,
                use_reentrant=False,
                preserve_rng_state=False,
                determinism_check="none",
            )  # no random ops inside a step: no RNG state to restore
        else:
            pred, state, _ = self._step(frame, state, motion)
        return pred, state

    def _teacher_mask(self, mask: Tensor | None, frames: Tensor) -> Tensor | None:
        if mask is None:
            return None
        b, t = frames.shape[:2]
        if mask.dim() == 2:
            mask = mask[:, :, None, None, None]
        if mask.dim() != 5 or mask.shape[0] != b or mask.shape[1] != t - 2:
            raise ValueError(
                f"teacher_mask must have shape (B, T-2) = ({b}, {t - 2}) or broadcast to "
                f"(B, T-2, C, H, W); got {tuple(mask.shape)}"
            )
        return mask.to(frames.dtype)

    def forward(
        self,
        frames: Tensor,
        input_length: int,
        teacher_mask: Tensor | None = None,
        *,
        return_aux: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor | None]:
        """Predictions of frames ``1 .. T-1`` (and the cells' auxiliary loss if ``return_aux``).

        With ``target_channels`` they hold only those channels; compare them with
        ``targets_of(frames[:, 1:])``.
        """
        self.check_frames(frames)
        self.check_values(frames)
        b, t_total, _, h, w = frames.shape
        if not 1 <= input_length <= t_total - 1:
            raise ValueError(
                f"input_length must be in [1, T-1] = [1, {t_total - 1}], got {input_length}"
            )
        mask = self._teacher_mask(teacher_mask, frames)
        self.stack.pop_aux_loss()  # drop terms left by an earlier call that never collected them
        state = self.init_state(b, h, w, frames)
        motion = self.motion_of(frames[:, :input_length])  # the observed frames only
        preds: list[Tensor] = []
        for t in range(t_total - 1):
            if t == 0 or (mask is None and t < input_length):
                x = frames[:, t]
            else:
                x = self.feed_back(preds[-1], frames[:, min(t, input_length - 1)])
                if mask is not None:  # teacher forcing mixes in the truth
                    m = mask[:, t - 1]
                    x = m * frames[:, t] + (1 - m) * x
            pred, state = self._advance(x, state, motion)
            preds.append(pred)
        out = torch.stack(preds, dim=1)
        aux = self.stack.pop_aux_loss()
        return (out, aux) if return_aux else out

    @torch.no_grad()
    def predict(
        self, inputs: Tensor, horizon: int, *, clip: bool = True, return_layers: bool = False
    ) -> Tensor | tuple[Tensor, list[list[Tensor]]]:
        """Forecast ``horizon`` frames after ``inputs`` ``(B, T_in, C, H, W)``; outputs clipped to [0, 1].

        The forecast is ``(B, horizon, out_channels, H, W)``.

        With ``return_layers`` also returns, per time step, every layer's output.
        """
        self.check_frames(inputs, "inputs")
        self.check_values(inputs, "inputs")
        if horizon < 1:
            raise InputError(f"horizon must be >= 1, got {horizon}")
        b, t_in, _, h, w = inputs.shape
        state = self.init_state(b, h, w, inputs)
        motion = self.motion_of(inputs)
        preds: list[Tensor] = []
        layers: list[list[Tensor]] = []
        pred = inputs[:, 0]
        for t in range(t_in + horizon - 1):
            x = inputs[:, t] if t < t_in else self.feed_back(pred, inputs[:, -1])
            pred, state, outputs = self._step(x, state, motion)
            if return_layers:
                layers.append([o.detach() for o in outputs])
            if t >= t_in - 1:
                preds.append(pred)
        self.stack.pop_aux_loss()
        out = torch.stack(preds, dim=1)
        if clip:
            out = out.clamp(0.0, 1.0)
        return (out, layers) if return_layers else out
