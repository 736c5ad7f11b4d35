"""PredRNN-V2 (Wang et al. 2022): the ST-LSTM with the memory-decoupling loss."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from convrnn.cells.base import Cell, State
from convrnn.cells.predrnn import PredRNNCell
from convrnn.cells.registry import register_model
from convrnn.errors import ConfigError

REDUCTIONS = ("mean", "sum")


def decoupling_terms(adapter: nn.Module, delta_c: Tensor, delta_m: Tensor) -> Tensor:
    """``|cos|`` between the adapted increments over space, per (batch, channel): ``(B, C)``."""
    a = F.normalize(adapter(delta_c).flatten(2), dim=2)
    b = F.normalize(adapter(delta_m).flatten(2), dim=2)
    return (a * b).sum(dim=2).abs()


class DecouplingTerms:
    """The decoupling terms of a group of linked layers, gathered since the last pop."""

    def __init__(self) -> None:
        self.terms: list[Tensor] = []
        self.layers = 1


class PredRNNV2Cell(PredRNNCell):
    """ST-LSTM whose memory increments ``delta_c = i g``, ``delta_m = i' g'`` are pushed apart.

    Every step records the decoupling term ``|cos(adapter * delta_c, adapter * delta_m)|``
    (cosine over space, per batch item and channel); :meth:`pop_aux_loss` returns
    the weighted loss. The 1x1 ``adapter`` and the record are shared by all
    layers of a stack (:meth:`link_layers`): the first layer's ``pop_aux_loss``
    returns the loss of all of them and the others return ``None``. A step with
    ``m=None`` (the first step of a sequence) discards terms left over from an
    earlier rollout that nobody popped, such as those recorded while activation
    checkpointing recomputes a step during backward.

    Options, besides those of :class:`PredRNNCell` (passed on to it): ``decouple_weight`` (0.1 in
    PredRNN-V2; 0 switches the loss off) and ``decouple_reduction``: "mean"
    (thuml: the mean over layers x steps of the mean over (batch, channel)) or
    "sum" (MS-RNN ``loss.py``: summed over layers and channels, averaged over
    steps and batch).
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        kernel_size: int = 3,
        *,
        bias: bool = True,
        decouple_weight: float = 0.1,
        decouple_reduction: str = "mean",
        **options: Any,
    ) -> None:
        super().__init__(in_channels, hidden_channels, kernel_size, bias=bias, **options)
        if decouple_reduction not in REDUCTIONS:
            raise ConfigError(
                f"decouple_reduction={decouple_reduction!r} is not supported; choose one of {REDUCTIONS}"
            )
        if not decouple_weight >= 0:
            raise ConfigError(f"decouple_weight must be >= 0, got {decouple_weight}")
        self.decouple_weight = float(decouple_weight)
        self.decouple_reduction = decouple_reduction
        self.adapter = nn.Conv2d(hidden_channels, hidden_channels, 1, bias=bias)
        self.record = DecouplingTerms()

    @classmethod
    def link_layers(cls, cells: list[Cell]) -> None:
        """Give every layer the first layer's adapter and record, as the official single adapter."""
        first = cells[0]
        for cell in cells:
            if cell.hidden_channels != first.hidden_channels:
                raise ValueError(
                    "PredRNN-V2 shares one adapter across layers, so every layer needs the same "
                    f"hidden_channels; got {[c.hidden_channels for c in cells]}"
                )
            if (cell.decouple_weight, cell.decouple_reduction) != (
                first.decouple_weight,
                first.decouple_reduction,
            ):
                raise ValueError(
                    "PredRNN-V2 layers of one stack share one decoupling loss: build them with the "
                    "same decouple_weight and decouple_reduction"
                )
            cell.adapter = first.adapter
            cell.record = first.record
        first.record.layers = len(cells)

    def forward(
        self, x: Tensor, state: State, m: Tensor | None = None
    ) -> tuple[Tensor, State, Tensor]:
        """One step: returns ``(h, (h, c), m)`` and records this step's decoupling term."""
        if m is None:
            self.record.terms.clear()
        out = self.step(x, state, m)
        if self.decouple_weight > 0:
            terms = decoupling_terms(self.adapter, out.delta_c, out.delta_m)
            if self.decouple_reduction == "mean":
                self.record.terms.append(terms.mean())
            else:
                self.record.terms.append(terms.mean(dim=0).sum())
        return out.h, (out.h, out.c), out.m

    def pop_aux_loss(self) -> Tensor | None:
        """The weighted decoupling loss of the linked layers since the last call, or ``None``."""
        terms = self.record.terms
        if not terms:
            return None
        total = sum(terms[1:], terms[0])
        if self.decouple_reduction == "mean":
            total = total / len(terms)  # mean over layers x steps
        else:
            total = total * self.record.layers / len(terms)  # sum over layers, mean over steps
        terms.clear()
        return self.decouple_weight * total

    def extra_repr(self) -> str:
        return f"decouple_weight={self.decouple_weight}, decouple_reduction={self.decouple_reduction!r}"


_MS_RNN_LOSS: dict[str, Any] = {"decouple_weight": 0.01, "decouple_reduction": "sum"}

register_model(
    "predrnn-v2",
    PredRNNV2Cell,
    summary="PredRNN-V2 (Wang et al. 2022): ST-LSTM with the memory-decoupling loss and reverse "
    "scheduled sampling",
    params={"ms-rnn": 3_598_977, "ms-lstm": 901_441},
    preset_options={"ms-rnn": _MS_RNN_LOSS, "ms-lstm": _MS_RNN_LOSS},
    training={"sampling": "reverse"},
    # CMS-LSTM's ce/se blocks have not been offered on PredRNN-V2
    options=("kernel_size", "norm", "forget_bias", "bias", "decouple_weight", "decouple_reduction"),
    notes=(
        "The ST-LSTM of 'predrnn' (the MS-RNN code's layout, see there) plus one 1x1 adapter "
        "convolution shared by all layers. The adapter follows the bias option: biased under the "
        "presets, as in the MS-RNN code (its 4,160 / 1,056 parameters are the whole difference from "
        "PredRNN); the thuml adapter is bias-free (bias=False). The decoupling term is |cos| over space "
        "between the L2-normalised adapted increments, per (batch, channel). Without a preset the loss "
        "follows PredRNN-V2 (decouple_weight=0.1, decouple_reduction='mean': mean over layers x steps "
        "of the mean over (batch, channel)); the 'ms-rnn' and 'ms-lstm' presets switch to the MS-RNN "
        "code's loss.py (decouple_weight=0.01, decouple_reduction='sum': summed over layers and "
        "channels, averaged over steps and batch), which goes with its pixel-summed frame loss. "
        "The term is accumulated over every step the Forecaster runs (all T-1 next-frame steps, as "
        "both official codes do) and returned, already weighted, by the first layer's pop_aux_loss "
        "(the layers share one record, like the adapter); a step with m=None (a sequence start) "
        "drops terms nobody popped, e.g. those recorded when activation checkpointing recomputes "
        "a step during backward. Reverse scheduled "
        "sampling is the training default (training={'sampling': 'reverse'})."
    ),
)
