"""``forecast.nc``: a forecast on its input's grid, with valid times, coordinates, CRS and CF units."""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from convrnn.data.netcdf import GridInfo, _xarray
from convrnn.errors import InputError
from convrnn.io import current_umask


def valid_times(last_input_time: np.datetime64, step: np.timedelta64, horizon: int) -> np.ndarray:
    """``last + k * step`` for ``k = 1 .. horizon``."""
    return np.datetime64(last_input_time, "ns") + step * np.arange(1, horizon + 1)


def forecast_dataset(
    forecast: np.ndarray,
    grid: GridInfo,
    last_input_time: np.datetime64,
    source: str,
    variable: str | None = None,
) -> Any:
    """An ``xarray.Dataset`` of ``forecast`` ``(horizon, *frame)`` in the input's units and grid."""
    xr = _xarray()
    if grid.time_step is None:
        raise InputError("the run has no time step; forecast.nc needs one (train on NetCDF input)")
    frame_dims = tuple(d for d in grid.dims if d not in _time_like(grid))
    if forecast.ndim != 1 + len(frame_dims):
        raise InputError(
            f"forecast of shape {forecast.shape} does not fit the grid's dims {frame_dims}"
        )
    times = valid_times(last_input_time, grid.time_step, forecast.shape[0])
    name = variable or grid.variable
    attrs = {k: v for k, v in grid.attrs.items() if not k.startswith("_")}
    attrs.update({"long_name": f"forecast of {attrs.get('long_name', name)}", "source": source})
    if grid.units is not None:
        attrs["units"] = grid.units
    if grid.grid_mapping is not None:
        attrs["grid_mapping"] = grid.grid_mapping[0]
    coords: dict[str, Any] = {
        "time": ("time", times, {"standard_name": "time", "long_name": "valid time"})
    }
    coords.update({k: (dims, values, dict(a)) for k, (dims, values, a) in grid.coords.items()})
    data_vars: dict[str, Any] = {name: (("time", *frame_dims), forecast.astype(np.float32), attrs)}
    if grid.grid_mapping is not None:
        data_vars[grid.grid_mapping[0]] = ((), np.int32(0), dict(grid.grid_mapping[1]))
    ds = xr.Dataset(data_vars, coords=coords)
    ds.attrs.update(
        {"Conventions": "CF-1.8", "source": source, "title": f"convrnn nowcast of {name}"}
    )
    return ds


def _time_like(grid: GridInfo) -> set[str]:
    return {grid.dims[0]}


def write_forecast_netcdf(path: str | os.PathLike, dataset: Any) -> Path:
    """Write ``dataset`` to ``path`` atomically (NetCDF-4 via h5netcdf, else scipy's NetCDF-3)."""
    path = Path(path)
    engine = "h5netcdf" if importlib.util.find_spec("h5netcdf") else "scipy"
    encoding = {n: {"_FillValue": np.float32(np.nan)} for n in dataset.data_vars if dataset[n].ndim}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        dataset.to_netcdf(tmp, engine=engine, encoding=encoding)
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
