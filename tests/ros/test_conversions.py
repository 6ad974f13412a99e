"""Message conversions, each checked with both message libraries: rosbags (bags) and rclpy (live)."""

from __future__ import annotations

import numpy as np
import pytest

from depth_core.geometry import CameraIntrinsics, make_transform, rotation_from_euler
from depth_ros.conversions import (
    ConversionError,
    camera_info_to_msg,
    camera_matrix_note,
    depth_from_msg,
    depth_to_msg,
    image_from_msg,
    image_to_msg,
    intrinsics_from_camera_info,
    make_header,
    pointcloud_from_msg,
    pointcloud_to_msg,
    rclpy_types,
    rgb_from_msg,
    rosbags_types,
    stamp_to_ns,
    transform_from_msg,
    transform_to_msg,
    tree_from_tf_messages,
)


@pytest.fixture(params=["rosbags", "rclpy"])
def types(request):
    return rosbags_types() if request.param == "rosbags" else rclpy_types()


def _header(types, stamp_ns=1_700_000_000_123_456_789, frame="cam"):
    return make_header(types, stamp_ns, frame)


RNG = np.random.default_rng(0)


@pytest.mark.parametrize("encoding, pixels", [
    ("rgb8", RNG.integers(0, 255, (4, 5, 3), dtype=np.uint8)),
    ("bgra8", RNG.integers(0, 255, (4, 5, 4), dtype=np.uint8)),
    ("mono8", RNG.integers(0, 255, (4, 5), dtype=np.uint8)),
    ("mono16", RNG.integers(0, 65535, (4, 5), dtype=np.uint16)),
    ("16UC1", RNG.integers(0, 65535, (4, 5), dtype=np.uint16)),
    ("32FC1", RNG.normal(size=(4, 5)).astype(np.float32)),
    ("8UC3", RNG.integers(0, 255, (4, 5, 3), dtype=np.uint8)),
])
def test_image_round_trip(types, encoding, pixels):
    msg = image_to_msg(types, pixels, encoding, _header(types))
    assert msg.encoding == encoding and msg.height == 4 and msg.width == 5
    assert stamp_to_ns(msg.header.stamp) == 1_700_000_000_123_456_789 and msg.header.frame_id == "cam"
    np.testing.assert_array_equal(image_from_msg(msg), pixels)


def test_image_decoding_honours_row_padding_and_big_endian(types):
    pixels = np.arange(12, dtype=np.uint16).reshape(3, 4) * 1000
    padded = np.zeros((3, 12), dtype=np.uint8)            # step 12 > 4 px * 2 bytes
    padded[:, :8] = pixels.astype(">u2").view(np.uint8).reshape(3, 8)
    msg = types.Image(header=_header(types), height=3, width=4, encoding="16UC1", is_bigendian=1, step=12,
                      data=types.byte_array(padded))
    np.testing.assert_array_equal(image_from_msg(msg), pixels)


@pytest.mark.parametrize("mutate, reason", [
    (lambda m: setattr(m, "encoding", "yuv_weird"), "unknown_encoding"),
    (lambda m: setattr(m, "step", 5), "step_mismatch"),
    (lambda m: setattr(m, "height", 9), "truncated_data"),
    (lambda m: setattr(m, "width", 0), "bad_size"),
])
def test_bad_images_raise_with_a_reason(types, mutate, reason):
    msg = image_to_msg(types, np.zeros((4, 5, 3), np.uint8), "rgb8", _header(types))
    mutate(msg)
    with pytest.raises(ConversionError) as exc:
        image_from_msg(msg)
    assert exc.value.reason == reason and "Image" in str(exc.value)


def test_colour_conversion_to_rgb(types):
    rgb = RNG.integers(0, 255, (6, 8, 3), dtype=np.uint8)
    alpha = np.full((6, 8), 255, np.uint8)
    for enc, pixels in [("rgb8", rgb), ("bgr8", rgb[..., ::-1]), ("rgba8", np.dstack([rgb, alpha])),
                        ("bgra8", np.dstack([rgb[..., ::-1], alpha]))]:
        np.testing.assert_array_equal(rgb_from_msg(image_to_msg(types, np.ascontiguousarray(pixels), enc,
                                                                _header(types))), rgb)
    grey = rgb_from_msg(image_to_msg(types, rgb[..., 0].copy(), "mono8", _header(types)))
    assert grey.shape == (6, 8, 3) and (grey[..., 0] == rgb[..., 0]).all()


def test_bayer_rggb_is_demosaiced_to_the_right_colours(types):
    # A flat orange scene seen through an RGGB mosaic must come back orange.
    r, g, b = 200, 120, 30
    mosaic = np.empty((8, 8), np.uint8)
    mosaic[0::2, 0::2], mosaic[0::2, 1::2], mosaic[1::2, 0::2], mosaic[1::2, 1::2] = r, g, g, b
    rgb = rgb_from_msg(image_to_msg(types, mosaic, "bayer_rggb8", _header(types)))
    np.testing.assert_allclose(rgb[2:-2, 2:-2].reshape(-1, 3).mean(0), [r, g, b], atol=2)


def test_depth_images_in_metres_and_millimetres(types):
    depth = np.array([[1.5, np.nan, 0.0], [np.inf, 2.0, -1.0]], dtype=np.float32)
    back = depth_from_msg(depth_to_msg(types, depth, _header(types)))
    assert back[0, 0] == 1.5 and back[1, 1] == 2.0 and np.isnan(back[[0, 0, 1, 1], [1, 2, 0, 2]]).all()
    mm = np.array([[1500, 0]], dtype=np.uint16)
    np.testing.assert_array_equal(depth_from_msg(image_to_msg(types, mm, "16UC1", _header(types))), [[1.5, np.nan]])
    with pytest.raises(ConversionError, match="not a depth encoding"):
        depth_from_msg(image_to_msg(types, np.zeros((2, 2, 3), np.uint8), "rgb8", _header(types)))


def test_pointcloud_round_trip_keeps_fields_and_types(types):
    n = 50
    fields = {"x": RNG.normal(size=n).astype(np.float32), "y": RNG.normal(size=n).astype(np.float32),
              "z": RNG.normal(size=n).astype(np.float32), "intensity": RNG.uniform(0, 255, n).astype(np.float32),
              "ring": RNG.integers(0, 64, n).astype(np.uint16)}
    msg = pointcloud_to_msg(types, _header(types), fields)
    assert msg.point_step == 18 and msg.width == n and msg.height == 1
    assert [f.name for f in msg.fields] == list(fields) and msg.fields[4].datatype == 4  # UINT16
    back = pointcloud_from_msg(msg, names=list(fields))
    for name, values in fields.items():
        np.testing.assert_array_equal(back[name], values)
        assert back[name].dtype == values.dtype


def test_a_cloud_given_interleaved_is_the_same_message(types):
    xyz = RNG.normal(size=(4, 5, 3)).astype(np.float32)
    fields = {"x": xyz[..., 0], "y": xyz[..., 1], "z": xyz[..., 2]}
    plain = pointcloud_to_msg(types, _header(types), fields, height=4)
    given = pointcloud_to_msg(types, _header(types), fields, height=4, packed=xyz)
    assert bytes(given.data) == bytes(plain.data) and given.point_step == 12 and given.row_step == 60
    back = pointcloud_from_msg(given)
    for name, values in fields.items():
        np.testing.assert_array_equal(back[name], values.reshape(-1))
    for bad in (xyz[..., :2], xyz.astype(np.float64), np.asfortranarray(xyz), xyz[:2]):
        with pytest.raises(ValueError, match="packed"):
            pointcloud_to_msg(types, _header(types), fields, height=4, packed=bad)
    with pytest.raises(ValueError, match="packed"):     # fields of more than one dtype are packed field by field
        pointcloud_to_msg(types, _header(types), {**fields, "ring": np.zeros((4, 5), np.uint16)}, height=4, packed=xyz)


def test_pointcloud_with_padding_big_endian_and_organised_rows(types):
    # Velodyne-like layout: x y z at 0/4/8, 4 bytes padding, intensity at 16, point_step 32, rows padded.
    h, w, step, row_step = 2, 3, 32, 3 * 32 + 8
    xyz = np.arange(h * w * 3, dtype=np.float64).reshape(h * w, 3)
    data = np.zeros((h, row_step), np.uint8)
    for i in range(h * w):
        r, c = divmod(i, w)
        data[r, c * step:c * step + 12] = xyz[i].astype(">f4").view(np.uint8)
        data[r, c * step + 16:c * step + 20] = np.array([i * 10], ">f4").view(np.uint8)
    F = types.PointField
    msg = types.PointCloud2(header=_header(types), height=h, width=w, is_bigendian=True, point_step=step,
                            row_step=row_step, is_dense=False, data=types.byte_array(data),
                            fields=[F(name=name, offset=offset, datatype=7, count=1)
                                    for name, offset in (("x", 0), ("y", 4), ("z", 8), ("intensity", 16))])
    back = pointcloud_from_msg(msg, names=("x", "y", "z", "intensity"))
    np.testing.assert_array_equal(np.stack([back["x"], back["y"], back["z"]], 1), xyz)
    np.testing.assert_array_equal(back["intensity"], np.arange(6) * 10)


def test_bad_clouds_raise_with_a_reason(types):
    msg = pointcloud_to_msg(types, _header(types), {"x": np.zeros(4, np.float32), "y": np.zeros(4, np.float32),
                                                    "z": np.zeros(4, np.float32)})
    msg.point_step = 8  # smaller than its fields (z ends at byte 12)
    with pytest.raises(ConversionError) as exc:
        pointcloud_from_msg(msg)
    assert exc.value.reason == "bad_point_step"
    msg.point_step = 12
    msg.height = 3
    with pytest.raises(ConversionError) as exc:
        pointcloud_from_msg(msg)
    assert exc.value.reason == "truncated_data"
    msg.height = 1
    with pytest.raises(ConversionError) as exc:
        pointcloud_from_msg(msg, names=("x", "y", "z", "ring"))
    assert exc.value.reason == "missing_field"


def test_camera_info_round_trip_binning_roi_and_zero_k(types):
    cam = CameraIntrinsics(720.0, 721.0, 620.5, 187.0, 1242, 375)
    msg = camera_info_to_msg(types, cam, _header(types))
    assert intrinsics_from_camera_info(msg) == cam
    msg.binning_x = msg.binning_y = 2
    assert intrinsics_from_camera_info(msg) == cam.resized(621, 187)
    msg.binning_x = msg.binning_y = 0
    msg.roi = types.RegionOfInterest(x_offset=100, y_offset=50, height=200, width=600, do_rectify=False)
    assert intrinsics_from_camera_info(msg) == cam.cropped(100, 50, 600, 200)
    msg.k = np.zeros(9)
    assert intrinsics_from_camera_info(msg) == cam.cropped(100, 50, 600, 200)   # P is set: auto uses it
    msg.p = np.zeros(12)
    with pytest.raises(ConversionError) as exc:
        intrinsics_from_camera_info(msg)
    assert exc.value.reason == "zero_k"


def test_camera_info_of_a_rectified_image_is_read_from_p(types):
    """KITTI's bags (kitti2bag) carry the raw camera's K and distortion with rectified images and
    their P: the image's focal length is P's (721 px), not K's (960 px). Odometry-type bags fill in
    only P. ``auto`` takes P when it is set, as image_geometry does; ``k`` and ``p`` choose."""
    raw = CameraIntrinsics(959.79, 956.93, 696.02, 224.18, 1242, 375)
    rect = CameraIntrinsics(721.54, 721.54, 609.56, 172.85, 1242, 375)
    msg = camera_info_to_msg(types, rect, _header(types), distortion=[-0.37, 0.20, 2.2e-3, 1.4e-3, -7.2e-2])
    msg.k = raw.K.reshape(-1)
    assert intrinsics_from_camera_info(msg) == rect
    assert intrinsics_from_camera_info(msg, "p") == rect
    assert intrinsics_from_camera_info(msg, "k") == raw
    note = camera_matrix_note(msg)
    assert "projecting with P (fx 721.5; not 959.8)" in note and "camera_matrix" in note
    assert "projecting with K" in camera_matrix_note(msg, "k")
    assert camera_matrix_note(camera_info_to_msg(types, rect, _header(types))) is None   # K == P
    msg.k = np.zeros(9)                                                                  # P only
    assert intrinsics_from_camera_info(msg) == rect and camera_matrix_note(msg) is None
    with pytest.raises(ConversionError) as exc:
        intrinsics_from_camera_info(msg, "k")
    assert exc.value.reason == "zero_k"
    msg.k, msg.p = raw.K.reshape(-1), np.zeros(12)                                       # K only
    assert intrinsics_from_camera_info(msg) == raw
    with pytest.raises(ConversionError) as exc:
        intrinsics_from_camera_info(msg, "p")
    assert exc.value.reason == "zero_p"
    with pytest.raises(ValueError, match="expected one of auto, p, k"):
        intrinsics_from_camera_info(msg, "q")


def test_transforms_round_trip_and_build_a_tree():
    types = rosbags_types()  # tf2_msgs is not among the PyPI rclpy wheels
    T = make_transform(rotation_from_euler(0.1, 0.2, 0.3), [1, 2, 3])
    msg = transform_to_msg(types, "base_link", "lidar_link", T, 5 * 10**9)
    parent, child, T_back, stamp = transform_from_msg(msg)
    assert (parent, child, stamp) == ("base_link", "lidar_link", 5 * 10**9)
    np.testing.assert_allclose(T_back, T, atol=1e-12)
    tree = tree_from_tf_messages([types.TFMessage(transforms=[msg])])
    np.testing.assert_allclose(tree.lookup("base_link", "lidar_link"), T, atol=1e-12)
