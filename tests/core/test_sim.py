from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from depth_core.geometry import invert_transform, project_lidar, transform_points
from depth_core.sim import SCENES, LidarConfig, SimConfig, Simulator, default_config


def _small(scene: str, **lidar) -> SimConfig:
    cfg = default_config(scene, width=160, height=96)
    return replace(cfg, lidar=replace(cfg.lidar, **lidar)) if lidar else cfg


@pytest.mark.parametrize("scene", SCENES)
def test_frames_have_the_documented_shapes_types_and_ranges(scene):
    sim = Simulator(_small(scene), seed=7, frames=3)
    frame = sim.render(2)
    cfg = sim.config
    assert frame.rgb.shape == (96, 160, 3) and frame.rgb.dtype == np.uint8
    assert frame.depth.shape == (96, 160) and frame.depth.dtype == np.float32
    valid = np.isfinite(frame.depth)
    assert valid.mean() > 0.4
    assert (frame.depth[valid] > 0).all() and (frame.depth[valid] <= cfg.max_depth).all()
    assert frame.lidar_points.dtype == np.float32 and frame.lidar_points.shape[1] == 3
    assert len(frame.lidar_points) == len(frame.lidar_intensity) == len(frame.lidar_ring) > 1000
    ranges = np.linalg.norm(frame.lidar_points, axis=1)
    assert ranges.max() <= cfg.lidar.max_range + 0.2 and ranges.min() >= cfg.lidar.min_range - 0.2
    assert frame.lidar_ring.dtype == np.uint16 and frame.lidar_ring.max() < cfg.lidar.beams
    assert 0 <= frame.lidar_intensity.min() and frame.lidar_intensity.max() <= 255
    assert frame.stamp_ns == sim.stamp_ns(0) + 2 * 10**8
    # Textured, shaded images: not a flat colour.
    assert frame.rgb.std() > 20


def test_same_seed_same_frames_other_seed_other_world():
    a = Simulator(_small("street"), seed=11, frames=2).render(1)
    b = Simulator(_small("street"), seed=11, frames=2).render(1)
    c = Simulator(_small("street"), seed=12, frames=2).render(1)
    assert np.array_equal(a.rgb, b.rgb)
    assert np.array_equal(a.depth, b.depth, equal_nan=True)
    assert np.array_equal(a.lidar_points, b.lidar_points)
    assert not np.array_equal(a.rgb, c.rgb)


def test_street_sky_is_invalid_and_ground_follows_the_camera_height():
    sim = Simulator(_small("street"), seed=0, frames=1)
    frame = sim.render(0)
    assert np.isnan(frame.depth[0]).any()  # sky above the buildings
    # Perspective: the ground gets farther towards the horizon.
    bottom, higher = np.nanmedian(frame.depth[-1]), np.nanmedian(frame.depth[-25])
    assert bottom < higher
    # The bottom-centre pixel sees the road: its back-projected point lies on z = 0 in the world.
    cam = sim.intrinsics
    u, v = cam.width // 2, cam.height - 1
    p_cam = np.array([(u - cam.cx) / cam.fx, (v - cam.cy) / cam.fy, 1.0]) * frame.depth[v, u]
    p_world = transform_points(frame.T_world_base @ sim.rig.T_base_camera, p_cam[None])[0]
    assert p_world[2] == pytest.approx(0.0, abs=1e-3)


def test_lidar_points_land_on_the_rendered_depth():
    sim = Simulator(_small("street"), seed=5, frames=1)
    frame = sim.render(0)
    cam = sim.intrinsics
    sparse = project_lidar(frame.lidar_points, sim.rig.T_cam_lidar, cam.K, cam.height, cam.width)
    both = (sparse > 0) & np.isfinite(frame.depth)
    assert both.sum() > 300
    rel = np.abs(sparse[both] - frame.depth[both]) / frame.depth[both]
    assert np.median(rel) < 0.01


def test_lidar_noise_and_dropout_settings_take_effect():
    def on_ground(sim):
        frame = sim.render(0)
        world = transform_points(frame.T_world_base @ sim.rig.T_base_lidar, frame.lidar_points.astype(np.float64))
        return frame, np.mean(np.abs(world[:, 2]) < 1e-4)

    # Without noise, returns from the ground lie exactly on z = 0 in the world; with it, none do.
    frame, exact_share = on_ground(Simulator(_small("yard", range_noise_std=0.0, dropout=0.0), seed=2, frames=1))
    _, noisy_share = on_ground(Simulator(_small("yard", range_noise_std=0.03, dropout=0.0), seed=2, frames=1))
    assert exact_share > 0.4 and noisy_share < 0.05
    lossy = Simulator(_small("yard", range_noise_std=0.0, dropout=0.5), seed=2, frames=1).render(0)
    assert 0.4 < len(lossy.lidar_points) / len(frame.lidar_points) < 0.6
    rings = Simulator(_small("yard", beams=4), seed=2, frames=1).render(0).lidar_ring
    assert set(np.unique(rings)) <= {0, 1, 2, 3}


def test_rig_extrinsic_is_consistent_with_the_static_transforms():
    sim = Simulator(_small("indoor"), seed=1, frames=1)
    edges = {(p, c): T for p, c, T in sim.rig.static_transforms()}
    T_base_cam = edges[("base_link", "camera_link")] @ edges[("camera_link", "camera_optical_frame")]
    expected = invert_transform(T_base_cam) @ edges[("base_link", "lidar_link")]
    np.testing.assert_allclose(sim.rig.T_cam_lidar, expected, atol=1e-12)
    # The optical frame looks along base x: its z axis is (nearly) the robot's forward axis.
    assert T_base_cam[:3, 2] @ np.array([1, 0, 0]) > 0.98


@pytest.mark.parametrize("kwargs, match", [
    ({"beams": 0}, "beams must be >= 1"),
    ({"fov_up_deg": -30.0}, "fov_down_deg"),
    ({"dropout": 1.0}, "dropout"),
    ({"min_range": 0.0}, "min_range"),
])
def test_bad_lidar_settings_name_the_setting(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LidarConfig(**kwargs)


def test_bad_scene_and_frame_count_are_rejected():
    with pytest.raises(ValueError, match="scene must be one of street, indoor, yard, highway, .*; got 'moon'"):
        SimConfig(scene="moon")
    with pytest.raises(ValueError, match="frames must be >= 1"):
        Simulator("street", frames=0)
