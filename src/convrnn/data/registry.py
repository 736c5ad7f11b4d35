"""Named datasets: ``get_dataset(name, root, split, **options)`` and ``dataset_info(name, **options)``."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from torch.utils.data import Dataset

if TYPE_CHECKING:
    from convrnn.data.info import DatasetInfo

DatasetLoader = Callable[..., Dataset]
InfoFunction = Callable[..., "DatasetInfo"]
_DATASETS: dict[str, DatasetLoader] = {}
_INFOS: dict[str, InfoFunction] = {}
_DATASET_MODULES = (
    "convrnn.data.moving_mnist",
    "convrnn.data.kth",
    "convrnn.data.taxibj",
    "convrnn.data.hko7",
    "convrnn.data.germany",
    "convrnn.data.typhoon",
    "convrnn.data.arrays",
)


def register_dataset(name: str) -> Callable[[DatasetLoader], DatasetLoader]:
    """Decorator registering ``loader(split, root, **options) -> Dataset`` under ``name``."""

    def wrap(loader: DatasetLoader) -> DatasetLoader:
        if name in _DATASETS:
            raise ValueError(f"dataset {name!r} is registered twice")
        _DATASETS[name] = loader
        return loader

    return wrap


def register_info(name: str) -> Callable[[InfoFunction], InfoFunction]:
    """Decorator registering ``info(**options) -> DatasetInfo`` for dataset ``name``."""

    def wrap(fn: InfoFunction) -> InfoFunction:
        if name in _INFOS:
            raise ValueError(f"dataset info {name!r} is registered twice")
        _INFOS[name] = fn
        return fn

    return wrap


def _load() -> None:
    for module in _DATASET_MODULES:
        importlib.import_module(module)
    importlib.import_module("convrnn.data.builtin_info")


def list_datasets() -> list[str]:
    """Names of the registered datasets."""
    _load()
    return sorted(_DATASETS)


def _known(name: str) -> None:
    if name not in _DATASETS:
        raise KeyError(f"unknown dataset {name!r}; valid datasets: {', '.join(sorted(_DATASETS))}")


def get_dataset(name: str, root: Any = None, split: str = "train", **options: Any) -> Dataset:
    """The ``split`` of dataset ``name`` under ``root``: yields ``(T, C, H, W)`` float32 in [0, 1]."""
    _load()
    _known(name)
    return _DATASETS[name](split, root, **options)


def dataset_info(name: str, **options: Any) -> DatasetInfo:
    """Metadata of dataset ``name`` under ``options`` (default lengths, size, radar conversion)."""
    _load()
    _known(name)
    if name not in _INFOS:
        raise KeyError(f"dataset {name!r} has no registered info")
    return _INFOS[name](**options)
