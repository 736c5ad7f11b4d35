"""Lazy, sliceable access to arrays in ``.npy``, ``.npz``, HDF5 and Zarr files (never loaded whole).

* ``.npy``: memory-mapped (``np.load(mmap_mode="r")``);
* ``.npz``: members stored without compression (``np.savez``) are memory-mapped
  in place inside the zip; compressed members (``np.savez_compressed``) must be
  decompressed into memory, which is refused above ``max_in_memory_bytes``
  (convert such files to ``.npy`` or HDF5);
* HDF5 (``.h5``, ``.hdf5``): an ``h5py`` dataset, read slice by slice (reopened
  in each DataLoader worker process);
* Zarr (a ``.zarr`` directory): read slice by slice (``pip install convrnn[zarr]``).
"""

from __future__ import annotations

import importlib.util
import os
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from convrnn.data.errors import DatasetError, MissingDataError

HDF5_SUFFIXES = (".h5", ".hdf5", ".he5")
ARRAY_SUFFIXES = (".npy", ".npz", *HDF5_SUFFIXES, ".zarr")
DEFAULT_MAX_IN_MEMORY = 2 * 1024**3


def array_kind(path: Path) -> str:
    """ "npy", "npz", "hdf5" or "zarr" from the file name; error for anything else."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return "npy"
    if suffix == ".npz":
        return "npz"
    if suffix in HDF5_SUFFIXES:
        return "hdf5"
    zarr_markers = ("zarr.json", ".zarray", ".zgroup")  # Zarr v3, v2 array, v2 group
    if suffix == ".zarr" or (path.is_dir() and any((path / m).exists() for m in zarr_markers)):
        return "zarr"
    raise DatasetError(f"{path}: unsupported array file; use one of {ARRAY_SUFFIXES}")


def _npz_member_memmap(path: Path, member: str) -> np.memmap | None:
    """Memory-map an uncompressed ``.npy`` member of a zip in place, or None if it is compressed."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    if info.compress_type != zipfile.ZIP_STORED:
        return None
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)
        if len(local) < 30 or local[:4] != b"PK\x03\x04":
            raise DatasetError(f"{path}: corrupt zip entry {member!r}")
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        f.seek(info.header_offset + 30 + name_len + extra_len)
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            return None
        offset = f.tell()
    if dtype.hasobject:
        raise DatasetError(f"{path}: member {member!r} holds Python objects; refusing to unpickle")
    needed = offset + dtype.itemsize * int(np.prod(shape))
    if needed > path.stat().st_size:
        raise DatasetError(f"{path}: member {member!r} is truncated (file too short)")
    return np.memmap(
        path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C"
    )


class ArraySource:
    """One array in a file, sliced lazily: ``source[index]`` returns a numpy array."""

    def __init__(
        self,
        path: str | os.PathLike,
        key: str | None = None,
        max_in_memory_bytes: int = DEFAULT_MAX_IN_MEMORY,
    ) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise MissingDataError(f"{self.path}: array file not found")
        self.kind = array_kind(self.path)
        self.max_in_memory_bytes = max_in_memory_bytes
        self._handle: Any = None
        self._array: Any = None
        self._pid: int | None = None
        self.keys = self._list_keys()
        if key is None:
            if len(self.keys) != 1:
                raise DatasetError(
                    f"{self.path}: holds {len(self.keys)} arrays {self.keys[:10]}; choose one with key= "
                    "(or key='*' to read each array as one series)"
                )
            key = self.keys[0]
        elif key not in self.keys:
            raise DatasetError(f"{self.path}: no array {key!r}; it holds {self.keys[:10]}")
        self.key = key
        arr = self._open()
        self.shape: tuple[int, ...] = tuple(int(s) for s in arr.shape)
        self.dtype = np.dtype(arr.dtype)
        if not (np.issubdtype(self.dtype, np.number) or self.dtype == bool):
            raise DatasetError(f"{self.path}:{key}: non-numeric dtype {self.dtype}")

    def _list_keys(self) -> list[str]:
        return array_keys(self.path)

    def _open(self) -> Any:
        if self._array is not None and self._pid == os.getpid():
            return self._array
        self._pid = os.getpid()
        if self.kind == "npy":
            try:
                self._array = np.load(self.path, mmap_mode="r", allow_pickle=False)
            except ValueError as e:
                raise DatasetError(f"{self.path}: unreadable or truncated .npy ({e})") from e
        elif self.kind == "npz":
            member = f"{self.key}.npy"
            mm = _npz_member_memmap(self.path, member)
            if mm is None:
                with zipfile.ZipFile(self.path) as zf:
                    size = zf.getinfo(member).file_size
                if size > self.max_in_memory_bytes:
                    raise DatasetError(
                        f"{self.path}: member {self.key!r} is compressed ({size / 2**30:.1f} GiB "
                        "uncompressed) and cannot be memory-mapped; save it with np.save / np.savez "
                        "(uncompressed) or as HDF5, or raise max_in_memory_bytes"
                    )
                try:
                    with np.load(self.path, allow_pickle=False) as z:
                        mm = z[self.key]
                except (ValueError, OSError, zipfile.BadZipFile) as e:
                    raise DatasetError(f"{self.path}: unreadable member {self.key!r} ({e})") from e
            self._array = mm
        elif self.kind == "hdf5":
            self._handle = _open_h5(self.path)
            self._array = self._handle[self.key]
        else:
            zarr = _zarr()
            node = zarr.open(store=str(self.path), mode="r")
            self._array = node if self.key == "" else node[self.key]
        return self._array

    def __getitem__(self, index: Any) -> np.ndarray:
        arr = self._open()
        try:
            return np.asarray(arr[index])
        except (OSError, ValueError) as e:
            raise DatasetError(f"{self.path}:{self.key}: cannot read {index} ({e})") from e

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_handle"] = state["_array"] = state["_pid"] = None
        return state

    def describe(self) -> str:
        """``path[:key] shape dtype (kind)``."""
        where = f"{self.path}" + (f":{self.key}" if self.key else "")
        return f"{where} {self.shape} {self.dtype} ({self.kind})"


def array_keys(path: Path) -> list[str]:
    """The arrays of a file: ``[""]`` for a lone array, member names (HDF5: full paths) otherwise."""
    kind = array_kind(path)
    if kind == "npy":
        return [""]
    if kind == "npz":
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError) as e:
            raise DatasetError(f"{path}: unreadable .npz ({e}); is it truncated?") from e
        return [n.removesuffix(".npy") for n in names if n.endswith(".npy")]
    if kind == "hdf5":
        h5py = _h5py()
        keys: list[str] = []
        with _open_h5(path) as f:
            f.visititems(
                lambda name, obj: keys.append(name) if isinstance(obj, h5py.Dataset) else None
            )
        return keys
    zarr = _zarr()
    try:
        node = zarr.open(store=str(path), mode="r")
    except Exception as e:
        raise DatasetError(f"{path}: unreadable Zarr store ({e})") from e
    if hasattr(node, "shape"):
        return [""]
    return sorted(name for name, _ in node.arrays())


def _h5py():
    import h5py

    return h5py


def _open_h5(path: Path):
    h5py = _h5py()
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise DatasetError(
            f"{path}: unreadable HDF5 file ({e}); it may be truncated or not HDF5 — re-download or "
            "re-create it"
        ) from e


def _zarr():
    if importlib.util.find_spec("zarr") is None:
        raise ImportError("reading Zarr stores needs zarr: pip install convrnn[zarr]")
    import zarr

    return zarr
