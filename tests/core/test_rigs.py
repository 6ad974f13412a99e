from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.ndimage import map_coordinates

from depth_core.geometry import transform_points
from depth_core.sim import SCENES, Simulator
from depth_core.sim.rigs import (
    ASPECTS,
    HELD_OUT_RIGS,
    LIDAR_MODELS,
    RIG_PRESETS,
    RigDistribution,
    lidar_model,
    preset_config,
    sample_rig,
)
from depth_core.sim.scenes import SCENE_INFO


def test_sampled_rigs_stay_inside_the_distribution():
    dist = RigDistribution()
    seen_models, seen_aspects, distorted = set(), set(), 0
    for i in range(300):
        scene = SCENES[i % len(SCENES)]
        cfg = sample_rig(scene, np.random.default_rng(i), dist)
        cam, mount, lidar = cfg.camera, cfg.rig, cfg.lidar
        assert 40.0 <= cam.hfov_deg <= 110.0
        assert cam.width in dist.widths
        aspect = min(ASPECTS, key=lambda a: abs(ASPECTS[a] - cam.width / cam.height))
        assert abs(cam.width / cam.height - ASPECTS[aspect]) < 0.02 * ASPECTS[aspect]
        seen_aspects.add(aspect)
        assert abs(cam.cx_offset) <= 0.05 and abs(cam.cy_offset) <= 0.05
        if cam.distortion:
            distorted += 1
            k1, k2 = cam.distortion[:2]
            assert -0.3 <= k1 <= -0.02 and 0.0 <= k2 <= 0.08
        ceiling = SCENE_INFO[scene].max_mount_height
        assert 0.2 <= mount.camera_xyz[2] <= min(3.0, ceiling)
        assert 0.1 <= mount.lidar_xyz[2] <= ceiling
        assert -10.0 <= mount.camera_pitch_deg <= 20.0 and -5.0 <= mount.camera_roll_deg <= 5.0
        assert all(abs(a) <= 3.0 for a in mount.lidar_rpy_deg)
        assert len(lidar.elevations()) == lidar.beams == LIDAR_MODELS[lidar.model]["beams"]
        seen_models.add(lidar.model)
        assert cfg.speed > 0 and cfg.rig_name == "random"
    assert seen_models == set(LIDAR_MODELS)
    assert seen_aspects == set(ASPECTS)
    assert 0.2 < distorted / 300 < 0.4


def test_rig_sampling_is_reproducible_by_seed():
    a = sample_rig("street", np.random.default_rng(5))
    b = sample_rig("street", np.random.default_rng(5))
    c = sample_rig("street", np.random.default_rng(6))
    assert a == b
    assert a != c


def test_lidar_models_have_their_real_vertical_layouts():
    assert {LIDAR_MODELS[m]["beams"] for m in LIDAR_MODELS} == {16, 32, 64, 128}
    vlp = np.degrees(lidar_model("VLP-16").elevations())
    assert np.allclose(np.diff(vlp), 2.0) and vlp[0] == pytest.approx(-15.0)
    hdl64 = np.degrees(lidar_model("HDL-64E").elevations())
    steps = np.diff(hdl64)
    assert len(hdl64) == 64 and hdl64[0] == pytest.approx(-24.8) and hdl64[-1] == pytest.approx(2.0)
    assert steps[:31].mean() > 1.4 * steps[-31:].mean()       # the lower block is sparser
    vls = np.degrees(lidar_model("VLS-128").elevations())
    near = np.diff(vls)[(vls[:-1] > -5) & (vls[:-1] < 2)]
    assert near.max() < 0.2 < np.diff(vls).max()               # dense at the horizon only
    with pytest.raises(ValueError, match="unknown LiDAR model"):
        lidar_model("HDL-65")


def test_distribution_overrides_and_bad_values_are_clear():
    narrow = RigDistribution.from_dict({"hfov_deg": [60, 61], "lidar_models": ["VLP-16"]})
    cfg = sample_rig("yard", np.random.default_rng(0), narrow)
    assert 60 <= cfg.camera.hfov_deg <= 61 and cfg.lidar.model == "VLP-16"
    with pytest.raises(ValueError, match="unknown keys"):
        RigDistribution.from_dict({"fov": [1, 2]})
    with pytest.raises(ValueError, match="low 90 is above high 50"):
        RigDistribution(hfov_deg=(90, 50))
    with pytest.raises(ValueError, match="unknown LiDAR model|lidar_models"):
        RigDistribution(lidar_models=("HDL-65",))


def test_held_out_presets_cover_the_cameras_robots_carry():
    assert len(HELD_OUT_RIGS) >= 6 and set(HELD_OUT_RIGS) <= set(RIG_PRESETS)
    cams = {n: RIG_PRESETS[n].camera for n in HELD_OUT_RIGS}
    assert cams["vga60"].width / cams["vga60"].height == pytest.approx(4 / 3) and cams["vga60"].hfov_deg == 60
    assert cams["wide100"].width / cams["wide100"].height == pytest.approx(16 / 9, rel=1e-3)
    assert cams["kitti_like"].width / cams["kitti_like"].height == pytest.approx(3.3, rel=0.01)
    assert RIG_PRESETS["low_robot"].mount.camera_xyz[2] == pytest.approx(0.3)
    high = RIG_PRESETS["high_mount"].mount
    assert high.camera_xyz[2] == pytest.approx(2.5) and high.camera_pitch_deg >= 15
    assert preset_config("vga60", "street") == preset_config("vga60", "street")
    with pytest.raises(ValueError, match="above what 'indoor' allows"):
        preset_config("high_mount", "indoor")
    with pytest.raises(ValueError, match="unknown rig preset"):
        preset_config("nope", "street")


def _lidar_on_depth_error(cfg, seed: int) -> float:
    """Median |z_lidar - depth| / depth over the LiDAR points seen by the camera, the rendered
    depth read bilinearly at each point's sub-pixel position (a pixel of a grazing ground plane
    spans several per cent of depth, so the nearest pixel would blur the check). Range noise is
    turned off: this checks the geometry (2-4 cm of noise is 2 % of a room's depths)."""
    cfg = replace(cfg, lidar=replace(cfg.lidar, range_noise_std=0.0))
    sim = Simulator(cfg, seed=seed, frames=1)
    frame = sim.render(0)
    cam = sim.intrinsics
    p = transform_points(sim.rig.T_cam_lidar, frame.lidar_points.astype(np.float64))
    p = p[p[:, 2] > 0.1]
    u, v = cam.fx * p[:, 0] / p[:, 2] + cam.cx, cam.fy * p[:, 1] / p[:, 2] + cam.cy
    inside = (u >= 0) & (u <= cam.width - 1) & (v >= 0) & (v <= cam.height - 1)
    coords = np.stack([v[inside], u[inside]])
    depth = np.nan_to_num(frame.depth, nan=0.0)
    rendered = map_coordinates(depth, coords, order=1)
    # Only where all four neighbours saw a surface, and not across an occlusion edge.
    corners = np.stack([map_coordinates(depth, coords + d[:, None], order=0) for d in
                        np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float) - 0.5 + 1e-6])
    smooth = (corners.min(0) > 0) & (corners.max(0) < 1.2 * corners.min(0))
    z = p[inside, 2]
    assert smooth.sum() > 50, f"only {smooth.sum()} LiDAR points in the image of {cfg.rig_name}"
    return float(np.median(np.abs(z[smooth] - rendered[smooth]) / rendered[smooth]))

@pytest.mark.parametrize("seed", range(8))
def test_every_sampled_rigs_lidar_lands_on_its_rendered_depth(seed):
    scene = SCENES[seed % len(SCENES)]
    cfg = sample_rig(scene, np.random.default_rng(100 + seed))
    # At most 320 pixels wide (speed), same field of view, aspect and principal point; the LiDAR
    # and every mounting angle as drawn.
    cam = cfg.camera
    scale = min(1.0, 320 / cam.width)
    small = replace(cam, width=round(cam.width * scale), height=round(cam.height * scale))
    assert _lidar_on_depth_error(replace(cfg, camera=small), seed) < 0.01


@pytest.mark.parametrize("name", HELD_OUT_RIGS)
def test_every_held_out_rigs_lidar_lands_on_its_rendered_depth(name):
    cfg = preset_config(name, "street")
    cam = cfg.camera
    scale = min(1.0, 320 / cam.width)
    small = replace(cam, width=round(cam.width * scale), height=round(cam.height * scale))
    assert _lidar_on_depth_error(replace(cfg, camera=small), 3) < 0.01
