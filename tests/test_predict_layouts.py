"""``convrnn predict --layout``: every layout the arrays dataset reads gives the same (N, T, C, H, W)."""

from __future__ import annotations

import numpy as np
import pytest

from convrnn.data.array_splits import LAYOUTS, to_ntchw
from convrnn.errors import InputError
from convrnn.predict import read_frames

BASE = np.random.default_rng(0).random((2, 4, 3, 8, 6), dtype=np.float32)  # N, T, C, H, W


def in_layout(layout: str) -> np.ndarray:
    """``BASE`` (one sequence and one channel where the layout has no N or C axis) in ``layout``."""
    x = BASE if layout.startswith("N") else BASE[0]
    if "C" not in layout:
        x = x[..., 0, :, :]
    elif layout.endswith("HWC"):
        x = np.moveaxis(x, -3, -1)
    return np.ascontiguousarray(x)


def expected(layout: str) -> np.ndarray:
    x = BASE if layout.startswith("N") else BASE[:1]
    return x if "C" in layout else x[:, :, :1]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_reads_as_ntchw(tmp_path, layout):
    np.save(tmp_path / "x.npy", in_layout(layout))
    got = read_frames(tmp_path / "x.npy", layout=layout)
    np.testing.assert_array_equal(got, expected(layout))
    np.testing.assert_array_equal(to_ntchw(in_layout(layout), layout), expected(layout))


def test_default_layouts_are_the_documented_ones(tmp_path):
    for layout in ("THW", "TCHW", "NTCHW"):
        np.save(tmp_path / "x.npy", in_layout(layout))
        np.testing.assert_array_equal(read_frames(tmp_path / "x.npy"), expected(layout))


def test_layout_errors_name_the_option(tmp_path):
    np.save(tmp_path / "x.npy", in_layout("NTHW"))
    with pytest.raises(InputError, match="layout NTHWC needs a 5-D array, got 4-D"):
        read_frames(tmp_path / "x.npy", layout="NTHWC")
    with pytest.raises(InputError, match="layout 'HWT' is unknown; pass --layout one of THW"):
        read_frames(tmp_path / "x.npy", layout="HWT")
    np.save(tmp_path / "y.npy", np.zeros((2, 2), np.float32))
    with pytest.raises(InputError, match="cannot infer the layout of a 2-D array; pass --layout"):
        read_frames(tmp_path / "y.npy")
    (tmp_path / "png").mkdir()
    with pytest.raises(InputError, match="folder of PNG frames is TCHW; drop --layout THWC"):
        read_frames(tmp_path / "png", layout="THWC")
