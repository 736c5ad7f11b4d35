"""TrajGRU (Shi et al. 2017): a ConvGRU whose recurrent connections follow learned flows."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from convrnn.blocks import ConvSpec, warp
from convrnn.cells.base import Cell, State, check_compat
from convrnn.cells.registry import register_model
from convrnn.errors import ConfigError


def warp_links(feature: Tensor, flows: Tensor, *, official: bool = False) -> Tensor:
    """:func:`convrnn.blocks.warp` in TrajGRU's layout: one sample of ``feature`` per link.

    ``feature`` is ``(B, C, H, W)``; ``flows`` is ``(B, 2L, H, W)`` with channels
    ``(u_1, v_1, u_2, v_2, ...)`` in pixels (``u`` along the width). Returns
    ``(B, L*C, H, W)``, link-major: ``out[:, l*C + c, y, x] = feature[:, c, y + v_l, x + u_l]``,
    zero outside the frame; a zero flow returns ``feature`` exactly and an
    integer flow shifts it by exactly that many pixels (``official=True``: the
    official code's half-pixel normalisation, see :func:`convrnn.blocks.warp`).
    """
    b, c, h, w = feature.shape
    if flows.dim() != 4 or flows.shape[1] % 2 or flows.shape[0] != b or flows.shape[2:] != (h, w):
        raise ValueError(
            f"flows must be (B, 2L, H, W) = ({b}, 2L, {h}, {w}), got {tuple(flows.shape)}"
        )
    links = flows.shape[1] // 2
    out = warp(feature, flows.reshape(b, links, 2, h, w), official=official)  # (B, C, L, H, W)
    return out.transpose(1, 2).reshape(b, links * c, h, w)


class TrajGRUCell(Cell):
    """TrajGRU: ``L`` flows from ``[x, h]`` gather the previous state along learned trajectories.

    * ``flows = W_f * LeakyReLU(W_xf * x + W_hf * h)`` (``2L`` channels, pixels)
    * ``h_w = [warp(h, -flow_1), ..., warp(h, -flow_L)]``
    * ``[z_x, r_x, h_x] = W_x * x``; ``[z_h, r_h, h_h] = W_1x1 * h_w``
    * ``z = s(z_x + z_h)``, ``r = s(r_x + r_h)``, ``h~ = LeakyReLU(h_x + r h_h)``
    * ``h = (1 - z) h~ + z h``

    LeakyReLU slope 0.2. The state is ``(h,)``. Options: ``kernel_size`` (of the
    x-, flow-feature and flow convolutions), ``links`` (L), ``bias``; ``compat``
    (the model's): ``"official"`` warps with the official normalisation.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        kernel_size: int = 3,
        *,
        links: int = 10,
        bias: bool = True,
        compat: str = "paper",
    ) -> None:
        super().__init__(in_channels, hidden_channels)
        self.official = check_compat(compat) == "official"
        if not isinstance(links, int) or links < 1:
            raise ConfigError(
                f"links must be a positive integer (the number of flows), got {links!r}"
            )
        self.links = links
        c = hidden_channels
        conv = ConvSpec(kernel_size, bias=bias)
        self.input_gates = conv.gate_conv([in_channels], 3 * c)
        self.flow_features = conv.gate_conv([in_channels, c], c)
        self.flow = conv.gate_conv([c], 2 * links)
        self.project = nn.Conv2d(links * c, 3 * c, 1, bias=bias)

    def init_state(
        self, batch: int, height: int, width: int, device: torch.device, dtype: torch.dtype
    ) -> State:
        """``(h,)``, zeros."""
        return self.zero_state(batch, height, width, device, dtype, n=1)

    def flows(self, x: Tensor, h: Tensor) -> Tensor:
        """The ``2L`` flow channels (pixels) computed from the input and the previous state."""
        return self.flow(F.leaky_relu(self.flow_features(x, h), 0.2))

    def forward(
        self, x: Tensor, state: State, m: Tensor | None = None
    ) -> tuple[Tensor, State, None]:
        """One step: returns ``(h, (h,), None)``."""
        (h,) = state
        warped = warp_links(h, -self.flows(x, h), official=self.official)
        z_x, r_x, h_x = self.input_gates(x).chunk(3, dim=1)
        z_h, r_h, h_h = self.project(warped).chunk(3, dim=1)
        z = torch.sigmoid(z_x + z_h)
        r = torch.sigmoid(r_x + r_h)
        candidate = F.leaky_relu(h_x + r * h_h, 0.2)
        h = (1 - z) * candidate + z * h
        return h, (h,), None


register_model(
    "trajgru",
    TrajGRUCell,
    summary="TrajGRU (Shi et al. 2017): ConvGRU with L learned flow links (default 10)",
    params={"ms-rnn": 1_915_705, "ms-lstm": 497_113},
    notes=(
        "Equations and layout as in the MS-RNN code: k x k convolutions x -> 3C, x -> C and h -> C "
        "(flow features), C -> 2L (flows), and a 1x1 projection L*C -> 3C of the warped states; "
        "LeakyReLU 0.2; the state is h only. links=10 as the MS-RNN code's config (the 2022 config "
        "used 13: 2,157,661 parameters at hidden 64, which is also the closest to the paper's 2.11M; "
        "the paper's 2.11M matches neither). Deliberate fix: the official warp normalises pixel "
        "coordinates by (W - 1) (the align_corners=True convention) but calls grid_sample with "
        "align_corners=False, so even a zero flow resamples the state with a half-pixel shift and a "
        "W/(W-1) stretch. Here the grid uses the align_corners=False convention throughout "
        "((2p + 1)/W - 1), so a zero flow is the identity and an integer flow an exact shift. "
        "compat='official' (a build option) reproduces the official warp: grid 2p/(W - 1) - 1 "
        "(W = 1: / 1) sampled with align_corners=False, so a zero flow samples pixel p at "
        "p W/(W - 1) - 1/2 (a half-pixel shift at the first pixel, growing to a half pixel the other "
        "way at the last); nothing else changes (same parameters). "
        "All L warps run as one grid_sample over the state (grids stacked along the height), "
        "without repeating the state L times. Flows are in pixels of the layer's own resolution."
    ),
)
