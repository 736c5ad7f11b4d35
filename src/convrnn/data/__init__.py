"""Datasets yielding ``(T, C, H, W)`` float32 sequences in [0, 1].

``get_dataset(name, root, split, **options)`` builds a split; ``dataset_info(name,
**options)`` gives its metadata (lengths, frame size, radar conversion);
``check_dataset(name, root, **options)`` validates a user's copy;
``resolve_data_argument(value)`` reads a ``--data`` value (a name or a path).
Each dataset is registered once, as a :class:`DatasetSpec` (``register_dataset``).
"""

from convrnn.data.check import DatasetReport, check_dataset
from convrnn.data.errors import DatasetError, MissingDataError
from convrnn.data.info import DatasetInfo, RadarSpec
from convrnn.data.mnist import MnistError, fetch_mnist, load_mnist
from convrnn.data.moving_mnist import FrameArray, MovingMNIST, load_classic_test, moving_mnist
from convrnn.data.normalize import Normalizer, fit_minmax
from convrnn.data.registry import (
    dataset_info,
    dataset_spec,
    get_dataset,
    list_datasets,
    resolve_data_argument,
)
from convrnn.data.spec import DatasetSpec, register_dataset, register_dataset_class
from convrnn.data.windows import Window, WindowDataset

__all__ = [
    "DatasetError",
    "DatasetInfo",
    "DatasetReport",
    "DatasetSpec",
    "FrameArray",
    "MissingDataError",
    "MnistError",
    "MovingMNIST",
    "Normalizer",
    "RadarSpec",
    "Window",
    "WindowDataset",
    "check_dataset",
    "dataset_info",
    "dataset_spec",
    "fetch_mnist",
    "fit_minmax",
    "get_dataset",
    "list_datasets",
    "load_classic_test",
    "load_mnist",
    "moving_mnist",
    "register_dataset",
    "register_dataset_class",
    "resolve_data_argument",
]
