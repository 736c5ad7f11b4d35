"""Named datasets: ``get_dataset(name, root, split, **options)``, ``dataset_info(name, **options)``.

Importing this module registers the built-in datasets (each loader module registers
its own :class:`~convrnn.data.spec.DatasetSpec`); user code may add more with
:func:`~convrnn.data.spec.register_dataset`.
"""

from __future__ import annotations

import glob as globlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch.utils.data import Dataset

# the built-in datasets register themselves on import
import convrnn.data.arrays
import convrnn.data.germany
import convrnn.data.hko7
import convrnn.data.kth
import convrnn.data.moving_mnist
import convrnn.data.taxibj
import convrnn.data.typhoon  # noqa: F401
from convrnn.data.errors import MissingDataError
from convrnn.data.spec import SPECS, DatasetSpec, register_dataset
from convrnn.errors import check_choice

if TYPE_CHECKING:
    from convrnn.data.info import DatasetInfo

__all__ = [
    "dataset_info",
    "dataset_spec",
    "get_dataset",
    "list_datasets",
    "register_dataset",
    "resolve_data_argument",
]


def list_datasets() -> list[str]:
    """Names of the registered datasets."""
    return sorted(SPECS)


def dataset_spec(name: str) -> DatasetSpec:
    """The registration of dataset ``name`` (:class:`~convrnn.errors.ChoiceError` if unknown)."""
    return SPECS[check_choice("dataset", name, SPECS)]


def get_dataset(name: str, root: Any = None, split: str = "train", **options: Any) -> Dataset:
    """The ``split`` of dataset ``name`` under ``root``: yields ``(T, C, H, W)`` float32 in [0, 1]."""
    spec = dataset_spec(name)
    spec.check_options(options)
    return spec.loader(split, root, **options)


def dataset_info(name: str, **options: Any) -> DatasetInfo:
    """Metadata of dataset ``name`` under ``options`` (default lengths, size, radar conversion)."""
    spec = dataset_spec(name)
    if spec.info is None:
        raise KeyError(f"dataset {name!r} has no registered info")
    spec.check_options(options, spec.info_options())
    return spec.info(**options)


def _looks_like_path(value: str) -> bool:
    return "/" in value or "\\" in value or bool(Path(value).suffix)


def resolve_data_argument(value: str) -> tuple[str, str | None]:
    """A ``--data`` value -> ``(dataset name, root or None)``.

    An existing file or folder, or a glob matching files, is the dataset that reads paths
    (``arrays``) with that root (as before, an existing path wins over a dataset of the same name); else a
    registered name, with no root. A value that looks like a path (a ``/`` or a file
    suffix) but does not exist raises :class:`~convrnn.errors.MissingDataError`; any
    other unknown name a :class:`~convrnn.errors.ChoiceError` listing the datasets.
    """
    readers = [s.name for s in SPECS.values() if s.reads_paths]
    if Path(value).exists() and readers:
        return readers[0], str(Path(value).resolve())  # a run works from any directory
    if any(c in value for c in "*?[") and globlib.glob(value) and readers:
        return readers[0], os.path.abspath(value)  # a glob of series files
    if value not in SPECS and _looks_like_path(value):
        raise MissingDataError(
            f"--data {value}: no such file or folder; give an existing array file or folder "
            f"(.npy/.npz/HDF5/Zarr), or a dataset name: {', '.join(list_datasets())}"
        )
    return dataset_spec(value).name, None
