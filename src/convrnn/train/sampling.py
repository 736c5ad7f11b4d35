"""Teacher-forcing schedules: scheduled sampling (PredRNN, linear) and reverse scheduled sampling (PredRNN-V2).

A schedule turns the training iteration into a teacher mask ``(B, T-2)`` for
:class:`convrnn.models.Forecaster`: entry ``t-1`` is 1 where step ``t`` reads the
ground-truth frame and 0 where it reads its own prediction. Masks are drawn
from a generator seeded by ``(seed, iteration, rank)``, so a schedule is a
pure function of the iteration: resuming from a checkpoint (which stores the
schedule's settings and iteration) continues it exactly, and DDP ranks draw
different masks for their different samples.

The config's ``train.sampling`` also takes ``paper``: the model's schedule as its
paper's code runs it (``reverse`` for PredRNN-V2, else ``linear`` over the whole
run), and ``auto`` (the default): the same schedule fitted to runs of any length,
``linear`` reaching 0 at half of the run (``AUTO_OPTIONS``) so that the second half
trains on the model's own predictions, as it will forecast. Ending at the very
last iteration (``fraction=1``) leaves no steps to adapt: in a 240-step run the
training loss rose as the ratio reached 0.

* ``none``: ground truth for the ``input_length`` inputs, predictions after.
* ``predrnn`` (thuml ``schedule_sampling``): at iteration ``i = step + 1``,
  ``eta = max(0, start - i * decay)`` while ``i < stop``, else 0 (defaults
  ``start=1.0, decay=2e-5, stop=50000``). Each future input is the ground truth
  with probability ``eta``. Counted in iterations, not in the run: a run of a few
  hundred steps stays almost fully teacher-forced (``eta`` > 0.99).
* ``linear`` (MS-RNN / CMS-LSTM code): ``eta = max(0, 1 - i / (fraction * max_steps))``:
  1 -> 0 over the whole run (``fraction=1``, MS-RNN) or half of it (0.5, CMS-LSTM).
* ``reverse`` (PredRNN-V2 ``reserve_schedule_sampling_exp``): the encoder inputs
  (steps ``1 .. input_length-1``) are the ground truth with probability
  ``r_eta`` = 0.5 until ``step_1``, then ``1 - 0.5 exp(-(i - step_1) / alpha)``,
  then 1 from ``step_2``; the decoder inputs with probability ``eta`` = 0.5
  until ``step_1``, then linearly to 0 at ``step_2``. Defaults follow the
  MS-RNN code (epoch-based: ``step_1 = max_steps / 3``, ``step_2 = 2 max_steps / 3``,
  ``alpha = max_steps / 15``); the thuml MNIST script uses 25000, 50000, 2500.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from convrnn.config import SAMPLING_KINDS as KINDS
from convrnn.errors import ChoiceError, ConfigError

_OPTIONS = {
    "none": {},
    "predrnn": {"start": 1.0, "decay": 2e-5, "stop": 50_000},
    "linear": {"fraction": 1.0},
    "reverse": {"step_1": None, "step_2": None, "alpha": None},
}


#: options ``sampling: auto`` gives a schedule (on top of the model's paper schedule)
AUTO_OPTIONS: dict[str, dict[str, Any]] = {"linear": {"fraction": 0.5}}


class SamplingSchedule:
    """Teacher-forcing probabilities and masks as a function of the training iteration."""

    def __init__(self, kind: str, max_steps: int, seed: int = 0, **options: Any) -> None:
        if kind not in KINDS:
            raise ChoiceError(f"sampling={kind!r} is not one of {KINDS}")
        unknown = sorted(set(options) - set(_OPTIONS[kind]))
        if unknown:
            raise ConfigError(
                f"unknown sampling option(s) {unknown} for {kind!r}; valid: {sorted(_OPTIONS[kind])}"
            )
        self.kind = kind
        self.max_steps = max_steps
        self.seed = seed
        self.options = {**_OPTIONS[kind], **options}
        if kind == "reverse":
            o = self.options
            o["step_1"] = o["step_1"] if o["step_1"] is not None else max_steps / 3
            o["step_2"] = o["step_2"] if o["step_2"] is not None else 2 * max_steps / 3
            o["alpha"] = o["alpha"] if o["alpha"] is not None else max_steps / 15
            if not 0 <= o["step_1"] < o["step_2"] or o["alpha"] <= 0:
                raise ConfigError(
                    f"reverse sampling needs 0 <= step_1 < step_2 and alpha > 0, got {o}"
                )
        if kind == "linear" and not 0 < self.options["fraction"] <= 1:
            raise ConfigError(
                f"linear sampling needs 0 < fraction <= 1, got {self.options['fraction']}"
            )

    def probabilities(self, step: int) -> tuple[float, float]:
        """``(encoder, decoder)`` probabilities of reading the ground truth at iteration ``step`` (0-based)."""
        i = step + 1
        o = self.options
        if self.kind == "none":
            return 1.0, 0.0
        if self.kind == "predrnn":
            eta = max(0.0, o["start"] - i * o["decay"]) if i < o["stop"] else 0.0
            return 1.0, eta
        if self.kind == "linear":
            return 1.0, max(0.0, 1.0 - i / (o["fraction"] * self.max_steps))
        s1, s2, alpha = o["step_1"], o["step_2"], o["alpha"]
        if i < s1:
            return 0.5, 0.5
        if i < s2:
            return 1.0 - 0.5 * math.exp(-(i - s1) / alpha), 0.5 - 0.5 * (i - s1) / (s2 - s1)
        return 1.0, 0.0

    def mask(
        self, step: int, batch: int, input_length: int, total_length: int, rank: int = 0
    ) -> Tensor | None:
        """Teacher mask ``(batch, total_length - 2)`` for iteration ``step``, or ``None`` for the default."""
        encoder, decoder = self.probabilities(step)
        if encoder == 1.0 and decoder == 0.0:
            return None
        generator = torch.Generator().manual_seed((self.seed * 1_000_003 + step) * 1_009 + rank)
        draws = torch.rand(batch, total_length - 2, generator=generator)
        steps = torch.arange(1, total_length - 1)  # input step t for mask column t - 1
        prob = torch.where(steps < input_length, torch.tensor(encoder), torch.tensor(decoder))
        return (draws < prob).float()

    def state_dict(self) -> dict[str, Any]:
        """Settings that define the schedule (stored in checkpoints)."""
        return {
            "kind": self.kind,
            "max_steps": self.max_steps,
            "seed": self.seed,
            "options": dict(self.options),
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> SamplingSchedule:
        """Rebuild a schedule saved with :meth:`state_dict`."""
        return cls(state["kind"], state["max_steps"], state["seed"], **state["options"])
