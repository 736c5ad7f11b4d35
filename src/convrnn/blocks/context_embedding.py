"""CMS-LSTM's Context Embedding (CE) as coded by its authors, and the alternating re-weighting it shares with DCB."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from convrnn.blocks.gate_conv import ConvSpec
from convrnn.errors import ConfigError


class AlternatingContext(nn.Module):
    """``iterations`` alternating half-steps, starting with ``x``, with weights shared across them.

    * odd half-steps: ``x <- s * sigmoid(A(h)) * x``
    * even half-steps: ``h <- s * sigmoid(B(x)) * h``

    Subclasses define ``A`` (:meth:`input_logits`) and ``B`` (:meth:`hidden_logits`).
    The authors' code runs 5 half-steps (3 updates of ``x``, 2 of ``h``) with
    ``s = 2``. Set ``record`` to a list to collect, per call, the last weight map
    applied to each of ``x`` and ``h`` (``s * sigmoid(...)``).
    """

    def __init__(self, iterations: int = 5, scale: float = 2.0) -> None:
        super().__init__()
        if iterations < 1:
            raise ConfigError(f"iterations must be >= 1, got {iterations}")
        self.iterations = iterations
        self.scale = scale
        self.record: list[dict[str, Any]] | None = None

    def input_logits(self, h: Tensor) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def hidden_logits(self, x: Tensor) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def forward(self, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """Returns the re-weighted ``(x, h)``."""
        weights: dict[str, Any] = {}
        for step in range(self.iterations):
            if step % 2 == 0:
                w = self.scale * torch.sigmoid(self.input_logits(h))
                x = w * x
                weights["input"] = w
            else:
                w = self.scale * torch.sigmoid(self.hidden_logits(x))
                h = w * h
                weights["hidden"] = w
        if self.record is not None:
            self.record.append({k: v.detach() for k, v in weights.items()})
        return x, h


class ContextEmbedding(AlternatingContext):
    """CE (CMS-LSTM Eq. 2 as coded): ``A = LN(conv_Q * h)`` (h -> x), ``B = LN(conv_R * x)`` (x -> h).

    Both convolutions are ``conv``'s k x k; its ``bias`` and ``norm`` ("layer":
    LayerNorm over [C, H, W] after each convolution) follow the cell. The
    authors' code: bias-free, LayerNorm; the MS-RNN port: biased, no LayerNorm.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        conv: ConvSpec,
        *,
        iterations: int = 5,
        scale: float = 2.0,
    ) -> None:
        super().__init__(iterations, scale)
        self.conv_q = conv.gate_conv([hidden_channels], in_channels)
        self.conv_r = conv.gate_conv([in_channels], hidden_channels)

    def input_logits(self, h: Tensor) -> Tensor:
        return self.conv_q(h)

    def hidden_logits(self, x: Tensor) -> Tensor:
        return self.conv_r(x)
