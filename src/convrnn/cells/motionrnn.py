"""MotionRNN (Wu et al. 2021) as coded in the MS-RNN repository: MIM cells with MotionGRU and the motion highway."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from convrnn.blocks.warp import warp
from convrnn.cells.base import State, check_compat
from convrnn.cells.mim import MIMCell
from convrnn.cells.registry import register_model
from convrnn.errors import ConfigError


class MotionGRU(nn.Module):
    """MotionGRU at half resolution: transient flow F (a GRU), trend D, warping of ``k * k`` flows, decoder and gate.

    ``forward(h, F, D) -> (X, F', D')`` with ``F`` and ``D`` of ``2 k^2`` channels
    at half the size of ``h``; ``X = g h + (1 - g) H_dec``. ``official=True``
    reproduces the official code's warp normalisation and its two reshapes
    (:meth:`split_flows`, :meth:`merge_samples`).
    """

    def __init__(
        self,
        channels: int,
        motion_kernel: int = 3,
        alpha: float = 0.5,
        *,
        bias: bool = True,
        neighbour_offsets: bool = False,
        official: bool = False,
    ) -> None:
        super().__init__()
        self.official = official
        if channels % 4:
            raise ConfigError(
                f"MotionGRU encodes hidden_channels to hidden_channels / 4: hidden_channels must be a "
                f"multiple of 4, got {channels}"
            )
        if motion_kernel < 1:
            raise ConfigError(f"motion_kernel must be >= 1, got {motion_kernel}")
        self.motion_kernel = motion_kernel
        self.flows = motion_kernel**2
        self.alpha = alpha
        enc = channels // 4
        flow_channels = 2 * self.flows
        self.flow_channels = flow_channels
        self.encode = nn.Conv2d(channels, enc, 2, stride=2, bias=bias)
        self.update = nn.Conv2d(enc + flow_channels, flow_channels, 1, bias=bias)
        self.reset = nn.Conv2d(enc + flow_channels, flow_channels, 1, bias=bias)
        self.candidate = nn.Conv2d(enc + flow_channels, flow_channels, 1, bias=bias)
        self.mask = nn.Conv2d(enc, self.flows, 1, bias=bias)
        self.merge = nn.Conv2d(enc * self.flows, enc, 1, bias=bias)
        self.decode = nn.ConvTranspose2d(enc, channels, 4, stride=2, padding=1, bias=bias)
        self.gate = nn.Conv2d(2 * channels, channels, 1, bias=bias)
        offsets = torch.zeros(self.flows, 2)
        if neighbour_offsets:
            r = motion_kernel // 2
            dy, dx = torch.meshgrid(
                torch.arange(motion_kernel) - r, torch.arange(motion_kernel) - r, indexing="ij"
            )
            offsets = torch.stack((dx.flatten(), dy.flatten()), dim=1).float()
        self.neighbour_offsets = neighbour_offsets
        self.register_buffer("offsets", offsets.view(1, self.flows, 2, 1, 1), persistent=False)

    def split_flows(self, flow: Tensor) -> Tensor:
        """``(B, 2K, H, W)`` -> ``(B, K, 2, H, W)``: flow ``k`` of a sample is its channels ``2k, 2k + 1``.

        Official: the tensor is read straight as ``(K, B, 2, H, W)``, so for
        batch > 1 sample ``b``'s flow ``k`` holds channels of other samples
        (identical at batch 1).
        """
        b, _, hh, ww = flow.shape
        if self.official:
            return flow.reshape(self.flows, b, 2, hh, ww).transpose(0, 1)
        return flow.view(b, self.flows, 2, hh, ww)

    def merge_samples(self, warped: Tensor) -> Tensor:
        """``(B, C, K, H, W)`` -> ``(B, C K, H, W)``: channel ``c K + k`` holds flow ``k`` of channel ``c``.

        Official: the ``(B, C, H, W, K)`` tensor is reshaped straight to
        ``(B, C K, H, W)``, which moves values across pixels (at any batch size).
        """
        b, c, k, hh, ww = warped.shape
        if self.official:
            warped = warped.permute(0, 1, 3, 4, 2)
        return warped.reshape(b, c * k, hh, ww)

    def forward(self, h: Tensor, flow: Tensor, trend: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Returns ``(X, F', D')``."""
        if h.shape[-2] % 2 or h.shape[-1] % 2:
            raise ValueError(
                f"MotionGRU works at half resolution and needs an even height and width, got "
                f"{tuple(h.shape[-2:])}"
            )
        e = self.encode(h)
        ef = torch.cat((e, flow), dim=1)
        u = torch.sigmoid(self.update(ef))
        r = torch.sigmoid(self.reset(ef))
        z = torch.tanh(self.candidate(torch.cat((e, r * flow), dim=1)))
        transient = u * z + (1 - u) * flow
        trend = trend + self.alpha * (flow - trend)
        flow = transient + trend
        offsets = self.split_flows(flow)
        if self.neighbour_offsets:
            offsets = offsets + self.offsets.to(flow.dtype)
        mask = torch.sigmoid(self.mask(e)).unsqueeze(1)
        warped = warp(e, offsets, official=True) if self.official else warp(e, offsets)
        warped = warped * mask  # (B, C/4, K, H/2, W/2)
        dec = self.decode(self.merge(self.merge_samples(warped)))
        g = torch.sigmoid(self.gate(torch.cat((dec, h), dim=1)))
        return g * h + (1 - g) * dec, flow, trend


class MotionRNNCell(MIMCell):
    """MIM cell + MotionGRU + motion highway ``h := X + (1 - o) x`` (every layer but the last).

    In the last layer the official code computes MotionGRU and throws its
    output away: here it is not computed, and ``faithful`` keeps its
    parameters (``unused_motion``) for the official count. State: the MIM
    cell's state, then ``(F, D)`` at half resolution in the layers that run
    MotionGRU; the stored ``h`` is the post-highway ``h``. ``norm`` and
    ``forget_bias`` go to :class:`MIMCell` (its MIM part only); ``bias`` to both.
    """

    size_multiple = 2

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        kernel_size: int = 3,
        *,
        bias: bool = True,
        faithful: bool = True,
        motion_kernel: int = 3,
        alpha: float = 0.5,
        neighbour_offsets: bool = False,
        layer_index: int = 0,
        depth: int = 1,
        compat: str = "paper",
        **options: Any,
    ) -> None:
        super().__init__(
            in_channels, hidden_channels, kernel_size, bias=bias, faithful=faithful,
            layer_index=layer_index, compat=compat, **options,
        )  # fmt: skip
        self.highway = layer_index < depth - 1
        if self.highway and in_channels != hidden_channels:
            raise ConfigError(
                f"the motion highway adds the input to the output: in_channels ({in_channels}) must "
                f"equal hidden_channels ({hidden_channels})"
            )
        if self.highway or faithful:
            motion = MotionGRU(
                hidden_channels,
                motion_kernel,
                alpha,
                bias=bias,
                neighbour_offsets=neighbour_offsets,
                official=check_compat(compat) == "official",
            )
            self.add_module("motion" if self.highway else "unused_motion", motion)

    def init_state(
        self, batch: int, height: int, width: int, device: torch.device, dtype: torch.dtype
    ) -> State:
        """The MIM state, then zero ``(F, D)`` at half size in layers with the motion highway."""
        state = super().init_state(batch, height, width, device, dtype)
        if not self.highway:
            return state
        half = (height // 2, width // 2)
        return (*state, *self.zero_state(batch, *half, device, dtype, 2, self.motion.flow_channels))

    def forward(
        self, x: Tensor, state: State, m: Tensor | None = None, below: Tensor | None = None
    ) -> tuple[Tensor, State, Tensor]:
        """One step: returns ``(h, new_state, new_m)``."""
        if not self.highway:
            return super().forward(x, state, m, below)
        flow, trend = state[-2:]
        h, gate, mim_state, m = self.step(x, state[:-2], m, below)
        motion, flow, trend = self.motion(h, flow, trend)
        h = motion + (1 - gate) * x
        return h, (h, *mim_state[1:], flow, trend), m


MOTIONRNN_NOTES = (
    "The MS-RNN code's MotionRNN (reference official-ms-rnn.md 1.6): the MIM cell (see 'mim', including its "
    "diagonal-input and layer-0 notes) followed by MotionGRU: H_enc = Conv(C -> C/4, kernel 2, stride 2)(h); "
    "u, r = s(W_1x1 * [H_enc, F]), z = tanh(W_1x1 * [H_enc, r F]); F' = u z + (1 - u) F; D' = D + alpha (F - D) "
    "(alpha = 0.5); F_t = F' + D'; H_w = s(W_1x1 * H_enc) * warp(H_enc, F_t) with k^2 = 9 flows (2k^2 = 18 "
    "channels at half resolution); H_dec = Deconv(C/4 -> C, kernel 4, stride 2, padding 1)(W_1x1 * H_w); "
    "g = s(W_1x1 * [H_dec, h]); X = g h + (1 - g) H_dec; motion highway h := X + (1 - o) x in every layer but "
    "the last (o the ST-LSTM output gate, x the layer input). The h stored for the next step is the "
    "post-highway h. State: (h, c, [n, s, x_prev,] F, D); the last layer has no F, D.\n"
    "Warping: flow k of a sample is its channels (2k, 2k + 1) = (shift along x, shift along y) in pixels of "
    "the half-resolution map; the sample of pixel p is bilinear at p + flow, zeros outside the map. Pixel "
    "centres sit at integer coordinates and are normalised as (2 p + 1) / size - 1 for grid_sample with "
    "align_corners=False, the same convention used to sample, so a zero flow is the identity (the official "
    "warp normalises by size - 1, the align_corners=True convention, then samples with align_corners=False: "
    "a half-pixel inconsistency, shared with its TrajGRU). As in the MS-RNN code, each flow is an offset "
    "from the pixel itself; neighbour_offsets=True adds the fixed k x k neighbourhood offsets of the "
    "MotionRNN paper, so that at zero flow the k^2 samples are the pixel's k x k neighbours.\n"
    "Fixed official bugs: (1) Warp reshapes the flows (B, 2k^2, H, W) straight to (k^2, B, 2, H, W), which "
    "for batch > 1 takes sample b's flows from other samples; here the flows are split per sample (identical "
    "for batch 1; a test checks that samples do not interact and that a batch of 3 equals 3 runs of 1). "
    "(2) The warped tensor (B, C/4, H, W, k^2) is reshaped straight to (B, C/4 k^2, H, W), which scrambles "
    "pixels across the spatial grid (the channels of the decoder's 1x1 conv then hold values from other "
    "positions); here the k^2 samples of each pixel become channels of that same pixel (channel c k^2 + j "
    "holds flow j of encoder channel c), which is what the code's shape comment intends.\n"
    "compat='official' (a build option) reproduces all three: the warp normalisation (as TrajGRU's), "
    "the flows read straight as (k^2, B, 2, H, W) (MotionGRU.split_flows; identical at batch 1), "
    "and the warped (B, C/4, H, W, k^2) tensor reshaped straight to (B, C/4 k^2, H, W) "
    "(MotionGRU.merge_samples; at any batch size); with the MIM part's official diagonal input "
    "(see 'mim'). The parameters are the same.\n"
    "Last layer: MotionGRU's X is thrown away there (its F, D feed only itself), so it is not computed; "
    "faithful=True (the default) keeps its parameters as unused_motion for the official counts "
    "(7,560,547 / 1,899,859), faithful=False drops them (and layer 0's MIM blocks, see 'mim'). The cell "
    "pools inside, so every layer's size must be even: the MultiScale twin needs frames divisible by "
    "2^levels x 2 (8 at 6 layers). Options: motion_kernel (k, 3), alpha (0.5), neighbour_offsets (False); "
    "bias= also applies to MotionGRU's convolutions, norm= and forget_bias only to the MIM part. "
    "hidden_channels must be a multiple of 4.\n"
    "Differences from the MotionRNN paper and its code (thuml MotionRNN_PredRNN, reference "
    "official-cms-modernn-sa.md 4.6), all inherited from the MS-RNN code: the base cell is MIM (not "
    "PredRNN's ST-LSTM); the encoder is a 2x2 stride-2 conv (not 5x5); the k^2 samples are merged by a 1x1 "
    "conv (not a k x k stride-k conv over the sampled neighbourhood) and the gate g is a 1x1 conv (not 5x5); "
    "the highway adds the layer's own input x (not a highway state started from the frame and passed "
    "upward); initial states are zeros and no weights are zero-initialised."
)

register_model(
    "motionrnn",
    MotionRNNCell,
    summary="MotionRNN (Wu et al. 2021) on MIM cells: MotionGRU (transient flow, trend, warping) and the motion highway",
    params={"ms-rnn": 7_560_547, "ms-lstm": 1_899_859},
    notes=MOTIONRNN_NOTES,
    unused=r"\.unused_",
)
