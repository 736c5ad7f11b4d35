"""Datasets yielding ``(T, C, H, W)`` float32 sequences in [0, 1]."""

from convrnn.data.mnist import MnistError, fetch_mnist, load_mnist
from convrnn.data.moving_mnist import FrameArray, MovingMNIST, load_classic_test, moving_mnist
from convrnn.data.registry import (
    CheckReport,
    check_dataset,
    get_dataset,
    list_datasets,
    register_dataset,
)

__all__ = [
    "CheckReport",
    "FrameArray",
    "MnistError",
    "MovingMNIST",
    "check_dataset",
    "fetch_mnist",
    "get_dataset",
    "list_datasets",
    "load_classic_test",
    "load_mnist",
    "moving_mnist",
    "register_dataset",
]
