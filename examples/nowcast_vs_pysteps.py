"""convrnn.nowcast next to pysteps' extrapolation nowcast on the same (T, H, W) rain rates, both
scored with pysteps' verification on the pixels the radar observed.

    python examples/nowcast_vs_pysteps.py RUN_DIR ARCHIVE.nc   # a run trained with normalize=rain
"""

from __future__ import annotations

import sys

import numpy as np
import xarray as xr

import convrnn


def main(run: str, archive: str, n_in: int = 4, n_out: int = 6) -> None:
    """Forecast the last ``n_out`` frames of ``archive`` from the ``n_in`` before them."""
    from pysteps import motion, nowcasts
    from pysteps.verification import det_cat_fct, det_cont_fct

    precip = xr.open_dataset(archive)["rainfall_rate"].values  # (T, H, W) mm/h, NaN outside
    obs_in, obs_out = precip[-n_in - n_out : -n_out], precip[-n_out:]

    ours = convrnn.nowcast(run, obs_in, n_out)  # (n_out, H, W) mm/h, NaN where never observed
    flow = motion.get_method("LK")(np.nan_to_num(obs_in))
    theirs = nowcasts.get_method("extrapolation")(
        np.nan_to_num(obs_in[-1]), flow, n_out, extrap_kwargs={"outval": 0.0}
    )
    seen = ~np.isnan(precip[-n_in - n_out :]).any(axis=0)  # observed in every frame
    print("lead  method       CSI(>1 mm/h)  MAE (mm/h)")
    for k in range(n_out):
        for name, fc in (("convrnn", ours), ("pysteps-LK", theirs)):
            f, o = fc[k][seen], obs_out[k][seen]
            csi = det_cat_fct(f, o, thr=1.0, scores=["CSI"])["CSI"]
            mae = det_cont_fct(f, o, scores=["MAE"])["MAE"]
            print(f"+{5 * (k + 1):2d}m  {name:<11s}  {csi:12.3f}  {mae:10.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
