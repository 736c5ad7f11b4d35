"""CE / DCB before a cell's gates and SE after its update: the CMS-LSTM blocks as options of any cell."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from convrnn.blocks.context_embedding import ContextEmbedding
from convrnn.blocks.detail_context import DetailContext
from convrnn.blocks.gate_conv import PLAIN, ConvSpec
from convrnn.blocks.spatiotemporal_expression import SpatiotemporalExpression, check_scales
from convrnn.errors import ConfigError


class CellContext(nn.Module):
    """The ``ce=`` / ``dcb=`` / ``se=`` options of a recurrent cell, in one piece.

    A cell with an input ``x``, a hidden state ``h`` and a cell state ``c`` calls

    * ``x, h = self.context.embed(x, h_prev)`` right before its gate convolutions
      (CE with ``ce``, MoDeRNN's DCB with ``dcb``; identity otherwise), and
    * ``h, c = self.context.express(h, c)`` right after its update (SE with
      ``se``; identity otherwise); the returned pair replaces ``(H_t, C_t)``,

    and sets ``self.size_multiple = self.context.size_multiple``. With every
    option off the module holds no parameters, so counts and state-dict keys
    are unchanged. The blocks build their convolutions through the cell's
    ``conv`` (bias, norm, size); CE uses its kernel size, SE ``se_kernel`` (5 in
    the CMS-LSTM code, 3 in the MS-RNN port).
    ``se_scales``, ``se_kernel`` and ``se_unused_gamma`` only matter with ``se``.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        conv: ConvSpec = PLAIN,
        *,
        ce: bool = False,
        dcb: bool = False,
        se: bool = False,
        se_scales: Sequence[int] = (1, 2, 4),
        se_kernel: int = 5,
        se_unused_gamma: bool = False,
    ) -> None:
        super().__init__()
        if ce and dcb:
            raise ConfigError(
                "ce=True and dcb=True both re-weight (x, h) before the gates; choose one "
                "(CE is CMS-LSTM's block, DCB is MoDeRNN's)"
            )
        self.embedding: nn.Module | None = None
        if ce:
            self.embedding = ContextEmbedding(in_channels, hidden_channels, conv)
        elif dcb:
            self.embedding = DetailContext(in_channels, hidden_channels, conv)
        self.expression: SpatiotemporalExpression | None = None
        if se:
            self.expression = SpatiotemporalExpression(
                hidden_channels,
                conv.with_kernel(se_kernel),
                check_scales(se_scales),
                unused_gamma=se_unused_gamma,
            )

    @property
    def size_multiple(self) -> int:
        """The layer's height and width must be multiples of this (SE's window scales)."""
        return 1 if self.expression is None else self.expression.size_multiple

    def embed(self, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """``(X_t, H_{t-1})`` re-weighted by CE or DCB, or unchanged."""
        return (x, h) if self.embedding is None else self.embedding(x, h)

    def express(self, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        """``(H_t, C_t)`` after SE, or unchanged."""
        return (h, c) if self.expression is None else self.expression(h, c)
