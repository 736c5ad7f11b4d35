"""Named datasets: ``get_dataset(name, root, split, **options)``."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from torch.utils.data import Dataset

DatasetLoader = Callable[..., Dataset]
_DATASETS: dict[str, DatasetLoader] = {}
_DATASET_MODULES = ("convrnn.data.moving_mnist",)


def register_dataset(name: str) -> Callable[[DatasetLoader], DatasetLoader]:
    """Decorator registering ``loader(split, root, **options) -> Dataset`` under ``name``."""

    def wrap(loader: DatasetLoader) -> DatasetLoader:
        if name in _DATASETS:
            raise ValueError(f"dataset {name!r} is registered twice")
        _DATASETS[name] = loader
        return loader

    return wrap


def _load() -> None:
    for module in _DATASET_MODULES:
        importlib.import_module(module)


def list_datasets() -> list[str]:
    """Names of the registered datasets."""
    _load()
    return sorted(_DATASETS)


def get_dataset(name: str, root: Any = None, split: str = "train", **options: Any) -> Dataset:
    """The ``split`` of dataset ``name`` under ``root``: yields ``(T, C, H, W)`` float32 in [0, 1]."""
    _load()
    if name not in _DATASETS:
        raise KeyError(f"unknown dataset {name!r}; valid datasets: {', '.join(sorted(_DATASETS))}")
    return _DATASETS[name](split, root, **options)


class CheckReport:
    """What ``check_dataset`` found: one line per split, ``ok`` if every split loaded."""

    def __init__(self, name: str, root: Any) -> None:
        self.name = name
        self.root = root
        self.lines: list[str] = []
        self.ok = True

    def __str__(self) -> str:
        status = "OK" if self.ok else "PROBLEMS FOUND"
        return "\n".join([f"dataset {self.name!r} at {self.root}: {status}", *self.lines])


def check_dataset(
    name: str, root: Any = None, splits: tuple[str, ...] = ("train", "val", "test"), **options: Any
) -> CheckReport:
    """Load every split of a dataset and report sequence counts and shapes, or exactly what failed."""
    report = CheckReport(name, root)
    for split in splits:
        try:
            dataset = get_dataset(name, root, split, **options)
            sample = dataset[0]
            report.lines.append(
                f"  {split}: {len(dataset)} sequences of shape {tuple(sample.shape)} "
                f"(T, C, H, W), values in [{float(sample.min()):.3g}, {float(sample.max()):.3g}]"
            )
        except Exception as e:  # report every failure, whatever its type, with its message
            report.ok = False
            report.lines.append(f"  {split}: FAILED: {type(e).__name__}: {e}")
    return report
