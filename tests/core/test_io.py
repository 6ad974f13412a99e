"""Depth and colour image files: the KITTI 16-bit depth encoding, and bad files named."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from depth_core.data import (
    DataFileError,
    read_depth_png,
    read_rgb,
    write_depth_png,
    write_rgb_png,
)


def test_depth_png_round_trip_kitti_encoding(tmp_path):
    depth = np.array([[1.0, 2.5, np.nan, -1.0], [0.0, 300.0, 80.123, 255.99]], dtype=np.float32)
    path = tmp_path / "d.png"
    write_depth_png(path, depth)
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16
    assert raw[0, 0] == 256 and raw[0, 1] == 640          # value / 256 = metres
    back = read_depth_png(path)
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back[:, 2:3].ravel(), [0, 20511 / 256])  # NaN -> 0; 80.123 * 256 = 20511.49
    assert back[0, 3] == 0 and back[1, 0] == 0 and back[1, 1] == 0     # negative, zero, too far -> invalid
    assert abs(back[1, 3] - 255.99) <= 1 / 512


def test_rgb_round_trip_and_bad_files_name_themselves(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (5, 7, 3), dtype=np.uint8)
    write_rgb_png(tmp_path / "a.png", rgb)
    np.testing.assert_array_equal(read_rgb(tmp_path / "a.png"), rgb)
    with pytest.raises(DataFileError, match=r"missing.png: missing or not a readable"):
        read_rgb(tmp_path / "missing.png")
    (tmp_path / "junk.png").write_bytes(b"not a png")
    with pytest.raises(DataFileError, match=r"junk.png"):
        read_depth_png(tmp_path / "junk.png")
    with pytest.raises(DataFileError, match=r"a.png: expected a single-channel 16-bit depth PNG"):
        read_depth_png(tmp_path / "a.png")
