"""A config's data splits: the loader options it implies and the checked dataset (no Lightning needed).

The Lightning DataModule that batches them is :mod:`convrnn.train.datamodule`.
"""

from __future__ import annotations

from typing import Any

from torch.utils.data import Dataset

from convrnn.data import dataset_spec, get_dataset
from convrnn.errors import ConfigError, DatasetError


def split_length(cfg: dict[str, Any], split: str) -> int:
    """Frames per sequence of ``split``: inputs + outputs (``data.test_output_length`` for test)."""
    data = cfg["data"]
    out = data["output_length"]
    if split == "test" and data["test_output_length"] is not None:
        out = data["test_output_length"]
    return data["input_length"] + out


def dataset_options(cfg: dict[str, Any], split: str, normalizer: Any = None) -> dict[str, Any]:
    """The options passed to the dataset loader for ``split`` (lengths filled in from the config)."""
    data = cfg["data"]
    spec = dataset_spec(data["name"])
    options = spec.length_options(data["input_length"], split_length(cfg, split))
    options.update({**data["options"], **data[f"{split}_options"]})
    if normalizer is not None and spec.takes_normalizer:
        options.setdefault("normalizer", normalizer)
    return options


def load_split(cfg: dict[str, Any], split: str, normalizer: Any = None) -> Dataset:
    """The ``split`` dataset of a config, checked to yield the configured number of frames.

    ``normalizer`` (a dict or Normalizer fitted on the training split) is reused
    by datasets that fit one, so every split is normalised the same way.
    """
    data = cfg["data"]
    dataset = get_dataset(
        data["name"], data["root"], split, **dataset_options(cfg, split, normalizer)
    )
    if len(dataset) == 0:
        raise DatasetError(
            f"the {split} split of dataset {data['name']!r} holds no sequence of "
            f"data.input_length + output_length = {split_length(cfg, split)} frames"
        )
    sample = dataset[0]
    total = split_length(cfg, split)
    if sample.dim() != 4 or sample.shape[0] != total:
        raise ConfigError(
            f"dataset {data['name']!r} ({split}) yields sequences of shape {tuple(sample.shape)}, but "
            f"data.input_length + data.output_length = {total} frames (T, C, H, W) are needed; "
            "set the lengths or the dataset's sequence-length option to match"
        )
    return dataset
