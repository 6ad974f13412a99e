"""The accumulation's compiled loops (depth_core.geometry.kernels) against the numpy code they
replaced, restated here as references: the same verdicts point for point, the same motion."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from depth_core.geometry import CameraIntrinsics, FreeSpace, hidden_keep, project_points, transform_points
from depth_core.geometry.kernels import _bilinear, _rodrigues, _sobel, _solve6, _taps, align_camera
from depth_core.geometry.sweeps import _LOG_GREY, CameraShades, _occlusion_grid
from depth_core.sim.config import default_config
from depth_core.sim.simulator import Simulator


@pytest.fixture(scope="module")
def drive():
    """Two sweeps of a simulated street, the first moved into the second's LiDAR frame by the
    simulator's poses (past points on surfaces, in front of them and behind them), plus points
    that are not finite."""
    cfg = default_config("street")
    sim = Simulator(replace(cfg, lidar=replace(cfg.lidar, range_noise_std=0.0)), seed=3, frames=4)
    then, now = sim.render(0), sim.render(3)
    T_base_lidar = sim.rig.T_base_lidar
    T = np.linalg.inv(now.T_world_base @ T_base_lidar) @ then.T_world_base @ T_base_lidar
    past = transform_points(T, then.lidar_points.astype(np.float64))
    rng = np.random.default_rng(0)
    past = np.concatenate([past, past[::5] * rng.uniform(0.5, 1.5, (len(past[::5]), 1)),
                           [[np.nan, 1.0, 0.0], [np.inf, 0.0, 0.0], [0.0, 0.0, 0.0]]])
    return now.lidar_points.astype(np.float64), past


def _cells(space: FreeSpace, points):
    """Each point's elevation row, azimuth column and range as numpy computed them (float32, the
    angles cv2's; the row of a point with a NaN coordinate below every row)."""
    azimuth, elevation, rng = space._angles(points)
    pi, two_pi = np.float32(np.pi), np.float32(2 * np.pi)
    azimuth -= two_pi * (azimuth >= pi)
    elevation -= two_pi * (elevation >= pi)
    with np.errstate(invalid="ignore"):
        a = ((azimuth + pi) * np.float32(1 / space.az) + np.float32(0.5)).astype(np.int32) % space.n_az
        e = ((elevation + pi / 2) * np.float32(1 / space.el) + np.float32(0.5)).astype(np.int32)
    e[np.isnan(rng)] = np.int32(-(1 << 30))
    return e, a, rng


def _grid_reference(space: FreeSpace, points):
    """FreeSpace's grid as numpy built it: (lo, rows, start, near, below, above)."""
    e, a, r = _cells(space, points)
    finite = np.isfinite(r)
    e, a, r = e[finite], a[finite], r[finite]
    lo = int(e.min()) if len(e) else 0
    e = e - lo
    rows = np.flatnonzero(np.bincount(e)).astype(np.int32) if len(e) else np.zeros(0, np.int32)
    slot = np.zeros(int(rows[-1]) + 1 if len(rows) else 0, np.int32)
    slot[rows] = np.arange(len(rows), dtype=np.int32)
    start, width = 0, space.n_az
    if len(a):
        used = np.flatnonzero(np.bincount(a, minlength=space.n_az))
        gaps = np.diff(np.r_[used, used[0] + space.n_az])
        widest = int(np.argmax(gaps))
        if gaps[widest] > 1:
            start = int(used[(widest + 1) % len(used)])
            width = space.n_az - int(gaps[widest]) + 1
        a = (a - start) % space.n_az
    k = len(rows)
    near = np.full((k, width), np.inf, np.float32)
    np.minimum.at(near.reshape(-1), slot.take(e) * width + a, r)
    slots = np.arange(k, dtype=np.int32)[:, None]
    occupied = np.isfinite(near)
    below = np.maximum.accumulate(np.where(occupied, slots, np.int32(-1)), axis=0)
    above = np.minimum.accumulate(np.where(occupied, slots, np.int32(k))[::-1], axis=0)[::-1]
    return lo, rows, start, near, below, above


@pytest.mark.parametrize("ahead", [False, True])
def test_the_free_space_grid_is_numpys(drive, ahead):
    newest, past = drive
    # A whole sweep, and the part ahead of a camera (the grid then covers part of the azimuths);
    # with points that are not finite, and none at all.
    points = np.concatenate([newest, past[-3:]])
    if ahead:
        points = points[np.nan_to_num(points[:, 0], nan=-1.0) > 0]
    for cloud in (points, points[:0]):
        space = FreeSpace(cloud)
        expected = _grid_reference(space, cloud)
        assert space.lo == expected[0] and space.start == expected[2]
        for got, want in zip((space.rows, space.near, space.below, space.above), expected[1:2] + expected[3:]):
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)
        assert (ahead and len(cloud) > 0) == (space.near.shape[1] < space.n_az)


def _free_space_reference(space: FreeSpace, points):
    """FreeSpace.test as numpy computed it (the lookups of every point at once)."""
    e, a, r = _cells(space, points)
    e -= space.lo
    a = (a - space.start) % space.n_az
    k, width = space.near.shape
    under, over = np.searchsorted(space.rows, e, "left") - 1, np.searchsorted(space.rows, e, "right")
    inside = np.flatnonzero((a < width) & (under >= 0) & (over < k))
    e, a, under, over = e[inside], a[inside], under[inside], over[inside]
    below, above = space.below.take(under * width + a), space.above.take(over * width + a)
    both = (below >= 0) & (above < k)
    both &= (e - space.rows.take(np.maximum(below, 0)) <= space.gap) & \
        (space.rows.take(np.minimum(above, k - 1)) - e <= space.gap)
    inside, a, below, above = inside[both], a[both], below[both], above[both]
    below, above = space.near.take(below * width + a), space.near.take(above * width + a)
    nearest = np.minimum(below, above)
    own_row = (over - under == 2)[both]
    nearest[own_row] = np.minimum(nearest[own_row], space.near.take((under[both][own_row] + 1) * width + a[own_row]))
    keep, visible = np.ones(len(points), bool), np.ones(len(points), bool)
    r = r[inside]
    keep[inside] = nearest <= r * (1 + space.margin_rel) + space.margin
    visible[inside] = np.maximum(below, above) >= r * (1 - space.margin_rel) - space.margin
    return keep, visible


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_free_space_lookup_is_numpys(drive, dtype):
    newest, past = drive
    space = FreeSpace(newest)
    keep, visible = space.test(past.astype(dtype))
    expected_keep, expected_visible = _free_space_reference(space, past.astype(dtype))
    np.testing.assert_array_equal(keep, expected_keep)
    np.testing.assert_array_equal(visible, expected_visible)
    assert 0 < (~keep).sum() and 0 < (~visible).sum()         # both verdicts are exercised


def _hidden_reference(points, candidates, camera, reach_deg=(1.0, 3.0), thickness_deg=0.25, margin_rel=0.1,
                      gone_margin_rel=0.3, cell_deg=0.15):
    """hidden_keep as numpy and five minimum filters computed it."""
    keep = np.ones(len(points), bool)
    ahead = np.flatnonzero(points[:, 2] > 0.1)
    grid = _occlusion_grid(camera, cell_deg)
    K, h, w = grid.K, grid.height, grid.width
    near, index = project_points(points[ahead], K, h, w, return_index=True, empty=np.inf, exact=False)
    px_of = lambda deg, f: int(np.ceil(f * np.tan(np.radians(deg))))  # noqa: E731
    rx, ry = max(1, px_of(reach_deg[0], K[0, 0])), max(1, px_of(reach_deg[1], K[1, 1]))
    tx, ty = px_of(thickness_deg, K[0, 0]), px_of(thickness_deg, K[1, 1])
    flat = index.ravel()
    won = np.flatnonzero(flat >= 0)
    owner = ahead[flat[won]]
    mine = candidates[owner]
    px, owner = won[mine], owner[mine]
    d = near.ravel()[px]
    limit = d / (1 + margin_rel)
    rows, cols = np.divmod(px, w)

    def nearer(size, anchor, shift):
        eroded = cv2.erode(near, np.ones(size[::-1], np.uint8), anchor=anchor, borderType=cv2.BORDER_CONSTANT,
                           borderValue=float(np.inf))
        r, c = rows - shift[1], cols - shift[0]
        inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
        return np.where(inside, eroded.ravel()[np.where(inside, r * w + c, 0)], np.inf) < limit

    hidden = ((nearer((rx, 2 * ty + 1), (rx - 1, ty), (1, 0)) & nearer((rx, 2 * ty + 1), (0, ty), (-1, 0)))
              | (nearer((2 * tx + 1, ry), (tx, ry - 1), (0, 1)) & nearer((2 * tx + 1, ry), (tx, 0), (0, -1))))
    newest = np.full(h * w, np.inf, np.float32)
    newest[won[~mine]] = near.ravel()[won[~mine]]
    around = cv2.erode(newest.reshape(h, w), np.ones((2 * ry + 1, 2 * rx + 1), np.uint8),
                       borderType=cv2.BORDER_CONSTANT, borderValue=float(np.inf)).ravel()[px]
    keep[owner[hidden | (np.isfinite(around) & (around > d * (1 + gone_margin_rel)))]] = False
    return keep


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reach_deg, gone_margin_rel", [((1.0, 3.0), 0.3), ((2.0, 3.0), 0.15)])
def test_the_occlusion_rule_is_numpys(drive, reach_deg, gone_margin_rel, dtype):
    newest, past = drive
    R = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])    # LiDAR x ahead -> camera z
    with np.errstate(invalid="ignore"):     # (the points that are not finite)
        points = np.concatenate([newest, past]) @ R.T
    candidates = np.arange(len(points)) >= len(newest)
    kitti = CameraIntrinsics(fx=721.5, fy=721.5, cx=609.6, cy=172.9, width=1242, height=375)
    for camera in (kitti, replace(kitti, width=640, cx=300.0)):
        # (Points a hair beyond 0.1 m ahead too, where float32 and float64 tell them apart.)
        cloud = np.concatenate([points, [[0.0, 0.0, 0.1 + 1e-9], [0.01, 0.0, 0.1 + 1e-9]]]).astype(dtype)
        chosen = np.append(candidates, [True, False])
        keep = hidden_keep(cloud, chosen, camera, reach_deg=reach_deg, gone_margin_rel=gone_margin_rel)
        expected = _hidden_reference(cloud, chosen, camera, reach_deg=reach_deg, gone_margin_rel=gone_margin_rel)
        np.testing.assert_array_equal(keep, expected)
        assert keep[:len(newest)].all() and 0 < (~keep).sum()


def _shades_reference(shades: CameraShades, points, shade, tolerance, spread=3.0):
    """CameraShades.keep as numpy computed it."""
    keep = np.ones(len(points), bool)
    cam, c = transform_points(shades.T_cam_lidar, points), shades.camera
    z = cam[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1 / z
        u, v = np.rint(c.fx * cam[:, 0] * inv + c.cx), np.rint(c.fy * cam[:, 1] * inv + c.cy)
    ok = np.flatnonzero((z > 0.1) & (u >= 0) & (u < c.width) & (v >= 0) & (v < c.height))
    pix = v[ok].astype(np.intp) * c.width + u[ok].astype(np.intp)
    s = shade[ok]
    seen = np.isfinite(s)
    ok, pix, s = ok[seen], pix[seen], s[seen]
    if len(ok) < 10:
        return keep
    d = s - _LOG_GREY.take(shades.grey.ravel().take(pix))
    offset = float(np.median(d))
    if not np.isscalar(tolerance):
        tolerance = float(np.clip(spread * 1.4826 * float(np.median(np.abs(d - offset))), *tolerance))
    s = s - offset
    # The darkest and brightest within reach, a grey level wider each way, over the whole image.
    kernel = np.ones((2 * shades.reach + 1, 2 * shades.reach + 1), np.uint8)
    darkest, brightest = cv2.subtract(cv2.erode(shades.grey, kernel), 1), cv2.add(cv2.dilate(shades.grey, kernel), 1)
    lo, hi = _LOG_GREY.take(darkest.ravel().take(pix)), _LOG_GREY.take(brightest.ravel().take(pix))
    keep[ok[(s < lo - tolerance) | (s > hi + tolerance)]] = False
    return keep


@pytest.mark.parametrize("dtype, shade_dtype", [(np.float32, np.float32), (np.float64, np.float32),
                                                (np.float32, np.float64)])
def test_the_photometric_test_is_numpys(dtype, shade_dtype):
    cam = CameraIntrinsics(fx=300.0, fy=300.0, cx=159.5, cy=119.5, width=320, height=240)
    rng = np.random.default_rng(4)
    image = cv2.resize(rng.uniform(20, 230, (24, 32)), (320, 240), interpolation=cv2.INTER_CUBIC).astype(np.uint8)
    n = 3000
    points = np.stack([rng.uniform(-4, 4, n), rng.uniform(-3, 3, n), rng.uniform(-1, 8, n)], 1).astype(dtype)
    shade = (rng.normal(4.5, 0.6, n) + rng.normal(0, 0.05, n)).astype(shade_dtype)
    shade[::17] = np.nan
    for reach in (1, 2):      # (the image's edges included: the points cover it)
        shades = CameraShades(image, np.eye(4), cam, reach=reach)
        for tolerance in ((0.04, 0.3), (0.2, 0.25), 0.1):
            keep = shades.keep(points, shade, tolerance)
            np.testing.assert_array_equal(keep, _shades_reference(shades, points, shade, tolerance))
            assert 0 < (~keep).sum() < n
    with pytest.raises(ValueError, match="reach must be 0 or more"):
        CameraShades(image, np.eye(4), cam, reach=-1)
    # Too few points in the image to measure the exposure change by: all kept.
    assert shades.keep(points[:12], shade[:12]).all() and _shades_reference(shades, points[:12], shade[:12], 0.1).all()


def _bilinear_reference(image, u, v):
    """The image between its pixels at (u, v) taken as float32 coordinates (as cv2.remap with
    float32 maps takes them in OpenCV 5; earlier versions round them to 1/32 of a pixel)."""
    u, v = np.asarray(u, np.float32), np.asarray(v, np.float32)
    x0, y0 = np.floor(u).astype(int), np.floor(v).astype(int)
    ax, ay = (u - x0).astype(np.float64), (v - y0).astype(np.float64)
    x1, y1 = np.minimum(x0 + 1, image.shape[1] - 1), np.minimum(y0 + 1, image.shape[0] - 1)
    return ((1 - ay) * ((1 - ax) * image[y0, x0] + ax * image[y0, x1])
            + ay * ((1 - ax) * image[y1, x0] + ax * image[y1, x1]))


def _sobels(level):
    return (cv2.Sobel(level, cv2.CV_32F, 1, 0, ksize=3, scale=1 / 8), cv2.Sobel(level, cv2.CV_32F, 0, 1, ksize=3,
                                                                                scale=1 / 8))


def test_the_alignments_samples_are_bilinear_and_its_steps_numpys():
    rng = np.random.default_rng(1)
    level = cv2.GaussianBlur(rng.uniform(3, 5.5, (90, 130)).astype(np.float32), (5, 5), 0)
    u, v = rng.uniform(1.001, 130 - 2.001, 500), rng.uniform(1.001, 90 - 2.001, 500)
    gx, gy = _sobels(level)
    for channel, pick in ((level, None), (gx, 0), (gy, 1)):
        expected = _bilinear_reference(channel, u, v)
        got = []
        for uu, vv in zip(u, v):
            x0, y0, ax, ay = _taps(uu, vv)
            if pick is None:
                got.append(_bilinear(level, x0, y0, ax, ay))
            else:   # the gradient image's four taps, blended as _bilinear blends
                taps = np.array([[_sobel(level, y, x)[pick] for x in (x0, x0 + 1)] for y in (y0, y0 + 1)], np.float32)
                got.append(_bilinear(taps, 0, 0, ax, ay))
        np.testing.assert_allclose(got, expected, rtol=0, atol=2e-6)
    for w in ([0.0, 0.0, 0.0], [1e-9, 0.0, 0.0], [0.01, -0.02, 0.005], [0.4, 0.1, -0.3]):
        np.testing.assert_allclose(_rodrigues(np.array(w)), cv2.Rodrigues(np.array(w))[0], atol=1e-15)
    A = rng.normal(size=(6, 6))
    A = A @ A.T + 1e-3 * np.eye(6)
    b = rng.normal(size=6)
    np.testing.assert_allclose(_solve6(A, b), np.linalg.solve(A, b), rtol=1e-9)


def test_one_gauss_newton_pass_is_numpys():
    # Points 5 m ahead on a textured wall, from two images (groups) with their own exposures.
    rng = np.random.default_rng(2)
    level = cv2.GaussianBlur(rng.uniform(3, 5.5, (120, 160)).astype(np.float32), (7, 7), 0)
    fx = fy = 150.0
    cx, cy = 79.5, 59.5
    v, u = np.mgrid[10:110:2, 10:150:2].reshape(2, -1).astype(np.float64)
    P = np.stack([(u - cx) / fx * 5.0 + 0.01, (v - cy) / fy * 5.0 - 0.02, np.full(len(u), 5.0)], 1)
    groups = (np.arange(len(P)) >= len(P) // 3).astype(np.int64)
    s = _bilinear_reference(level, u, v) + np.where(groups == 1, 0.2, -0.1) + rng.normal(0, 0.02, len(u))
    T, enough, first, cost = align_camera(P, s, groups, level, fx, fy, cx, cy, 1, 0.0, 0.0)
    assert enough
    # The same pass in numpy: bilinear samples of the image and its Sobel gradients, each group's
    # median difference out, Huber weights, the 6x6 normal equations.
    pu, pv = fx * P[:, 0] / P[:, 2] + cx, fy * P[:, 1] / P[:, 2] + cy
    L, Gx, Gy = (_bilinear_reference(c, pu, pv) for c in (level, *_sobels(level)))
    r = L - s
    for g in (0, 1):
        r[groups == g] -= np.median(r[groups == g])
    spread = 1.4826 * np.median(np.abs(r)) + 1e-4
    a = np.abs(r)
    w = np.where(a <= 1.5 * spread, 1.0, 1.5 * spread / a)
    w[a > 5 * spread] = 0.0
    z = P[:, 2]
    dQ = np.stack([Gx * fx / z, Gy * fy / z, -(Gx * fx * P[:, 0] + Gy * fy * P[:, 1]) / z ** 2], 1)
    J = np.concatenate([np.cross(P, dQ), dQ], 1)
    step = -np.linalg.solve((J * w[:, None]).T @ J + 1e-6 * np.eye(6), (J * w[:, None]).T @ r)
    expected = np.eye(4)
    expected[:3, :3], expected[:3, 3] = cv2.Rodrigues(step[:3])[0], step[3:]
    # To a micrometre and a microradian: the samples are the reference's to float32's rounding
    # (2e-6 above), which the solve amplifies a little.
    np.testing.assert_allclose(T, expected, atol=1e-6)
    huber = np.where(a <= 1.5 * spread, 0.5 * a ** 2, 1.5 * spread * (np.minimum(a, 5 * spread) - 0.75 * spread))
    assert first == pytest.approx(huber.mean(), rel=1e-5)
    assert cost < first          # the step lowered the cost
    # Fewer than 200 points in the image: not enough.
    assert not align_camera(P[:199], s[:199], groups[:199], level, fx, fy, cx, cy, 1, 0.0, 0.0)[1]


def test_a_point_on_the_last_interior_row_reads_nothing_beyond_the_image():
    # A point just inside the last row the alignment samples (by float64) lands on it in float32:
    # its taps on the row after carry no weight and must not be read (with the image in a larger
    # buffer of NaN, a read would poison the solve).
    rows, cols = 40, 60
    rng = np.random.default_rng(0)
    alone = cv2.GaussianBlur(rng.uniform(3, 5, (rows, cols)).astype(np.float32), (5, 5), 0)
    buffer = np.full((rows + 3, cols), np.nan, np.float32)
    buffer[:rows] = alone
    inside = buffer[:rows]
    f, c = 50.0, (29.5, 19.5)
    v, u = np.mgrid[3:rows - 4:0.5, 3:cols - 4:0.5].reshape(2, -1)
    v, u = np.append(v, rows - 2 - 1e-7), np.append(u, 20.3)     # float32(v) is rows - 2
    assert np.float32(v[-1]) == rows - 2 and v[-1] < rows - 2
    P = np.stack([(u - c[0]) / f * 5, (v - c[1]) / f * 5, np.full(len(u), 5.0)], 1)
    s = _bilinear_reference(alone, u, v) + rng.normal(0, 0.01, len(u))
    groups = np.zeros(len(u), np.int64)
    expected = align_camera(P, s, groups, alone, f, f, *c, 2, 0.0, 0.0)
    got = align_camera(P, s, groups, inside, f, f, *c, 2, 0.0, 0.0)
    assert expected[1] and got[1] and np.isfinite(got[0]).all()
    np.testing.assert_array_equal(got[0], expected[0])


def test_without_a_writable_cache_the_loops_are_compiled_in_each_process(monkeypatch, caplog):
    # numba refuses cache=True at decoration where no cache directory can be written (a read-only
    # install, a user without a home): the module still loads, compiles per process, and says so.
    import importlib.util

    import numba

    from depth_core.geometry import kernels

    real = numba.njit

    def njit(*args, cache=False, **kwargs):
        if cache:
            raise RuntimeError("cannot cache function 'f': no locator available for file 'kernels.py'")
        return real(*args, **kwargs)

    monkeypatch.setattr(numba, "njit", njit)
    spec = importlib.util.spec_from_file_location("kernels_uncached", kernels.__file__)
    module = importlib.util.module_from_spec(spec)
    with caplog.at_level("WARNING", logger="depth_core.geometry"):
        spec.loader.exec_module(module)
    assert "align_camera" in module._uncached and "NUMBA_CACHE_DIR" in caplog.text
    assert caplog.text.count("cannot cache") == 1          # said once, not per loop
    assert module._median_inplace(np.array([3.0, 1.0, 2.0, 7.0])) == 2.5
