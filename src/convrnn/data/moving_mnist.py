"""Moving MNIST: a seeded generator over real MNIST digits, and the classic fixed test file.

Generator (Srivastava et al. 2015, as in the E3D/CMS-LSTM code): each digit
starts at a uniform position with a uniform direction, moves ``step_length`` of
the free range per frame and bounces off the borders; digits are composed with
``max``. Sequence ``i`` of a dataset depends only on ``(seed, i)``, so any
sequence can be regenerated on its own. Train, validation and test sequences
use the MNIST train, validation and test digits and different seeds; the test
set is generated once from a fixed seed and cached as ``.npy``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from convrnn.data.info import DatasetInfo
from convrnn.data.mnist import data_dir, load_mnist
from convrnn.data.spec import keyword_options, register_dataset
from convrnn.errors import ConfigError, DatasetError, MissingDataError
from convrnn.io import save_npy_atomic

SPLIT_SEEDS = {"train": 1_000, "val": 2_000, "test": 3_000}
DEFAULT_SIZES = {"train": 10_000, "val": 1_000, "test": 10_000}
CLASSIC_SHAPE = (20, 10_000, 64, 64)


def _to_tensor(frames_u8: np.ndarray) -> torch.Tensor:
    """uint8 ``(T, H, W)`` -> float32 ``(T, 1, H, W)`` in [0, 1]."""
    return torch.from_numpy(np.array(frames_u8, dtype=np.uint8)).float().div_(255.0).unsqueeze(1)


class MovingMNIST(Dataset):
    """Sequences ``(T, 1, H, W)`` float32 in [0, 1] of ``num_digits`` bouncing digits."""

    def __init__(
        self,
        digits: np.ndarray,
        num_sequences: int,
        seq_len: int = 20,
        image_size: int = 64,
        num_digits: int = 2,
        seed: int = 0,
        step_length: float = 0.1,
    ) -> None:
        if digits.ndim != 3 or digits.dtype != np.uint8:
            raise ConfigError(f"digits must be uint8 (N, h, w), got {digits.dtype} {digits.shape}")
        if image_size < max(digits.shape[1:]):
            raise ConfigError(f"image_size {image_size} is smaller than a digit {digits.shape[1:]}")
        if num_sequences < 1 or seq_len < 2 or num_digits < 1:
            raise ConfigError("need num_sequences >= 1, seq_len >= 2 and num_digits >= 1")
        self.digits = digits
        self.num_sequences = num_sequences
        self.seq_len = seq_len
        self.image_size = image_size
        self.num_digits = num_digits
        self.seed = seed
        self.step_length = step_length

    def __len__(self) -> int:
        return self.num_sequences

    def sequence(self, index: int) -> np.ndarray:
        """The uint8 frames ``(T, H, W)`` of sequence ``index`` (deterministic)."""
        if not 0 <= index < self.num_sequences:
            raise IndexError(f"sequence {index} out of range [0, {self.num_sequences})")
        rng = np.random.default_rng([self.seed, index])
        dh, dw = self.digits.shape[1:]
        free = np.array([self.image_size - dh, self.image_size - dw], dtype=np.float64)
        frames = np.zeros((self.seq_len, self.image_size, self.image_size), dtype=np.uint8)
        for _ in range(self.num_digits):
            digit = self.digits[rng.integers(len(self.digits))]
            theta = rng.uniform(0.0, 2.0 * np.pi)
            velocity = np.array([np.sin(theta), np.cos(theta)]) * self.step_length
            pos = rng.uniform(0.0, 1.0, size=2)
            for t in range(self.seq_len):
                y, x = np.rint(pos * free).astype(int)
                window = frames[t, y : y + dh, x : x + dw]
                np.maximum(window, digit, out=window)
                pos = pos + velocity
                for axis in range(2):  # bounce off the borders
                    if pos[axis] < 0.0:
                        pos[axis], velocity[axis] = -pos[axis], -velocity[axis]
                    elif pos[axis] > 1.0:
                        pos[axis], velocity[axis] = 2.0 - pos[axis], -velocity[axis]
        return frames

    def generate(self) -> np.ndarray:
        """All sequences as one uint8 array ``(N, T, H, W)``."""
        return np.stack([self.sequence(i) for i in range(self.num_sequences)])

    def __getitem__(self, index: int) -> torch.Tensor:
        return _to_tensor(self.sequence(index))


class FrameArray(Dataset):
    """Sequences stored as a uint8 array ``(N, T, H, W)`` (e.g. memory-mapped), served as float32."""

    def __init__(self, frames: np.ndarray) -> None:
        if frames.ndim != 4 or frames.dtype != np.uint8:
            raise DatasetError(f"expected uint8 (N, T, H, W), got {frames.dtype} {frames.shape}")
        self.frames = frames

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> torch.Tensor:
        return _to_tensor(self.frames[index])


def moving_mnist(
    split: str,
    root: str | os.PathLike | None = None,
    *,
    num_sequences: int | None = None,
    seq_len: int = 20,
    image_size: int = 64,
    num_digits: int = 2,
    digits: np.ndarray | None = None,
    cache: bool | None = None,
) -> Dataset:
    """The Moving MNIST ``split`` ("train", "val", "test") over the cached MNIST digits of that split.

    The test split is generated once (fixed seed) and cached under
    ``<root>/moving_mnist/``; pass ``cache=False`` to skip the cache.
    ``digits`` overrides the MNIST digits (used by tests).
    """
    if split not in SPLIT_SEEDS:
        raise ConfigError(f"split={split!r}; choose one of {tuple(SPLIT_SEEDS)}")
    n = num_sequences if num_sequences is not None else DEFAULT_SIZES[split]
    if digits is None:
        digits, _ = load_mnist(split, root)
    dataset = MovingMNIST(digits, n, seq_len, image_size, num_digits, seed=SPLIT_SEEDS[split])
    if not (split == "test" if cache is None else cache):
        return dataset
    name = f"{split}-n{n}-t{seq_len}-s{image_size}-d{num_digits}-seed{SPLIT_SEEDS[split]}.npy"
    path = data_dir(root) / "moving_mnist" / name
    if not path.exists():
        save_npy_atomic(path, dataset.generate())
    frames = np.load(path, mmap_mode="r")
    if frames.shape != (n, seq_len, image_size, image_size):
        raise DatasetError(
            f"{path}: cached shape {frames.shape} is wrong; delete the file to regenerate it"
        )
    return FrameArray(frames)


def load_classic_test(path: str | os.PathLike) -> FrameArray:
    """The fixed ``mnist_test_seq.npy`` (uint8, shape (20, 10000, 64, 64)), memory-mapped."""
    p = Path(path)
    if not p.exists():
        raise MissingDataError(
            f"{p}: not found (the classic Moving MNIST test file mnist_test_seq.npy)"
        )
    try:
        arr = np.load(p, mmap_mode="r", allow_pickle=False)
    except ValueError as e:
        raise DatasetError(f"{p}: not a readable .npy file ({e})") from e
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[0] != 20 or arr.shape[2:] != (64, 64):
        raise DatasetError(
            f"{p}: expected uint8 of shape (20, N, 64, 64) like mnist_test_seq.npy {CLASSIC_SHAPE}, "
            f"got {arr.dtype} {arr.shape}"
        )
    return FrameArray(np.swapaxes(arr, 0, 1))


def moving_mnist_info(seq_len: int = 20, image_size: int = 64, **_: Any) -> DatasetInfo:
    """Moving MNIST metadata."""
    return DatasetInfo(
        name="moving-mnist",
        description="Moving MNIST: 2 bouncing digits, 28x28 on 64x64 (seeded generator)",
        input_length=seq_len // 2,
        output_length=seq_len - seq_len // 2,
        frame_size=(image_size, image_size),
        channels=1,
        interval="1 frame",
        splits="train digits from the MNIST train split, val from its last 10k, test from the test split",
        papers={
            "ms-rnn": {
                "size": 64,
                "in_out": "10 -> 10",
                "epochs": 20,
                "batch": 4,
                "split": "7:1:2 of 15,000 (paper); code 7:3 with valid = test",
                "optimizer": "Adam 3e-4, L1+L2",
                "source": "MS-RNN paper IV-A/IV-B; official-ms-rnn.md 2.1, 3",
            },
            "ms-lstm": {
                "size": 64,
                "in_out": "10 -> 10",
                "epochs": 40,
                "batch": 4,
                "split": "7:3 of 15,000",
                "optimizer": "Adam 3e-4, L1+L2",
                "source": "MS-LSTM paper 5.1/5.2",
            },
            "cms-lstm": {
                "size": 64,
                "in_out": "10 -> 10",
                "iterations": "80,000 (and 400,000 for CMS-LSTM*)",
                "batch": 8,
                "optimizer": "AdamW 1e-3, L1+L2",
                "source": "CMS-LSTM paper section 4",
            },
            "modernn": {
                "size": 64,
                "in_out": "10 -> 10",
                "iterations": 80000,
                "batch": 32,
                "optimizer": "AdamW 1e-3, L1+L2",
                "source": "MoDeRNN paper 3.1/3.3",
            },
            "sa-convlstm": {
                "size": 64,
                "in_out": "10 -> 10",
                "iterations": 80000,
                "batch": 8,
                "optimizer": "Adam 1e-3, L2",
                "source": "SA-ConvLSTM paper 4.1",
            },
        },
        options={"seq_len": seq_len, "image_size": image_size},
    )


@register_dataset(
    "moving-mnist",
    info=moving_mnist_info,
    options=(*keyword_options(moving_mnist), "test_file"),
    lengths="seq_len",
)
def _moving_mnist_loader(split: str, root: str | os.PathLike | None = None, **options) -> Dataset:
    """Registry entry: ``test_file=PATH`` serves the classic ``mnist_test_seq.npy`` as the test split."""
    test_file = options.pop("test_file", None)
    if split == "test" and test_file is not None:
        return load_classic_test(test_file)
    return moving_mnist(split, root, **options)
