"""NetCDF / CF input through xarray: lazy slices, CF decoding, the time axis and the grid kept.

``NetCDFSource(path_or_folder_or_glob, variable=None)`` behaves like the other
array sources (``shape``, ``dtype``, ``source[index]``) over one variable of one
file or of several files concatenated along time, and also carries what a
georeferenced forecast needs (:class:`GridInfo`): the times, the spatial
coordinates, the CRS (grid-mapping) variable, units and attributes.

CF decoding is xarray's: ``scale_factor``/``add_offset`` applied,
``_FillValue``/``missing_value`` -> NaN. Slices are read on demand (xarray's
lazily indexed backend arrays), so a multi-GB file is never loaded whole.
Needs ``pip install convrnn[xarray]`` (xarray, h5netcdf for NetCDF-4/HDF5,
scipy for NetCDF-3).
"""

from __future__ import annotations

import glob as globlib
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convrnn.data.windows import contiguous_runs
from convrnn.errors import DatasetError, MissingDataError

NETCDF_SUFFIXES = (".nc", ".nc4", ".cdf", ".netcdf")
TIME_NAMES = ("time", "t", "valid_time", "datetime")


def is_netcdf(path: str | os.PathLike) -> bool:
    """A NetCDF file, a folder of them, or a glob of them (by name)."""
    text = str(path)
    if any(c in text for c in "*?["):
        return any(Path(p).suffix.lower() in NETCDF_SUFFIXES for p in globlib.glob(text))
    p = Path(path)
    if p.is_dir():
        return any(q.suffix.lower() in NETCDF_SUFFIXES for q in p.iterdir())
    return p.suffix.lower() in NETCDF_SUFFIXES


def netcdf_files(path: str | os.PathLike) -> list[Path]:
    """The NetCDF files of ``path`` (a file, a folder or a glob), sorted by name."""
    text = str(path)
    if any(c in text for c in "*?["):
        files = sorted(Path(p) for p in globlib.glob(text))
    elif Path(path).is_dir():
        files = sorted(q for q in Path(path).iterdir() if q.suffix.lower() in NETCDF_SUFFIXES)
    else:
        files = [Path(path)]
    files = [f for f in files if f.suffix.lower() in NETCDF_SUFFIXES]
    if not files:
        raise MissingDataError(f"{path}: no NetCDF file ({', '.join(NETCDF_SUFFIXES)}) found")
    for f in files:
        if not f.exists():
            raise MissingDataError(f"{f}: NetCDF file not found")
    return files


def _xarray():
    if importlib.util.find_spec("xarray") is None:
        raise ImportError("reading NetCDF needs xarray: pip install convrnn[xarray]")
    import xarray

    return xarray


def open_dataset(path: Path) -> Any:
    """``xarray.open_dataset`` with CF decoding, lazily; a clear error for unreadable files."""
    xr = _xarray()
    try:
        return xr.open_dataset(path, decode_cf=True, mask_and_scale=True, cache=False)
    except (OSError, ValueError, TypeError) as e:
        raise DatasetError(
            f"{path}: unreadable NetCDF file ({e}); it may be truncated, or need an engine: "
            "pip install convrnn[xarray] (h5netcdf for NetCDF-4, scipy for NetCDF-3)"
        ) from e


def data_variables(ds: Any) -> list[str]:
    """Gridded data variables: not coordinates, bounds or grid-mapping (CRS) variables."""
    skip = set()
    for var in ds.data_vars.values():
        for attr in ("grid_mapping", "bounds"):
            if attr in var.attrs:
                skip.add(str(var.attrs[attr]).split(":")[0].strip())
    return [
        str(name)
        for name, var in ds.data_vars.items()
        if name not in skip and var.ndim >= 3 and "grid_mapping_name" not in var.attrs
    ]


def time_dim(var: Any) -> str:
    """The variable's time dimension: a datetime coordinate, else one named like time."""
    for dim in var.dims:
        coord = var.coords.get(dim)
        if coord is not None and np.issubdtype(coord.dtype, np.datetime64):
            return str(dim)
    for dim in var.dims:
        if str(dim).lower() in TIME_NAMES:
            return str(dim)
    return str(var.dims[0])


@dataclass
class GridInfo:
    """What a georeferenced forecast copies from its input: grid, CRS, units, time step."""

    variable: str
    dims: tuple[str, ...]
    units: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    coords: dict[str, tuple[tuple[str, ...], np.ndarray, dict[str, Any]]] = field(
        default_factory=dict
    )
    grid_mapping: tuple[str, dict[str, Any]] | None = None
    time_step: np.timedelta64 | None = None


def _grid_info(ds: Any, variable: str, tdim: str) -> GridInfo:
    var = ds[variable]
    spatial = [d for d in var.dims if d != tdim]
    coords = {}
    for name, coord in var.coords.items():
        if tdim in coord.dims or not set(coord.dims) <= set(spatial):
            continue
        coords[str(name)] = (
            tuple(map(str, coord.dims)),
            np.asarray(coord.values),
            dict(coord.attrs),
        )
    mapping = None
    gm = var.attrs.get("grid_mapping") or var.encoding.get("grid_mapping")
    if gm and str(gm) in ds.variables:
        mapping = (str(gm), dict(ds[str(gm)].attrs))
    attrs = {k: v for k, v in var.attrs.items() if k not in ("grid_mapping",)}
    return GridInfo(
        variable=variable,
        dims=tuple(map(str, var.dims)),
        units=var.attrs.get("units"),
        attrs=attrs,
        coords=coords,
        grid_mapping=mapping,
    )


class NetCDFSource:
    """One variable of NetCDF files concatenated along time, sliced lazily (time first)."""

    kind = "netcdf"

    def __init__(self, path: str | os.PathLike, variable: str | None = None) -> None:
        self.path = Path(path)
        self.files = netcdf_files(path)
        first = open_dataset(self.files[0])
        names = data_variables(first)
        if variable is None:
            if len(names) != 1:
                raise DatasetError(
                    f"{self.files[0]}: holds {len(names)} gridded variables {names}; choose one "
                    "with variable=NAME (e.g. --set data.options.variable=NAME)"
                )
            variable = names[0]
        elif variable not in first.variables:
            raise DatasetError(
                f"{self.files[0]}: no variable {variable!r}; its gridded variables are {names}"
            )
        self.key = variable
        self.tdim = time_dim(first[variable])
        self.grid = _grid_info(first, variable, self.tdim)
        self._counts: list[int] = []
        times: list[np.ndarray] = []
        tail: tuple[int, ...] | None = None
        for f in self.files:
            ds = first if f == self.files[0] else open_dataset(f)
            if variable not in ds.variables:
                raise DatasetError(f"{f}: no variable {variable!r} (the first file has it)")
            var = ds[variable].transpose(self.tdim, ...)
            shape = tuple(int(s) for s in var.shape)
            if tail is not None and shape[1:] != tail:
                raise DatasetError(
                    f"{f}: {variable} has frames of shape {shape[1:]}, the first file {tail}; "
                    "all files must share one grid"
                )
            tail = shape[1:]
            self._counts.append(shape[0])
            if self.tdim in ds.coords:
                times.append(np.asarray(ds[self.tdim].values))
            self.dtype = np.dtype(var.dtype)
            ds.close()
        self.shape = (sum(self._counts), *(tail or ()))
        self.times = np.concatenate(times) if len(times) == len(self.files) else None
        if self.times is not None and not np.issubdtype(self.times.dtype, np.datetime64):
            self.times = None
        #: the time axis' step (validated: no repeated or off-step time), None without one
        if self.times is not None and len(self.times) < 2:
            self.time_step = None  # one frame (a predict input): the run's time step applies
        else:
            self.time_step = (
                None if self.times is None else time_step(self.times, self.describe_path())
            )
        self._starts = np.cumsum([0, *self._counts])
        self._open: dict[int, Any] = {}
        self._pid: int | None = None

    def _variable(self, i: int) -> Any:
        if self._pid != os.getpid():
            self._open, self._pid = {}, os.getpid()
        if i not in self._open:
            self._open[i] = open_dataset(self.files[i])[self.key].transpose(self.tdim, ...)
        return self._open[i]

    def _read(self, frames: np.ndarray, rest: tuple[Any, ...]) -> np.ndarray:
        parts = []
        file_of = np.searchsorted(self._starts, frames, side="right") - 1
        for i in np.unique(file_of):
            local = frames[file_of == i] - self._starts[i]
            index = slice(int(local[0]), int(local[-1]) + 1) if _contiguous(local) else local
            try:
                parts.append(np.asarray(self._variable(int(i))[(index, *rest)].values))
            except (OSError, ValueError, RuntimeError) as e:
                raise DatasetError(f"{self.files[i]}:{self.key}: cannot read frames ({e})") from e
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def __getitem__(self, index: Any) -> np.ndarray:
        first, *rest = index if isinstance(index, tuple) else (index,)
        if isinstance(first, (int, np.integer)):
            return self._read(np.array([int(first) % self.shape[0]]), tuple(rest))[0]
        frames = np.arange(self.shape[0])[first]
        if len(frames) == 0:
            return np.empty((0, *self.shape[1:]), dtype=self.dtype)
        return self._read(frames, tuple(rest))

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_open"], state["_pid"] = {}, None
        return state

    def describe_path(self) -> str:
        """``path:variable``, for messages."""
        return f"{self.path}:{self.key}"

    def describe(self) -> str:
        """``path:variable shape dtype (netcdf, N files)``."""
        files = f", {len(self.files)} files" if len(self.files) > 1 else ""
        return f"{self.path}:{self.key} {self.shape} {self.dtype} (netcdf{files})"


def _contiguous(local: np.ndarray) -> bool:
    return bool(len(local) == 1 or (np.diff(local) == 1).all())


def time_step(times: np.ndarray, where: Any) -> np.timedelta64:
    """The step of a time axis: the smallest difference; every other must be a multiple (a gap).

    Repeated, backward or off-step times raise :class:`DatasetError` naming the first bad time.
    """
    if len(times) < 2:
        raise DatasetError(f"{where}: needs at least 2 times to know the time step")
    d = np.diff(times)
    if (d <= np.timedelta64(0)).any():
        i = int(np.argmax(d <= np.timedelta64(0)))
        what = "repeated" if d[i] == np.timedelta64(0) else "earlier than the one before"
        raise DatasetError(
            f"{where}: time {times[i + 1]} (position {i + 1}) is {what}; times must increase"
        )
    step = d.min()
    off = d % step != np.timedelta64(0)
    if off.any():
        i = int(np.argmax(off))
        raise DatasetError(
            f"{where}: irregular time axis: time {times[i + 1]} (position {i + 1}) is "
            f"{d[i] / np.timedelta64(1, 's'):g} s after the one before, not a multiple of the "
            f"{step / np.timedelta64(1, 's'):g} s step"
        )
    return step


def time_runs(times: np.ndarray, step: np.timedelta64) -> list[tuple[int, int]]:
    """Index ranges ``[i0, i1)`` of consecutive times ``step`` apart (windows never cross a gap)."""
    return contiguous_runs(
        times.astype("datetime64[ns]").astype(np.int64), int(step / np.timedelta64(1, "ns"))
    )
