from __future__ import annotations

import numpy as np
import pytest

from depth_core.geometry import (
    CameraIntrinsics,
    TransformTree,
    backproject,
    compose,
    invert_transform,
    make_transform,
    matrix_to_quaternion,
    organised_cloud,
    organised_points,
    points_in_front,
    project_lidar,
    project_points,
    quaternion_to_matrix,
    ring_image,
    rotation_from_euler,
    transform_coordinates,
    transform_from_xyzquat,
    transform_points,
    transform_to_xyzquat,
    validate_intrinsic_matrix,
)

CAM = CameraIntrinsics(fx=500.0, fy=480.0, cx=319.5, cy=239.5, width=640, height=480)


def _project(cam: CameraIntrinsics, p):
    return cam.fx * p[0] / p[2] + cam.cx, cam.fy * p[1] / p[2] + cam.cy


def test_resized_intrinsics_keep_pixel_centres_consistent():
    p = np.array([0.7, -0.3, 4.0])
    u, v = _project(CAM, p)
    half = CAM.resized(320, 240)
    u2, v2 = _project(half, p)
    # A full-resolution coordinate u maps to (u + 0.5) / 2 - 0.5 at half resolution.
    assert u2 == pytest.approx((u + 0.5) / 2 - 0.5)
    assert v2 == pytest.approx((v + 0.5) / 2 - 0.5)
    assert (half.width, half.height) == (320, 240)


def test_cropped_intrinsics_shift_the_principal_point():
    p = np.array([0.2, 0.1, 3.0])
    u, v = _project(CAM, p)
    crop = CAM.cropped(100, 40, 300, 200)
    u2, v2 = _project(crop, p)
    assert (u2, v2) == pytest.approx((u - 100, v - 40))
    with pytest.raises(ValueError, match="exceeds"):
        CAM.cropped(500, 0, 300, 200)


def test_intrinsics_dict_round_trip():
    assert CameraIntrinsics.from_dict(CAM.to_dict()) == CAM
    assert CameraIntrinsics.from_matrix(CAM.K, 640, 480) == CAM


@pytest.mark.parametrize("K, match", [
    (np.zeros((3, 3)), "focal lengths must be positive"),
    (np.eye(4), "3x3"),
    ([[500, 0, 1], [0, 500, 1], [0, 0, np.nan]], "non-finite"),
    ([[500, 0, 1], [0, 500, 1], [0, 1, 1]], r"\[0, 0, 1\]"),
    ([[500, 0, 1], [0, 500, 1], [1e-7, 0, 1]], r"\[0, 0, 1\]"),
    ([[500, 0, 1], [0, 500, 1], [0, 0, 1.0001]], r"\[0, 0, 1\]"),
    ([[500, 0, 1], [3, 500, 1], [0, 0, 1]], r"\[0, 0, 1\]"),
])
def test_invalid_intrinsic_matrices_are_rejected(K, match):
    with pytest.raises(ValueError, match=match):
        validate_intrinsic_matrix(K, "K")


def test_the_last_row_is_checked_as_numpys_allclose_would():
    # Each entry at np.allclose's tolerance (1e-8, and 1e-8 + 1e-5 around 1) and one float either side.
    def around(a):
        return [np.nextafter(a, -np.inf), a, np.nextafter(a, np.inf)]
    values = {0: around(-1e-8) + around(1e-8) + [0.0], 2: around(1 - (1e-8 + 1e-5)) + around(1 + (1e-8 + 1e-5))}
    for i in range(3):
        for value in values.get(i, values[0]):
            last = [0.0, 0.0, 1.0]
            last[i] = float(value)
            K = [[500, 0, 1], [0, 500, 1], last]
            if np.allclose(last, [0, 0, 1]):
                validate_intrinsic_matrix(K, "K")
            else:
                with pytest.raises(ValueError, match=r"\[0, 0, 1\]"):
                    validate_intrinsic_matrix(K, "K")


def test_backproject_then_project_is_identity():
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 20.0, (48, 64)).astype(np.float32)
    depth[5, 7] = np.nan
    depth[9, 9] = 0.0
    cam = CAM.resized(64, 48)
    points = backproject(depth, cam.K)
    assert points.shape == (48, 64, 3)
    assert np.isnan(points[5, 7]).all() and np.isnan(points[9, 9]).all()
    assert np.allclose(points[..., 2][np.isfinite(depth) & (depth > 0)], depth[np.isfinite(depth) & (depth > 0)])
    rendered = project_points(points.reshape(-1, 3), cam.K, 48, 64)
    expected = np.where(np.isfinite(depth) & (depth > 0), depth, 0)
    np.testing.assert_allclose(rendered, expected, rtol=1e-6)


def test_project_points_zbuffer_keeps_the_nearest_and_reports_the_winner():
    K = CAM.K
    ray = np.array([(100 - CAM.cx) / CAM.fx, (50 - CAM.cy) / CAM.fy, 1.0])
    points = np.stack([ray * 9.0, ray * 2.0, ray * 5.0, [0, 0, -1.0], [np.nan, 0, 1]])
    depth, index = project_points(points, K, 480, 640, return_index=True)
    assert depth[50, 100] == pytest.approx(2.0)
    assert index[50, 100] == 1
    assert np.count_nonzero(depth) == 1
    assert (index >= 0).sum() == 1
    # ``empty``: the value of the pixels no point reached; the rest and the winners are the same.
    far, far_index = project_points(points, K, 480, 640, return_index=True, empty=np.inf)
    assert np.isinf(far).sum() == 480 * 640 - 1 and far[50, 100] == depth[50, 100]
    np.testing.assert_array_equal(far_index, index)
    np.testing.assert_array_equal(project_points(points, K, 480, 640, empty=-1.0),
                                  np.where(depth > 0, depth, np.float32(-1.0)))


def test_the_fast_projection_puts_points_in_the_same_pixels_away_from_their_edges():
    rng = np.random.default_rng(3)
    points = np.c_[rng.uniform(-20, 20, 5000), rng.uniform(-3, 3, 5000), rng.uniform(0.5, 60, 5000)]
    points[::50] = np.nan
    # Only points at least 1e-3 px from a pixel's edge, where float32 cannot move them across it.
    u = CAM.fx * points[:, 0] / points[:, 2] + CAM.cx + 0.5
    v = CAM.fy * points[:, 1] / points[:, 2] + CAM.cy + 0.5
    with np.errstate(invalid="ignore"):
        clear = (np.abs(u - np.round(u)) > 1e-3) & (np.abs(v - np.round(v)) > 1e-3)
    points = points[clear | np.isnan(points).any(axis=1)]
    exact, exact_index = project_points(points, CAM.K, 480, 640, return_index=True, empty=np.inf)
    fast, fast_index = project_points(points.astype(np.float32), CAM.K, 480, 640, return_index=True,
                                      empty=np.inf, exact=False)
    assert np.isfinite(exact).sum() > 1000
    np.testing.assert_array_equal(fast_index, exact_index)
    np.testing.assert_allclose(fast, exact, rtol=1e-6)


def _plain_projection(points, K, height, width, work, min_depth=1e-3):
    """project_points as one expression per step (what it computes in place), with its winners."""
    K, xyz = K.astype(work), np.asarray(points).astype(work)
    x, y, z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        col = np.floor((K[0, 0] * x + K[0, 1] * y) / z + K[0, 2] + 0.5)
        row = np.floor(K[1, 1] * y / z + K[1, 2] + 0.5)
        ok = (z > min_depth) & (z < np.inf) & (col >= 0) & (col < width) & (row >= 0) & (row < height)
    idx = np.flatnonzero(ok)
    flat = row[idx].astype(np.int64) * width + col[idx].astype(np.int64)
    zk = z[idx].astype(np.float32)
    depth = np.full(height * width, np.inf, np.float32)
    np.minimum.at(depth, flat, zk)
    index = np.full(height * width, -1, np.int32)
    won = zk == depth[flat]
    index[flat[won]] = idx[won]
    return depth.reshape(height, width), index.reshape(height, width)


@pytest.mark.parametrize("skew", [0.0, -0.0, 0.7])
def test_the_projection_is_its_plain_formula_bit_for_bit(skew):
    """project_points computes its pixels in place, in steps; every point lands where the plain
    expression floor((fx x + s y) / z + cx + 0.5) puts it, and wins where it would: in float64 and
    float32, from float64, float32, float16, integer and strided points, with NaN, inf, -0.0,
    points behind the camera and points a rounding away from a column's or a row's edge."""
    rng = np.random.default_rng(8)
    K = np.array([[525.3, skew, 319.37], [0.0, 524.9, 239.71], [0.0, 0.0, 1.0]])
    n = 20000
    z = rng.uniform(-2, 60, n)
    y = rng.uniform(-0.5, 0.5, n) * z
    x = rng.uniform(-1.5, 1.5, n) * z
    # On the edges: u (or v) + 0.5 an integer, then the neighbouring floats either side.
    edge_u, edge_v = slice(3, 6000, 3), slice(4, 6000, 3)
    u = np.round(rng.uniform(0, 640, n)) - 0.5
    v = np.round(rng.uniform(0, 480, n)) - 0.5
    x[edge_u] = ((u[edge_u] - K[0, 2]) * z[edge_u] - skew * y[edge_u]) / K[0, 0]
    y[edge_v] = (v[edge_v] - K[1, 2]) * z[edge_v] / K[1, 1]
    x[edge_u][::2] = np.nextafter(x[edge_u][::2], np.inf)
    y[edge_v][1::2] = np.nextafter(y[edge_v][1::2], -np.inf)
    points = np.c_[x, y, z]
    points[::97, 0], points[1::89, 1], points[2::83, 2], points[5::101, 1] = np.nan, np.inf, -np.inf, np.nan
    points[7::103, 0] = -0.0
    inputs = [points, points.astype(np.float32), points.astype(np.float16), np.asfortranarray(points),
              np.nan_to_num(points * 10, posinf=0.0, neginf=0.0).astype(np.int32),
              np.repeat(points, 2, axis=0)[::2]]
    for exact in (True, False):
        for pts in inputs:
            expected = _plain_projection(pts, K, 480, 640, np.float64 if exact else np.float32)
            depth, index = project_points(pts, K, 480, 640, return_index=True, empty=np.inf, exact=exact)
            assert np.isfinite(depth).sum() > 4000, (pts.dtype, exact)
            np.testing.assert_array_equal(depth, expected[0])
            np.testing.assert_array_equal(index, expected[1])


def test_integer_pixel_coordinates_are_pixel_centres():
    K = np.array([[100.0, 0, 0], [0, 100.0, 0], [0, 0, 1]])
    z = 2.0
    below, above = 3.49, 3.51  # u values; pixel 3 spans [2.5, 3.5)
    pts = np.array([[below * z / 100, 0, z], [above * z / 100, 1.0 * z / 100, z]])
    depth = project_points(pts, K, 4, 8)
    assert depth[0, 3] == z and depth[1, 4] == z


def test_quaternions_and_matrices_round_trip():
    rng = np.random.default_rng(1)
    for _ in range(50):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        q = -q if q[3] < 0 else q
        R = quaternion_to_matrix(q)
        assert np.allclose(R @ R.T, np.eye(3)) and np.linalg.det(R) == pytest.approx(1.0)
        np.testing.assert_allclose(matrix_to_quaternion(R), q, atol=1e-9)
    # 90 degrees about z, in ROS [x, y, z, w] order.
    np.testing.assert_allclose(quaternion_to_matrix([0, 0, np.sqrt(0.5), np.sqrt(0.5)]) @ [1, 0, 0], [0, 1, 0],
                               atol=1e-12)


def test_transform_points_keeps_shape_and_float_dtype_and_matches_the_matrix_product():
    T = make_transform(rotation_from_euler(0.3, -0.1, 1.2), [4.0, -2.0, 0.5])
    points = np.random.default_rng(0).normal(size=(2, 500, 3)) * 30
    expected = points @ T[:3, :3].T + T[:3, 3]
    np.testing.assert_allclose(transform_points(T, points), expected, rtol=1e-12, atol=1e-12)
    single = transform_points(T, points[0].astype(np.float32))
    assert single.dtype == np.float32 and single.shape == (500, 3)
    np.testing.assert_allclose(single, expected[0], rtol=1e-5, atol=1e-4)
    strided = transform_points(T, points[0, ::2])                       # not contiguous
    np.testing.assert_allclose(strided, expected[0, ::2], rtol=1e-12, atol=1e-12)
    assert transform_points(T, np.arange(6).reshape(2, 3)).dtype == np.float64   # integers: float64
    assert transform_points(T, np.ones(3, np.float16)).dtype == np.float16
    assert transform_points(T, np.zeros((0, 3), np.float32)).shape == (0, 3)


def test_transform_helpers_compose_and_invert():
    T_ab = make_transform(rotation_from_euler(0.1, -0.2, 0.3), [1, 2, 3])
    T_bc = transform_from_xyzquat([0.5, 0, -1, 0, 0, 0.3826834, 0.9238795])
    T_ac = compose(T_ab, T_bc)
    p_c = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_allclose(transform_points(T_ac, p_c), transform_points(T_ab, transform_points(T_bc, p_c)))
    np.testing.assert_allclose(compose(T_ac, invert_transform(T_ac)), np.eye(4), atol=1e-12)
    np.testing.assert_allclose(transform_from_xyzquat(transform_to_xyzquat(T_ac)), T_ac, atol=1e-12)
    with pytest.raises(ValueError, match="7 numbers"):
        transform_from_xyzquat([1, 2, 3])


def test_transform_tree_resolves_chains_in_both_directions():
    T_base_cam_link = make_transform(rotation_from_euler(0, 0.05, 0), [0.3, 0, 1.6])
    T_link_optical = make_transform(np.array([[0, 0, 1], [-1, 0, 0], [0, -1, 0.0]]))
    T_base_lidar = make_transform(rotation_from_euler(0.01, 0.0, 0.02), [0, 0, 1.7])
    tree = TransformTree()
    tree.add("base_link", "camera_link", T_base_cam_link)
    tree.add("camera_link", "camera_optical_frame", T_link_optical)
    tree.add("/base_link", "lidar", T_base_lidar)
    T_cam_lidar = tree.lookup("camera_optical_frame", "lidar")
    expected = compose(invert_transform(compose(T_base_cam_link, T_link_optical)), T_base_lidar)
    np.testing.assert_allclose(T_cam_lidar, expected, atol=1e-12)
    np.testing.assert_allclose(tree.lookup("lidar", "camera_optical_frame"), invert_transform(expected), atol=1e-12)
    np.testing.assert_allclose(tree.lookup("lidar", "lidar"), np.eye(4))
    tree.add("map", "odom", np.eye(4))
    with pytest.raises(KeyError, match="not connected"):
        tree.lookup("odom", "lidar")
    with pytest.raises(KeyError, match="'radar' is not in the transform tree"):
        tree.lookup("radar", "lidar")


def test_project_lidar_uses_the_extrinsic():
    # LiDAR 1 m to the camera's left (optical -x), axes REP-103: x forward, y left, z up.
    R_cam_lidar = np.array([[0, -1, 0], [0, 0, -1], [1, 0, 0.0]])
    T_cam_lidar = make_transform(R_cam_lidar, [-1.0, 0, 0])
    point_lidar = np.array([[10.0, -1.0, 0.0]])  # 10 m ahead, 1 m right of the LiDAR: in front of the camera
    depth = project_lidar(point_lidar, T_cam_lidar, CAM.K, 480, 640)
    assert depth[240, 320] == pytest.approx(10.0)


def test_points_in_front_move_finite_points_and_keep_their_indices():
    T = make_transform(rotation_from_euler(0.1, -0.2, 0.3), [0.5, -0.2, 0.1])
    rng = np.random.default_rng(0)
    xyz = rng.uniform(-10, 10, (500, 3)).astype(np.float32)
    xyz[::50] = np.nan
    points, keep = points_in_front(xyz[:, 0], xyz[:, 1], xyz[:, 2], T)
    expected = transform_points(T, xyz.astype(np.float64))
    front = np.flatnonzero(np.isfinite(expected).all(1) & (expected[:, 2] > 1e-3))
    np.testing.assert_array_equal(keep, front)
    np.testing.assert_allclose(points, expected[front], rtol=1e-5, atol=1e-4)


def test_ring_image_follows_the_projection_winner():
    points = np.array([[0.0, 0.0, 2.0], [0.0, 0.0, 1.0], [0.4, 0.0, 2.0]])
    K = np.array([[10.0, 0, 2], [0, 10.0, 2], [0, 0, 1]])
    _, index = project_points(points, K, 5, 5, return_index=True)
    rings = ring_image(index, np.array([7, 3, 5]))
    assert rings[2, 2] == 3 and rings[2, 4] == 5 and (rings == -1).sum() == 23   # the nearest point's ring
    assert ring_image(index, None) is None


def test_organised_points_are_backprojected_pixels_with_range_and_frame():
    K = np.array([[50.0, 0, 16], [0, 50.0, 12], [0, 0, 1]])
    depth = np.random.default_rng(1).uniform(1, 20, (24, 32)).astype(np.float32)
    depth[0, 0] = np.nan
    x, y, z = organised_points(depth, K)
    np.testing.assert_allclose(np.stack([x, y, z], -1), backproject(depth, K), rtol=1e-6, equal_nan=True)
    x, y, z = organised_points(depth, K, stride=2, max_range=10.0)
    assert x.shape == (12, 16)
    far = np.linalg.norm(backproject(depth, K)[::2, ::2], axis=-1) > 10.0
    np.testing.assert_array_equal(np.isnan(z), far | np.isnan(depth[::2, ::2]))
    T = make_transform(translation=[1.0, 2.0, 3.0])
    moved = organised_points(depth, K, T_target_camera=T)
    np.testing.assert_allclose(moved[2], organised_points(depth, K)[2] + 3.0, rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_interleaved_cloud_is_the_plain_formula_bit_for_bit(dtype):
    """organised_cloud writes x, y, z straight into one [h, w, 3] array; each is what the plain
    per-plane formula gives (rays times depth, NaN where invalid or beyond the range, then the
    transform), with NaN, inf, 0 and negative depths, float64 depth and every option."""
    K = np.array([[50.0, 0.3, 16.2], [0, 51.0, 12.7], [0, 0, 1]])
    rng = np.random.default_rng(4)
    depth = rng.uniform(1, 20, (24, 32)).astype(dtype)
    tiny = 1e-300 if dtype == np.float64 else 1e-30      # positive, but 0 in float32 (float64 depth)
    depth[0, 0], depth[1, 1], depth[2, 2], depth[3, 3], depth[4, 4] = np.nan, np.inf, 0.0, -1.0, tiny
    T = make_transform(rotation_from_euler(0.1, -0.2, 0.3), [1.0, 2.0, 3.0])
    for stride, max_range, T_target in ((1, 0.0, None), (2, 10.0, None), (3, 0.0, T), (1, 12.0, T)):
        xyz = organised_cloud(depth, K, stride=stride, max_range=max_range, T_target_camera=T_target)
        assert xyz.dtype == np.float32 and xyz.flags.c_contiguous and xyz.shape[-1] == 3
        d = depth[::stride, ::stride]
        pixels = np.stack([*np.meshgrid(np.arange(32.0), np.arange(24.0)), np.ones((24, 32))]).reshape(3, -1)
        rays = np.linalg.inv(K) @ pixels
        rx, ry = (rays[i].reshape(24, 32)[::stride, ::stride].astype(np.float32) for i in range(2))
        with np.errstate(invalid="ignore"):
            z = np.where(np.isfinite(d) & (d > 0), d, np.nan).astype(np.float32)
            x, y = rx * z, ry * z
            if max_range:
                far = x * x + y * y + z * z > max_range * max_range
                x[far] = y[far] = z[far] = np.nan
        if T_target is not None:
            x, y, z = transform_coordinates(T_target, x, y, z)
        np.testing.assert_array_equal(xyz, np.stack([x, y, z], -1))
        views = organised_points(depth, K, stride=stride, max_range=max_range, T_target_camera=T_target)
        np.testing.assert_array_equal(np.stack(views, -1), xyz)
