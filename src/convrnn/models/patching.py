"""Patching ("reshape_patch"): fold p x p pixel blocks into channels, and its exact inverse.

Channel order: ``(C, H, W) -> (C * p * p, H / p, W / p)`` where output channel
``c * p**2 + ph * p + pw`` holds pixel ``(ph, pw)`` of each block of channel
``c`` (PyTorch's ``pixel_unshuffle``). For single-channel frames this is the
order of thuml's ``reshape_patch`` (``(ph * p + pw) * C + c``); the CMS-LSTM and
MoDeRNN code use ``c * p**2 + pw * p + ph``, which only matters when importing
their weights.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def patch(x: Tensor, patch_size: int) -> Tensor:
    """``(B, C, H, W) -> (B, C p^2, H/p, W/p)``; identity for ``patch_size == 1``."""
    if patch_size == 1:
        return x
    h, w = x.shape[-2:]
    if h % patch_size or w % patch_size:
        raise ValueError(f"frame size {h}x{w} is not divisible by patch_size={patch_size}")
    return F.pixel_unshuffle(x, patch_size)


def unpatch(x: Tensor, patch_size: int) -> Tensor:
    """Exact inverse of :func:`patch`: ``(B, C p^2, H/p, W/p) -> (B, C, H, W)``."""
    if patch_size == 1:
        return x
    return F.pixel_shuffle(x, patch_size)
