"""Several LiDAR sweeps as one: odometry, de-skewing, the free-space, occlusion and photometric
rules for moving objects, and the history's resets."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
from scipy.spatial import cKDTree

from depth_core.geometry import (
    CameraIntrinsics,
    FreeSpace,
    PoseHistory,
    Sweep,
    SweepAccumulator,
    deskew,
    free_space_keep,
    hidden_keep,
    make_transform,
    project_points,
    transform_points,
)
from depth_core.geometry.kernels import _median_inplace
from depth_core.geometry.sweeps import CameraShades, log_grey
from depth_core.sim.config import default_config
from depth_core.sim.simulator import R_LINK_OPTICAL, Simulator

# A camera looking along the LiDAR's x axis (LiDAR x forward, y left, z up; camera z ahead).
T_CAM_LIDAR_AHEAD = make_transform(R_LINK_OPTICAL.T)

SECOND = 1_000_000_000


def test_past_sweeps_of_a_static_world_land_on_the_current_surfaces():
    cfg = default_config("street")
    sim = Simulator(replace(cfg, lidar=replace(cfg.lidar, range_noise_std=0.0)), seed=3, frames=5)
    frames = [sim.render(i) for i in range(5)]
    odometry = PoseHistory()
    for f in frames:
        odometry.add(f.stamp_ns, f.T_world_base)
    # Registration alone: the occlusion rule would also drop what the newest sweep's origin cannot
    # see any more (tested below).
    acc = SweepAccumulator(keep=4, odometry=odometry, T_base_lidar=sim.rig.T_base_lidar, occlusion_rule=False)
    for f in frames:
        acc.add(Sweep(f.stamp_ns, f.lidar_points, f.lidar_ring))
    points, rings, used = acc.cloud()
    newest = len(frames[-1].lidar_points)
    assert used == 4 and len(points) > 4 * newest and len(rings) == len(points)
    # Each past point, taken back to the world by the current pose, is where it was measured: on
    # the same (static) surface, within 1 cm.
    T_world_lidar_now = frames[-1].T_world_base @ sim.rig.T_base_lidar
    first = transform_points(frames[0].T_world_base @ sim.rig.T_base_lidar, frames[0].lidar_points)
    distance, _ = cKDTree(transform_points(T_world_lidar_now, points)).query(first)
    assert np.mean(distance < 0.01) > 0.99
    # And against the true depth of the current camera image where they land: as close as the
    # current sweep's own points are (the pixel grid limits both).
    truth = frames[-1].depth
    errors = []
    for part in (points[:newest], points[newest:]):
        depth = project_points(transform_points(sim.rig.T_cam_lidar, part), sim.intrinsics.K,
                               sim.intrinsics.height, sim.intrinsics.width)
        scored = (depth > 0) & np.isfinite(truth)
        errors.append(np.median(np.abs(depth[scored] / truth[scored] - 1)))
    assert errors[1] < max(1.2 * errors[0], 0.003)
    assert acc.counts["dropped_moving"] < 0.01 * len(points)   # a static world has (almost) nothing to drop


def test_the_free_space_rule_drops_a_car_that_drove_away_and_keeps_what_is_hidden():
    # The newest sweep sees a wall 20 m ahead (+x), on rows 0.29 deg apart, and nothing to the left (+y).
    ys, zs = np.meshgrid(np.linspace(-2, 2, 41), np.linspace(-0.5, 0.5, 11))
    wall = np.stack([np.full(ys.size, 20.0), ys.ravel(), zs.ravel()], 1)
    inside = (np.abs(zs.ravel()) < 0.45)                    # rows with a wall row above and below
    car = wall[inside][::7] * 0.5                           # a car 10 m ahead in the same directions, gone now
    behind = wall[::7] * 1.3                                # 26 m: hidden by the wall, not contradicted
    left = np.array([[0.0, 8.0, 0.0], [0.5, 12.0, 0.2]])    # where the newest sweep has no return
    edge = wall[~inside][::7] * 0.5                         # on its top and bottom rows: no ray beyond them
    keep = free_space_keep(np.concatenate([car, behind, left, edge]), wall)
    assert not keep[:len(car)].any()
    assert keep[len(car):].all()


def test_the_free_space_rule_keeps_the_ground_between_rings_and_drops_what_floats_above_it():
    # A LiDAR 1.7 m above flat ground, rings 2 deg apart: each ring meets the ground farther than
    # the one below it. A past ground point between two rings is neither in front of both (the ray
    # below meets the ground nearer) nor behind both; a past point 1 m above the ground, 6 m
    # ahead, is in front of both rays: something that has gone.
    az = np.radians(np.linspace(-20, 20, 81))
    rings = np.radians([-11.0, -9.0, -7.0, -5.0])
    el, a = np.meshgrid(rings, az)
    r = 1.7 / np.sin(-el)
    newest = np.stack([r * np.cos(el) * np.cos(a), r * np.cos(el) * np.sin(a), r * np.sin(el)], -1).reshape(-1, 3)
    ground = np.array([[x, y, -1.7] for x in (9.0, 12.0, 16.0) for y in (-1.0, 0.0, 1.5)])   # -10.7 to -6.1 deg
    floating = np.array([[6.0, y, -0.7] for y in (-1.0, 0.0, 1.5)])                          # -6.6 deg, 1 m up
    keep = free_space_keep(np.concatenate([ground, floating]), newest)
    assert keep[:len(ground)].all()
    assert not keep[len(ground):].any()


def test_the_free_space_rule_keeps_a_thin_surface_that_only_the_points_own_ring_meets():
    # Rings at -2, 0 and +2 deg see a wall 30 m ahead; the middle one meets a rail 10 m ahead
    # across the middle of the view (thinner than the rings' spacing, so the rings beside it pass
    # over and under it). Past points on the rail are static: the ray of their own cell meets it.
    # Past points as near, where the middle ring now reaches the wall, are gone.
    az = np.radians(np.arange(-10.0, 10.01, 0.2))
    rings = np.radians([-2.0, 0.0, 2.0])
    el, a = np.meshgrid(rings, az)
    rail = (el == 0) & (np.abs(a) < np.radians(5))
    r = np.where(rail, 10.0, 30.0 / (np.cos(el) * np.cos(a)))
    newest = np.stack([r * np.cos(el) * np.cos(a), r * np.cos(el) * np.sin(a), r * np.sin(el)], -1)
    # No middle-ring return from -10 to -7 deg (a dropout): there the rings beside a point decide alone.
    newest = newest[~((el == 0) & (a < np.radians(-7)))]

    def at(azimuth_deg, elevation_deg=0.05, rng=10.0):
        a, e = np.radians(azimuth_deg), np.radians(elevation_deg)
        return np.stack([rng * np.cos(e) * np.cos(a), rng * np.cos(e) * np.sin(a), np.full_like(a, rng * np.sin(e))], 1)

    on_rail, gone = at(np.arange(-4.0, 4.1, 0.7)), at(np.r_[np.arange(6.0, 9.1, 0.7), -9.2, -8.3])
    keep = free_space_keep(np.concatenate([on_rail, gone]), newest)
    assert keep[:len(on_rail)].all()
    assert not keep[len(on_rail):].any()


def test_a_ring_on_a_grid_line_stays_in_one_row_of_the_free_space_grid():
    # A VLP-16's rings lie every 2 deg, on the 0.25 deg grid's own multiples: each ring must fill
    # one row though its angles are a hair off (a real sensor's calibration, the fast arctangent's
    # 0.01 deg). A grid with its edges there splits such a ring between two rows.
    az = np.radians(np.arange(-180, 180, 0.2))
    rings = np.radians(np.arange(-15.0, 16.0, 2.0))
    el, a = np.meshgrid(rings, az)
    rng = np.random.default_rng(0)
    r = rng.uniform(2, 80, el.shape)
    el = el + np.radians(rng.uniform(-0.01, 0.01, el.shape))
    sweep = np.stack([r * np.cos(el) * np.cos(a), r * np.cos(el) * np.sin(a), r * np.sin(el)], -1).reshape(-1, 3)
    space = FreeSpace(sweep.astype(np.float32))
    assert len(space.rows) == len(rings)
    np.testing.assert_array_equal(np.diff(space.rows), 8)      # 2 deg apart
    # Every ring's row holds a return in every 0.5 deg column: no ring spilled into a row of its own.
    assert space.near.shape == (len(rings), 720) and np.isfinite(space.near).all()


def test_points_that_are_not_finite_are_kept_and_a_bad_shape_is_refused():
    # A sweep that covers +-60 deg (a dome LiDAR): cv2's vectorised arctangent gives a NaN
    # coordinate an angle of about 45 deg, inside it; such points are not in any free space.
    az = np.radians(np.arange(-180, 180, 1.0))
    rings = np.radians(np.arange(-60.0, 61.0, 2.0))
    el, a = np.meshgrid(rings, az)
    sweep = (10 * np.stack([np.cos(el) * np.cos(a), np.cos(el) * np.sin(a), np.sin(el)], -1)).reshape(-1, 3)
    past = np.tile([[np.nan, 5.0, 1.0], [5.0, np.nan, -1.0], [1.0, 1.0, 1.0]], (16, 1))   # the last: 1.7 m, in front
    keep, visible = FreeSpace(sweep).test(past)
    assert keep[2::3].sum() == 0                                  # the finite ones are in free space
    finite = np.isfinite(past).all(axis=1)
    assert keep[~finite].all() and visible[~finite].all()
    with pytest.raises(ValueError, match=r"points must be \[N,3\], got shape \(3, 4\)"):
        FreeSpace(np.ones((3, 4)))


def test_past_points_hidden_from_the_newest_origin_are_dropped_and_those_beside_it_kept():
    # The newest sweep: a wall 10 m ahead, 4 m wide, rows 1 deg apart, a point every 0.3 deg on
    # each. Past points: 5 m behind the wall's middle (hidden), and just beyond its ends at 15 m
    # (no ray there is nearer).
    wall = _wall(10.0)
    space = FreeSpace(wall)
    behind = np.array([[15.0, 0.0, 0.1], [15.0, 1.0, -0.3]])
    beside = np.array([[15.0, 3.5, 0.1], [15.0, -3.2, 0.0]])
    # Just above the wall's top row and below its bottom row, in its columns: a nearer ray on one
    # side only (an edge), which hides nothing.
    over = np.array([[15.0, 0.0, 15.0 * np.tan(np.radians(5.6))], [15.0, 1.0, -15.0 * np.tan(np.radians(5.6))]])
    assert not space.visible(behind).any()
    assert space.visible(beside).all() and space.visible(over).all()
    assert space.keep(behind).all() and space.keep(beside).all()   # neither is in front of the wall
    # A point that is not finite is not a return: the grid ignores it.
    assert not FreeSpace(np.r_[wall, [[np.nan, 0.0, 0.0]]]).visible(behind).any()


def test_deskewing_moves_each_point_by_the_odometry_at_its_time():
    # The robot drives +x at 10 m/s; in 100 ms the LiDAR sweeps a wall at x = 20 m (world).
    odometry = PoseHistory()
    for k in range(12):
        t = k * 10_000_000
        odometry.add(t, make_transform(translation=[10.0 * t / SECOND, 0, 0]))
    times = np.linspace(0, 100_000_000, 50).astype(np.int64)
    y = np.linspace(-5, 5, 50)
    measured = np.stack([20.0 - 10.0 * times / SECOND, y, np.zeros(50)], 1)   # in the LiDAR at its own time
    sweep = Sweep(0, measured, None, times)
    assert np.ptp(measured[:, 0]) > 0.99                                      # skewed by 1 m
    straight = deskew(sweep, odometry, np.eye(4), 20_000_000)
    np.testing.assert_allclose(straight[:, 0], 20.0, atol=0.006)   # at the sweep's stamp, to the 1 ms pose grid


def test_time_running_backwards_and_an_odometry_jump_clear_the_history():
    odometry = PoseHistory()
    for k in range(10):
        odometry.add(k * SECOND // 10, make_transform(translation=[0.1 * k, 0, 0]))
    odometry.add(SECOND, make_transform(translation=[500.0, 0, 0]))         # a reset: 500 m in 0.1 s
    acc = SweepAccumulator(keep=3, odometry=odometry, T_base_lidar=np.eye(4))
    cloud = np.array([[5.0, 0, 0]])
    for k in range(4):
        acc.add(Sweep(k * SECOND // 10, cloud))
    assert len(acc.history) == 4
    acc.add(Sweep(SECOND // 10, cloud))                                      # the bag looped
    assert len(acc.history) == 1 and acc.counts["cleared_time"] == 1
    acc.add(Sweep(9 * SECOND // 10, cloud))
    acc.add(Sweep(SECOND, cloud))
    assert len(acc.history) == 1 and acc.counts["cleared_jump"] == 1


def test_a_sweep_without_odometry_is_used_alone_and_counted():
    odometry = PoseHistory()
    odometry.add(0, np.eye(4))
    acc = SweepAccumulator(keep=3, odometry=odometry, T_base_lidar=np.eye(4), tolerance_ns=1000)
    acc.add(Sweep(0, np.array([[5.0, 0, 0]])))
    acc.add(Sweep(SECOND, np.array([[6.0, 0, 0]])))                        # no pose near 1 s
    points, _, used = acc.cloud()
    np.testing.assert_allclose(points, [[6.0, 0, 0]])
    assert used == 0 and acc.counts["no_odometry"] == 1


def test_a_held_history_follows_the_robot():
    odometry = PoseHistory()
    for k in range(20):
        odometry.add(k * SECOND // 10, make_transform(translation=[0.5 * k, 0, 0]))   # 5 m/s
    acc = SweepAccumulator(keep=2, odometry=odometry, T_base_lidar=np.eye(4))
    acc.add(Sweep(0, np.array([[10.0, 0, 0]])))
    # 0.6 s later, no new sweep: the wall 10 m ahead is now 7 m ahead.
    points, _, _ = acc.cloud(stamp_ns=6 * SECOND // 10)
    np.testing.assert_allclose(points, [[7.0, 0, 0]], atol=1e-6)
    # Odometry that lags the LiDAR by 80 ms: the sweep's pose and the image's are both carried on
    # at the last velocity, so the wall is where it is (before, the sweep took the pose of 80 ms
    # earlier and the image an extrapolated one: 0.4 m off).
    lagging = PoseHistory()
    for k in range(10):
        lagging.add(k * SECOND // 10, make_transform(translation=[0.5 * k, 0, 0]))   # up to 0.9 s
    late = SweepAccumulator(keep=2, odometry=lagging, T_base_lidar=np.eye(4))
    late.add(Sweep(980_000_000, np.array([[10.0, 0, 0]])))       # the robot at 4.9 m then
    points, _, _ = late.cloud(stamp_ns=SECOND)                  # and at 5.0 m at the image
    np.testing.assert_allclose(points, [[9.9, 0, 0]], atol=1e-6)


def _sim(moving=0, sweep_motion=False, speed=None, frames=6, seed=3):
    cfg = default_config("street")
    cfg = replace(cfg, lidar=replace(cfg.lidar, range_noise_std=0.0, dropout=0.0), moving_objects=moving,
                  sweep_motion=sweep_motion, speed=speed or cfg.speed)
    return Simulator(cfg, seed=seed, frames=frames)


def _median_error(points_lidar, sim, frame) -> float:
    """Median relative error of LiDAR points against the camera's true depth where they land."""
    depth = project_points(transform_points(sim.rig.T_cam_lidar, points_lidar), sim.intrinsics.K,
                           sim.intrinsics.height, sim.intrinsics.width)
    scored = (depth > 0) & np.isfinite(frame.depth)
    return float(np.median(np.abs(depth[scored] / frame.depth[scored] - 1)))


def test_deskewing_a_simulated_sweep_taken_at_10_m_s():
    sim = _sim(sweep_motion=True, speed=10.0)
    frame = sim.render(2)
    assert np.ptp(frame.lidar_times) > 0.09e9                    # a sweep over one 100 ms frame period
    odometry = PoseHistory()
    for k in range(6):
        odometry.add(sim.stamp_ns(k), sim.world.poses[k])
    sweep = Sweep(frame.stamp_ns, frame.lidar_points, frame.lidar_ring, frame.lidar_times)
    straight = deskew(sweep, odometry, sim.rig.T_base_lidar, 50_000_000)
    skewed, fixed = _median_error(frame.lidar_points, sim, frame), _median_error(straight, sim, frame)
    assert fixed < 0.5 * skewed and fixed < 0.01


def _car_driving_away(sim) -> None:
    """A car 10 m ahead in the next lane, driving away at 20 m/s (the robot drives at 8)."""
    from depth_core.sim.motion import Mover, MovingWorld
    from depth_core.sim.raycast import Primitives
    from depth_core.sim.scenes.common import add_car

    T0 = sim.world.poses[0]
    heading, left = T0[:2, 0], np.array([-T0[1, 0], T0[0, 0]])
    car = Primitives()
    add_car(car, np.random.default_rng(0), 0.0, 0.0, float(np.arctan2(heading[1], heading[0])))
    mover = Mover(car.freeze(), T0[:2, 3] + 10 * heading + 2.5 * left, 20.0 * heading, "car")
    sim.moving = MovingWorld(sim.world, [mover], sim.config.rate_hz, sim.start_time_ns)


def _ghosts_and_good(past, sim, frame) -> tuple[int, int]:
    """Past points more than 1 m in front of the surface the camera now sees there (ghosts), and
    those within 2 % of it."""
    depth = project_points(transform_points(sim.rig.T_cam_lidar, past), sim.intrinsics.K,
                           sim.intrinsics.height, sim.intrinsics.width)
    truth = frame.depth
    seen = (depth > 0) & np.isfinite(truth)
    return int((depth[seen] < truth[seen] - 1.0).sum()), int((np.abs(depth[seen] - truth[seen])
                                                               < 0.02 * truth[seen]).sum())


def test_the_free_space_rule_on_a_simulated_car_that_drives_away():
    sim = _sim(frames=6)
    _car_driving_away(sim)
    frames = [sim.render(i) for i in range(5)]
    odometry = PoseHistory()
    for f in frames:
        odometry.add(f.stamp_ns, f.T_world_base)
    ghosts = {}
    for rule in (False, True):
        acc = SweepAccumulator(keep=4, odometry=odometry, T_base_lidar=sim.rig.T_base_lidar, moving_rule=rule)
        for f in frames:
            acc.add(Sweep(f.stamp_ns, f.lidar_points))
        points, _, _ = acc.cloud()
        ghosts[rule] = _ghosts_and_good(points[len(frames[-1].lidar_points):], sim, frames[-1])[0]
    assert ghosts[False] > 200                      # the car's old positions, left behind
    assert ghosts[True] < 0.2 * ghosts[False]


def test_the_photometric_rule_keeps_a_static_surface_through_an_exposure_change_and_drops_what_changed():
    cam = CameraIntrinsics(fx=300.0, fy=300.0, cx=159.5, cy=119.5, width=320, height=240)
    rng = np.random.default_rng(0)
    # A textured wall 5 m ahead, seen twice from the same place: the second time 40 % brighter
    # (the auto-exposure), with sensor noise, and a dark car parked over its left third.
    texture = cv2.resize(rng.uniform(60, 160, (24, 32)), (320, 240), interpolation=cv2.INTER_LINEAR)
    before = np.repeat(texture[..., None], 3, axis=2).astype(np.uint8)
    after = np.clip(texture * 1.4 + rng.normal(0, 2, texture.shape), 0, 255)
    after[:, :100] = 30
    after = np.repeat(after[..., None], 3, axis=2).astype(np.uint8)
    v, u = np.mgrid[10:230:6, 10:310:6].reshape(2, -1)
    points = np.stack([(u - cam.cx) / cam.fx * 5.0, (v - cam.cy) / cam.fy * 5.0, np.full(len(u), 5.0)], 1)
    shade = CameraShades(before, np.eye(4), cam).sample(points)
    assert np.isfinite(shade).all()
    now = CameraShades(after, np.eye(4), cam)
    car = u < 99
    for tolerance in ((0.04, 0.3), 0.15):          # the robust spread's, and a fixed one
        keep = now.keep(points, shade, tolerance)
        assert not keep[car].any()                 # where the car is now
        assert keep[u > 101].mean() > 0.99         # the wall, 40 % brighter: the same
    # A point without a shade (not in its own image), and one that has left this image, are kept.
    shade[car.nonzero()[0][:5]] = np.nan
    gone = points.copy()
    gone[car.nonzero()[0][5:10], 0] += 100.0
    keep = now.keep(gone, shade)
    assert keep[car.nonzero()[0][:10]].all() and not keep[car.nonzero()[0][10:]].any()
    # What the camera gives: mono16 of any bit depth, float 0-1, BGR, with the same result.
    grey = cv2.cvtColor(after, cv2.COLOR_RGB2GRAY)
    for image in ((grey.astype(np.uint16) << 4), grey.astype(np.float32) / 255, after[..., ::-1]):
        assert np.abs(log_grey(image).astype(int) - log_grey(grey).astype(int)).max() <= 1
    with pytest.raises(ValueError, match="does not match its camera"):
        CameraShades(after[:100], np.eye(4), cam)


def test_the_photometric_tolerance_follows_how_well_the_two_images_agree():
    cam = CameraIntrinsics(fx=300.0, fy=300.0, cx=159.5, cy=119.5, width=320, height=240)
    rng = np.random.default_rng(1)
    wall = cv2.resize(rng.uniform(80, 160, (12, 16)), (320, 240), interpolation=cv2.INTER_LINEAR)
    v, u = np.mgrid[10:230:6, 10:310:6].reshape(2, -1)
    points = np.stack([(u - cam.cx) / cam.fx * 5.0, (v - cam.cy) / cam.fy * 5.0, np.full(len(u), 5.0)], 1)
    grey = lambda a: np.clip(a, 0, 255).astype(np.uint8)   # noqa: E731
    shade = CameraShades(grey(wall), np.eye(4), cam).sample(points)
    patch, around = (u >= 202) & (v <= 100), (u > 190) & (v < 112)   # the patch, and it with its edge
    # Clean images, and a patch 12 % darker (a grey car where a grey wall was): the spread is small,
    # the tolerance at its floor, and the patch goes. A fixed 0.3 would keep it.
    darker = wall.copy()
    darker[:104, 198:] *= 0.88
    adaptive = CameraShades(grey(darker), np.eye(4), cam).keep(points, shade)
    assert not adaptive[patch].any() and adaptive[~around].all()
    assert CameraShades(grey(darker), np.eye(4), cam).keep(points, shade, 0.3).all()
    # Images that differ everywhere by up to 12 % (vignetting, a surface that is not matte; nothing
    # moved): the tolerance widens and the wall stays, where the floor alone would drop a third of it.
    yy, xx = np.mgrid[0:240, 0:320]
    now = CameraShades(grey(wall * (1 + 0.12 * np.sin(xx / 25.0) * np.cos(yy / 30.0))), np.eye(4), cam)
    assert now.keep(points, shade).all()
    assert now.keep(points, shade, 0.04).mean() < 0.8


@pytest.mark.parametrize("width, height", [(320, 240), (1280, 720)])    # at full and at half resolution
def test_photometric_alignment_finds_how_far_the_camera_really_moved(width, height):
    f = width * 300.0 / 320
    cam = CameraIntrinsics(fx=f, fy=f, cx=(width - 1) / 2, cy=(height - 1) / 2, width=width, height=height)
    rng = np.random.default_rng(2)
    texture = cv2.resize(rng.uniform(40, 200, (30, 40)), (width, height), interpolation=cv2.INTER_CUBIC)
    then = np.clip(texture, 0, 255).astype(np.uint8)
    # The same wall 5 m ahead, the camera really 6 cm further right and 4 cm higher than the odometry
    # says: the image moves left and down (3.6 and 2.4 px at 320 wide), and is 15 % brighter (the exposure).
    dx, dy = -0.06 * f / 5.0, 0.04 * f / 5.0
    shift = np.float32([[1, 0, dx], [0, 1, dy]])
    now = np.clip(cv2.warpAffine(texture, shift, (width, height), borderMode=cv2.BORDER_REFLECT) * 1.15, 0, 255)
    step = max(3, width // 107)
    v, u = np.mgrid[20:height - 20:step, 20:width - 20:step].reshape(2, -1)
    points = np.stack([(u - cam.cx) / cam.fx * 5.0, (v - cam.cy) / cam.fy * 5.0, np.full(len(u), 5.0)], 1)
    shade = CameraShades(then, np.eye(4), cam).sample(points)
    T = CameraShades(now.astype(np.uint8), np.eye(4), cam).align(points, shade)
    assert T is not None
    moved = transform_points(T, points)
    du = cam.fx * moved[:, 0] / moved[:, 2] + cam.cx - u
    dv = cam.fy * moved[:, 1] / moved[:, 2] + cam.cy - v
    tolerance = 0.05 * abs(dx) + 0.05
    assert abs(np.median(du) - dx) < tolerance and abs(np.median(dv) - dy) < tolerance, (np.median(du), np.median(dv))
    # Nothing moved: a motion of well under a millimetre. A featureless image: none at all.
    still = CameraShades(then, np.eye(4), cam).align(points, shade)
    assert still is None or np.abs(still[:3, 3]).max() < 0.001
    assert CameraShades(np.full((height, width), 90, np.uint8), np.eye(4), cam).align(points, shade) is None


def test_the_alignment_takes_each_images_exposure_out_whatever_the_order_of_its_points():
    # Points from three past images, each with its own exposure (log offsets of -0.3, 0, +0.25),
    # listed out of order: the motion found is the one the single image gives.
    cam = CameraIntrinsics(fx=300.0, fy=300.0, cx=159.5, cy=119.5, width=320, height=240)
    rng = np.random.default_rng(5)
    texture = cv2.resize(rng.uniform(40, 200, (30, 40)), (320, 240), interpolation=cv2.INTER_CUBIC)
    then = np.clip(texture, 0, 255).astype(np.uint8)
    dx = -0.06 * cam.fx / 5.0
    now = np.clip(cv2.warpAffine(texture, np.float32([[1, 0, dx], [0, 1, 0]]), (320, 240),
                                 borderMode=cv2.BORDER_REFLECT), 0, 255).astype(np.uint8)
    v, u = np.mgrid[20:220:3, 20:300:3].reshape(2, -1)
    points = np.stack([(u - cam.cx) / cam.fx * 5.0, (v - cam.cy) / cam.fy * 5.0, np.full(len(u), 5.0)], 1)
    shade = CameraShades(then, np.eye(4), cam).sample(points)
    groups = rng.integers(0, 3, len(points))
    exposed = shade + np.array([-0.3, 0.0, 0.25], np.float32)[groups]
    one = CameraShades(now, np.eye(4), cam).align(points, shade)
    three = CameraShades(now, np.eye(4), cam).align(points, exposed, groups)
    assert one is not None and three is not None
    np.testing.assert_allclose(three, one, atol=2e-4)
    assert abs(three[0, 3] * cam.fx / 5.0 - dx) < 0.2        # 3.6 px found to a fifth of a pixel


def test_the_medians_are_numpys():
    rng = np.random.default_rng(6)
    for n in [*range(1, 12), 100, 101, 2000]:
        for dtype in (np.float32, np.float64):
            for values in (rng.normal(size=n), rng.integers(0, 3, n), np.sort(rng.normal(size=n))):  # ties, sorted
                values = values.astype(dtype)
                assert _median_inplace(values.copy()) == np.median(values), (n, dtype)


def test_merged_sweeps_drop_a_car_that_drove_on_and_a_point_between_two_nearer_posts():
    # A robot standing still; only the occlusion rule on. Past: a car 8.5 m ahead, and a point of a
    # wall 10 m ahead. Newest: the wall (the car has driven on: the wall is 18 % behind its old
    # place), and two posts 5 m ahead 1.5 deg either side of the wall point. The accumulator's
    # settings (2 deg, 15 %) drop both; hidden_keep's own (1 deg, 30 %) keep both.
    cam = (T_CAM_LIDAR_AHEAD, CameraIntrinsics(fx=500.0, fy=500.0, cx=319.5, cy=239.5, width=640, height=480))
    car = np.array([(8.5, y, z) for y in np.linspace(-1.6, -1.0, 7) for z in np.linspace(-0.3, 0.3, 5)])
    point = np.array([[10.0, 0.0, 0.0]])
    off = 5.0 * np.tan(np.radians(1.5))
    posts = np.array([(5.0, side * off, z) for side in (-1, 1) for z in np.linspace(-0.6, 0.6, 25)])
    wall = _wall(10.0)
    wall = wall[np.abs(wall[:, 1]) > 0.5]                    # the wall behind the posts is hidden from here
    for settings, dropped in (({}, len(car) + 1), ({"occlusion_reach_deg": (1.0, 3.0), "gone_margin_rel": 0.3}, 0)):
        acc = SweepAccumulator(keep=1, odometry=_standing_still(2), T_base_lidar=np.eye(4), moving_rule=False,
                               photometric_rule=False, **settings)
        acc.add(Sweep(0, np.r_[car, point]))
        acc.add(Sweep(SECOND // 10, np.r_[wall, posts]))
        points, _, used = acc.cloud(camera=cam)
        assert used == 1 and len(points) == len(wall) + len(posts) + len(car) + 1 - dropped, settings


def test_the_images_take_the_odometrys_drift_out_of_the_accumulated_sweeps():
    """A static street, the odometry drifting by 5 cm/s and 0.5 deg/s: past sweeps moved by it land
    off their surfaces; corrected by aligning each image to them, most of the way back."""
    sim = _sim(frames=8)
    frames = [sim.render(i) for i in range(7)]
    errors = {}
    for name, drift, align in (("exact", 0.0, False), ("drifting", 1.0, False), ("aligned", 1.0, True)):
        odometry = PoseHistory()
        for f in frames:
            t = (f.stamp_ns - frames[0].stamp_ns) * 1e-9 * drift
            # Drift builds up in the odometry's fixed frame, as the simulator's and a real one's does.
            wrong = make_transform(cv2.Rodrigues(np.array([0.0, 0.0, np.radians(0.5) * t]))[0], [0.05 * t, 0.02 * t, 0])
            odometry.add(f.stamp_ns, wrong @ f.T_world_base)
        acc = SweepAccumulator(keep=4, odometry=odometry, T_base_lidar=sim.rig.T_base_lidar, moving_rule=False,
                               occlusion_rule=False, photometric_rule=False, image_alignment=align)
        for f in frames:
            acc.add(Sweep(f.stamp_ns, f.lidar_points), image=(f.rgb, sim.rig.T_cam_lidar, sim.intrinsics))
        points, _, _ = acc.cloud()
        errors[name] = _median_error(points[len(frames[-1].lidar_points):], sim, frames[-1])
        assert acc.counts["aligned"] == (len(frames) - 1 if align else 0)
    assert errors["drifting"] > 2.5 * errors["exact"]               # 3.0x here
    assert errors["aligned"] < 0.6 * errors["drifting"], errors      # 0.44x here (1.33x the exact)


def test_a_sweep_added_again_with_a_later_image_is_tested_once():
    """A camera faster than the LiDAR: the same cloud with its next image tests nothing anew and
    keeps the shades of its first image; the next sweep's image is asked again."""
    cam = CameraIntrinsics(fx=300.0, fy=300.0, cx=159.5, cy=119.5, width=320, height=240)
    T_cam_lidar = T_CAM_LIDAR_AHEAD
    wall = _wall(10.0)
    image = np.full((240, 320, 3), 120, np.uint8)
    other = np.full((240, 320, 3), 120, np.uint8)
    other[:, :160] = 30                              # the left half changed
    acc = SweepAccumulator(keep=2, odometry=_standing_still(3), T_base_lidar=np.eye(4), moving_rule=False,
                           occlusion_rule=False)
    acc.add(Sweep(0, wall), image=(image, T_cam_lidar, cam))
    acc.add(Sweep(SECOND // 10, wall), image=(image, T_cam_lidar, cam))
    first = acc.history[-1][0].shade.copy()
    assert np.isfinite(first).all()
    acc.add(Sweep(SECOND // 10, wall), image=(other, T_cam_lidar, cam))     # the same cloud, the next image
    assert acc.counts["dropped_photometric"] == 0 and acc.counts["sweeps"] == 2
    np.testing.assert_array_equal(acc.history[-1][0].shade, first)
    acc.add(Sweep(2 * SECOND // 10, wall), image=(other, T_cam_lidar, cam))  # a new sweep: its image is asked
    assert acc.counts["dropped_photometric"] > 0


def test_the_photometric_rule_on_a_simulated_car_that_drives_away():
    """The free-space rule's car again, with no LiDAR rule at all: the images alone find its old places."""
    def ghosts_and_good(with_car: bool, rule: bool) -> tuple[int, int]:
        sim = _sim(frames=6)
        if with_car:
            _car_driving_away(sim)
        frames = [sim.render(i) for i in range(5)]
        odometry = PoseHistory()
        for f in frames:
            odometry.add(f.stamp_ns, f.T_world_base)
        acc = SweepAccumulator(keep=4, odometry=odometry, T_base_lidar=sim.rig.T_base_lidar, moving_rule=False,
                               occlusion_rule=False, photometric_rule=rule)
        for f in frames:
            acc.add(Sweep(f.stamp_ns, f.lidar_points), image=(f.rgb, sim.rig.T_cam_lidar, sim.intrinsics))
        assert (acc.counts["dropped_photometric"] > 0) == rule
        points, _, _ = acc.cloud()
        return _ghosts_and_good(points[len(frames[-1].lidar_points):], sim, frames[-1])

    edges, _ = ghosts_and_good(False, False)        # the same count without the car: pixel edges of thin things
    (before, good_before), (after, good_after) = ghosts_and_good(True, False), ghosts_and_good(True, True)
    assert before - edges > 1000                    # the car's old places, left behind
    assert after - edges < 0.35 * (before - edges)  # 0.24x here
    assert good_after > 0.98 * good_before          # and the static world stays (0.993x here)


def test_the_occlusion_rule_drops_what_a_nearer_object_hides_and_keeps_edges_and_the_ground():
    cam = CameraIntrinsics(fx=500.0, fy=500.0, cx=319.5, cy=239.5, width=640, height=480)
    # The current sweep: a post 5 m ahead (0.4 m wide, from 1 m above to 1.4 m below the camera),
    # a wall at 10 m, and flat ground 1.5 m below the camera up to the wall, on rows of points as a
    # LiDAR's rings.
    post = np.array([(x, y, 5.0) for x in np.linspace(-0.2, 0.2, 9) for y in np.linspace(-1.0, 1.4, 13)])
    wall = np.array([(x, y, 10.0) for x in np.linspace(-4, 4, 81) for y in np.linspace(-2, 1.5, 8)
                     if abs(x) > 0.45])
    ground = np.array([(x, 1.5, z) for z in (4.0, 5.0, 6.5, 8.5) for x in np.linspace(-3, 3, 61)])
    current = np.concatenate([post, wall, ground])
    # Past points: the wall behind the post (seen from elsewhere), the wall beside it, the ground
    # between the rings.
    behind = np.array([(x, y, 10.0) for x in (-0.07, 0.03, 0.12) for y in (-0.5, 0.0, 0.5)])
    beside = np.array([(x, y, 10.0) for x in (-0.7, 0.7, 1.5) for y in (-0.5, 0.0, 0.5)])
    between = np.array([(x, 1.5, z) for z in (4.5, 5.7, 7.4, 9.3) for x in (-2.0, -1.0, 1.0, 2.0)])
    points = np.concatenate([current, behind, beside, between])
    candidates = np.arange(len(points)) >= len(current)
    keep = hidden_keep(points, candidates, cam)
    n = len(current)
    assert keep[:n].all()                                    # the current sweep is never dropped
    assert not keep[n:n + len(behind)].any()                 # hidden by the post
    assert keep[n + len(behind):].all()                      # beside it, and the ground between rings
    # Without the post nothing hides the wall there.
    alone = np.concatenate([wall, ground, behind])
    assert hidden_keep(alone, np.arange(len(alone)) >= len(wall) + len(ground), cam).all()
    # Gone, with the accumulator's settings: a past car 7 m ahead, and one 8.5 m ahead (a car that
    # has since driven 1.5 m on, the wall 18 % farther), where the current sweep now sees only the
    # wall, 10 m away; a past point 9 m ahead (nearer than the wall by less than the 15 % margin:
    # the wall's noise, a slope) stays.
    car = np.array([(x, y, z) for x in (-2.0, -1.5, 1.5, 2.0) for y in (-0.3, 0.2) for z in (7.0, 8.5)])
    near_wall = np.array([(-2.5, 0.0, 9.0), (2.5, 0.5, 9.0)])
    scene = np.concatenate([wall, ground, car, near_wall])
    merged = {"reach_deg": SweepAccumulator.occlusion_reach_deg, "gone_margin_rel": SweepAccumulator.gone_margin_rel}
    keep = hidden_keep(scene, np.arange(len(scene)) >= len(wall) + len(ground), cam, **merged)
    assert not keep[len(wall) + len(ground):-len(near_wall)].any() and keep[-len(near_wall):].all()
    # hidden_keep's own margin (30 %, the first release's) keeps the car 8.5 m ahead.
    keep = hidden_keep(scene, np.arange(len(scene)) >= len(wall) + len(ground), cam)
    assert keep[len(wall) + len(ground):-len(near_wall)].sum() == len(car) // 2


def test_the_occlusion_rule_on_a_simulated_drive_drops_mostly_what_the_camera_cannot_see():
    sim = _sim(frames=6)
    frames = [sim.render(i) for i in range(5)]
    odometry = PoseHistory()
    for f in frames:
        odometry.add(f.stamp_ns, f.T_world_base)
    T_cam_lidar, cam, truth = sim.rig.T_cam_lidar, sim.intrinsics, frames[-1].depth

    def past_depth(rule: bool) -> tuple[np.ndarray, int]:
        acc = SweepAccumulator(keep=4, odometry=odometry, T_base_lidar=sim.rig.T_base_lidar, occlusion_rule=rule)
        for f in frames:
            acc.add(Sweep(f.stamp_ns, f.lidar_points))
        points, _, _ = acc.cloud(camera=(T_cam_lidar, cam))
        past = transform_points(T_cam_lidar, points[len(frames[-1].lidar_points):])
        return project_points(past, cam.K, cam.height, cam.width), acc.counts["dropped_hidden"]

    (without, none), (with_rule, dropped) = past_depth(False), past_depth(True)
    assert none == 0 and dropped > 0
    seen = np.isfinite(truth)

    def wrong(depth):   # past points more than 3 % off the surface the camera sees there
        return (depth > 0) & seen & (np.abs(depth - truth) > 0.03 * truth)

    def right(depth):
        return (depth > 0) & seen & (np.abs(depth - truth) <= 0.03 * truth)

    removed_wrong = wrong(without).sum() - wrong(with_rule).sum()
    removed_right = right(without).sum() - right(with_rule).sum()
    assert removed_wrong > 0.5 * wrong(without).sum()        # most of what the camera cannot see goes
    assert removed_right < 0.2 * right(without).sum()        # and little of what it can


def _standing_still(sweeps: int) -> PoseHistory:
    """The odometry of a robot that does not move, one pose per 0.1 s."""
    odometry = PoseHistory()
    for k in range(sweeps):
        odometry.add(k * SECOND // 10, np.eye(4))
    return odometry


def _wall(distance: float) -> np.ndarray:
    """A LiDAR's view of a wall ``distance`` m ahead, 4 m wide: rows 1 deg apart from -5 to 5 deg,
    a point every 0.05 m along each."""
    ys, zs = np.meshgrid(np.linspace(-2, 2, 81), np.tan(np.radians(np.arange(-5, 6))) * distance)
    return np.stack([np.full(ys.size, distance), ys.ravel(), zs.ravel()], 1)


def test_the_accumulator_drops_past_points_behind_the_newest_sweep_with_either_rule_set():
    # A robot standing still: the past sweep saw 15 m ahead, the newest sees a wall at 10 m (a
    # truck pulled in). The past points behind the wall go, with or without the free-space rule,
    # and stay without the occlusion rule.
    odometry, wall = _standing_still(3), _wall(10.0)
    before = np.array([[15.0, 0.0, 0.1], [15.0, 1.0, -0.3]])
    for moving, occlusion, kept in ((True, True, 0), (False, True, 0), (True, False, 2)):
        acc = SweepAccumulator(keep=2, odometry=odometry, T_base_lidar=np.eye(4), moving_rule=moving,
                               occlusion_rule=occlusion)
        acc.add(Sweep(0, before))
        acc.add(Sweep(SECOND // 10, wall))
        points, _, used = acc.cloud()
        assert used == 1 and len(points) == len(wall) + kept
        assert acc.counts["dropped_hidden"] == 2 - kept


def test_the_same_sweep_again_replaces_the_newest_and_drops_are_counted_once():
    # A camera at 30 Hz with a LiDAR at 10 Hz: each cloud comes with three images. The history
    # keeps growing, and a car point that a later sweep saw through is counted once.
    odometry, wall = _standing_still(5), _wall(20.0)
    car = np.array([[10.0, 0.0, 0.5], [10.0, 0.5, -0.5]])     # 10 m ahead, then gone
    acc = SweepAccumulator(keep=3, odometry=odometry, T_base_lidar=np.eye(4))
    for k in range(4):
        for _ in range(3):
            acc.add(Sweep(k * SECOND // 10, np.r_[wall, car] if k == 0 else wall))
            points, _, used = acc.cloud()
    assert len(acc.history) == 4 and used == 3
    assert acc.counts["cleared_time"] == 0 and acc.counts["sweeps"] == 4
    assert acc.counts["dropped_moving"] == len(car)
    assert not np.isin(points, car).all(axis=1).any()


def test_a_bounded_odometry_history_lets_old_poses_go_and_starts_again_when_time_goes_back():
    """A node runs for hours: with ``span_ns`` only the last span of poses is kept (before, 100 Hz
    odometry grew the history by about 110 MB an hour), and a loop of the bag starts it again."""
    odometry = PoseHistory(span_ns=2 * 10**9)
    for k in range(1000):                                  # 10 s at 100 Hz
        odometry.add(k * 10**7, make_transform(translation=[k * 0.01, 0, 0]))
    assert len(odometry) == 201 and odometry.stamps[0] == 7_990_000_000   # the newest, 9.99 s, less 2 s
    np.testing.assert_allclose(odometry.at(9_505_000_000, 0)[0, 3], 9.505)
    assert odometry.at(5 * 10**9, 10**8) is None          # let go
    for k in range(995, 1000):                            # the same stamps again: replaced, not added
        odometry.add(k * 10**7, np.eye(4))
    assert len(odometry) == 201 and odometry.at(9_990_000_000, 0)[0, 3] == 0.0
    odometry.add(0, np.eye(4))                             # a zero stamp: ignored
    assert len(odometry) == 201
    odometry.add(10**7, np.eye(4))                         # the bag loops
    assert len(odometry) == 1 and odometry.at(10**7, 0) is not None
    unbounded = PoseHistory()
    for k in range(1000):
        unbounded.add(k * 10**7, np.eye(4))
    assert len(unbounded) == 1000


def test_the_pose_exactly_at_a_stamp_is_interpolated_or_carried_on_never_taken_from_another_time():
    """What moving a cloud to its image's stamp needs: the pose at that stamp, between samples or
    (odometry lags its sensors) carried on at the last velocity for a while past the newest one,
    along the arc the robot is driving; None beyond that or in a gap, where ``at`` would give the
    nearest pose of another time."""
    from depth_core.geometry import rotation_from_euler

    def on_arc(t_s: float) -> np.ndarray:               # 10 m/s on a 10 m radius: turning at 1 rad/s
        theta = 1.0 * t_s
        return make_transform(rotation_from_euler(0, 0, theta), [10 * np.sin(theta), 10 * (1 - np.cos(theta)), 0])

    odometry = PoseHistory()
    for k in range(5):                                   # 10 Hz, up to 0.4 s
        odometry.add(k * 10**8, on_arc(0.1 * k))
    np.testing.assert_allclose(odometry.exactly_at(200_000_000), on_arc(0.2), atol=1e-12)
    between = odometry.exactly_at(150_000_000)            # interpolated on the chord: 12 mm off this arc
    np.testing.assert_allclose(between[:3, 3], on_arc(0.15)[:3, 3], atol=0.015)
    for ahead_s in (0.001, 0.05, 0.15):                  # carried on along the arc, in x and y
        pose = odometry.exactly_at(int((0.4 + ahead_s) * 1e9), ahead_ns=150_000_000)
        np.testing.assert_allclose(pose, on_arc(0.4 + ahead_s), atol=1e-6)
    assert odometry.exactly_at(450_000_000) is None                   # not carried on unless asked
    assert odometry.exactly_at(560_000_000, ahead_ns=150_000_000) is None
    assert odometry.at(560_000_000, 200_000_000) is not None           # which `at` would answer
    assert odometry.exactly_at(-50_000_000) is None                   # before the first sample
    # The velocity from a step of at least 10 ms: a sample 1 ms before the newest is passed over.
    odometry.add(399_000_000, on_arc(0.399) @ make_transform(translation=[0.0, 0.002, 0]))   # 2 mm of noise
    np.testing.assert_allclose(odometry.exactly_at(500_000_000, ahead_ns=150_000_000)[:3, 3], on_arc(0.5)[:3, 3],
                               atol=1e-6)
    gappy = PoseHistory(max_gap_ns=150_000_000)
    gappy.add(0, np.eye(4))
    gappy.add(10**9, np.eye(4))
    assert gappy.exactly_at(5 * 10**8) is None                        # a gap: nothing is known there
    assert gappy.exactly_at(10**9 + 50_000_000, ahead_ns=10**8) is None   # nor a velocity across it
