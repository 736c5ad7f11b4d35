"""The pictures the attention papers draw, as arrays: attention for a query point, CE/DCB/SE weight maps.

* :func:`attention_maps`: SA-ConvLSTM Fig. 6, the attention weights of one
  query position over all positions of a layer, per time step.
* :func:`context_maps`: CMS-LSTM Fig. 6 and MoDeRNN Fig. 3, the weight maps of
  the CE / DCB blocks and the SE gates, per time step.

Both run the model's own rollout (``Forecaster.predict``) with the blocks of
one layer recording what they compute, and return ``float32`` arrays of shape
``(steps, H, W)`` at the frame's resolution (a layer's pixel is repeated over
the frame pixels it covers: patch size x 2**scale).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from convrnn.blocks import (
    AlternatingContext,
    ContextEmbedding,
    SelfAttention,
    SelfAttentionMemory,
    SpatiotemporalExpression,
)
from convrnn.errors import ConfigError, InputError


def _batch(frames: Any, model: nn.Module) -> Tensor:
    """``(T, C, H, W)`` or ``(B, T, C, H, W)`` frames -> float ``(B, T, C, H, W)`` on the model's device."""
    t = torch.as_tensor(np.asarray(frames) if not isinstance(frames, Tensor) else frames)
    if t.dim() == 4:
        t = t.unsqueeze(0)
    if t.dim() != 5:
        raise InputError(f"frames must be (T, C, H, W) or (B, T, C, H, W), got {tuple(t.shape)}")
    return t.float().to(next(model.parameters()).device)


def _cell(model: nn.Module, layer: int) -> tuple[nn.Module, int]:
    """The cell of ``layer`` (negative counts from the top) and its scale exponent."""
    cells = model.stack.cells
    if not -len(cells) <= layer < len(cells):
        raise ConfigError(f"layer {layer} does not exist: the model has {len(cells)} layers")
    index = layer % len(cells)
    return cells[index], model.stack.scales[index]


@contextmanager
def _recording(blocks: list[nn.Module]) -> Iterator[list[list[dict[str, Any]]]]:
    records: list[list[dict[str, Any]]] = [[] for _ in blocks]
    for block, record in zip(blocks, records, strict=True):
        block.record = record
    try:
        yield records
    finally:
        for block in blocks:
            block.record = None


def _rollout(model: nn.Module, frames: Tensor, input_length: int | None) -> None:
    """Every given frame as input (``input_length=None``), or the first ``input_length`` then predictions."""
    if input_length is None:
        model.predict(frames, 1)
    else:
        if not 1 <= input_length < frames.shape[1]:
            raise InputError(
                f"input_length must be in [1, T-1] = [1, {frames.shape[1] - 1}], got {input_length}"
            )
        model.predict(frames[:, :input_length], frames.shape[1] - input_length)


def _upsample(maps: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    fy, fx = frame_size[0] // maps.shape[-2], frame_size[1] // maps.shape[-1]
    return np.repeat(np.repeat(maps, fy, axis=-2), fx, axis=-1).astype(np.float32)


def attention_maps(
    model: nn.Module,
    frames: Any,
    query: tuple[int, int],
    *,
    layer: int = 0,
    input_length: int | None = None,
    sample: int = 0,
) -> dict[str, np.ndarray]:
    """Attention weights of the ``query`` pixel ``(y, x)`` (frame coordinates) over a layer, per step.

    For ``sa-convlstm`` (SAM) the result has ``"hidden"`` (``softmax(Q_h^T K_h)``,
    the row of the query) and, with its memory attention, ``"memory"``
    (``softmax(Q_h^T K_m)``); for ``sa-convlstm-base``, ``"input"`` (SA on
    ``X_t``) and ``"hidden"`` (SA on ``H_{t-1}``). Each is ``(steps, H, W)`` and
    sums to ``(patch * 2**scale)**2`` over a step (1 per layer position).
    ``frames``: ``(T, C, H, W)`` or ``(B, T, C, H, W)`` (``sample`` picks one of B).
    """
    frames = _batch(frames, model)
    height, width = frames.shape[-2:]
    cell, scale = _cell(model, layer)
    blocks = [m for m in cell.modules() if isinstance(m, (SelfAttentionMemory, SelfAttention))]
    names = {id(m): n for n, m in cell.named_modules()}
    if not blocks:
        raise ConfigError(
            f"layer {layer} has no attention block ({type(cell).__name__}); attention maps need "
            "sa-convlstm or sa-convlstm-base"
        )
    factor = model.patch_size * 2**scale
    y, x = query
    if not (0 <= y < height and 0 <= x < width):
        raise InputError(f"query {query} lies outside the {height}x{width} frame")
    with _recording(blocks) as records:
        _rollout(model, frames, input_length)
    recorded = [(block, record) for block, record in zip(blocks, records, strict=True) if record]
    if not recorded:  # e.g. sa-convlstm with attention=False: a memory without attention
        raise ConfigError(
            f"layer {layer} computes no attention weights (its {type(blocks[0]).__name__} was "
            "built without attention, e.g. attention=False); build the model with attention on"
        )
    out: dict[str, np.ndarray] = {}
    for block, record in recorded:
        for key in [k for k in record[0] if k == "key" or k.endswith("_key")]:
            name = names[id(block)].removesuffix("_attention") if key == "key" else key[:-4]
            steps = []
            for rec in record:
                q = rec["query"][sample, :, y // factor, x // factor]
                k = rec[key][sample]
                w = torch.softmax(rec["scale"] * torch.einsum("c,chw->hw", q, k).flatten(), 0)
                steps.append(w.reshape(k.shape[-2:]).cpu().numpy())
            out[name] = _upsample(np.stack(steps), (height, width))
    return out


def context_maps(
    model: nn.Module,
    frames: Any,
    *,
    layer: int = -1,
    input_length: int | None = None,
    sample: int = 0,
) -> dict[str, np.ndarray]:
    """CE / DCB weight maps and SE gates of one layer (the papers draw the last), per step.

    Keys, present where the layer has the block: ``"ce_input"`` / ``"ce_hidden"``
    (or ``"dcb_input"`` / ``"dcb_hidden"``): the last weight map ``s * sigmoid(.)``
    that CE (DCB) applied to ``X_t`` and to ``H_{t-1}``; ``"se_input_gate"`` and
    ``"se_output_gate"``: SE's ``sigmoid(i)`` (how much of the multi-scale
    feature enters ``C``) and ``sigmoid(o)``. Each is ``(steps, H, W)``, the
    mean over channels.
    """
    frames = _batch(frames, model)
    cell, _ = _cell(model, layer)
    blocks = [
        m for m in cell.modules() if isinstance(m, (AlternatingContext, SpatiotemporalExpression))
    ]
    if not blocks:
        raise ConfigError(
            f"layer {layer} has no CE, DCB or SE block ({type(cell).__name__}); context maps need "
            "cms-lstm, modernn, or a cell built with ce=/dcb=/se="
        )
    with _recording(blocks) as records:
        _rollout(model, frames, input_length)
    out: dict[str, np.ndarray] = {}
    for block, record in zip(blocks, records, strict=True):
        if isinstance(block, SpatiotemporalExpression):
            prefix = "se_"
        else:
            prefix = "ce_" if isinstance(block, ContextEmbedding) else "dcb_"
        for key in record[0]:
            maps = np.stack([rec[key][sample].mean(0).cpu().numpy() for rec in record])
            out[prefix + key] = _upsample(maps, tuple(frames.shape[-2:]))
    return out
