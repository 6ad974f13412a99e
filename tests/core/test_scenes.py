"""The world types robots meet beyond the street, the room and the yard: highway, parking lot,
warehouse, office corridor and forest. Each is built with fixed seeds and checked for what a depth
network needs of it: valid depth from low, car-height and high mounts, a trajectory nothing
intrudes on, the objects such places have, a ceiling indoors, and determinism."""

from __future__ import annotations

import numpy as np
import pytest

from depth_core.sim import SCENES, CameraConfig, LidarConfig, RigConfig, SimConfig, Simulator
from depth_core.sim import materials as sim_materials
from depth_core.sim.materials import REFLECTIVITY, Material
from depth_core.sim.raycast import BOX, CYLINDER, SPHERE
from depth_core.sim.scenes import BUILDERS, SCENE_INFO, SceneInfo
from depth_core.sim.scenes.common import SKIN

NEW_SCENES = ("highway", "parking", "warehouse", "corridor", "forest", "orchard")
OUTDOOR = ("highway", "parking", "forest", "orchard")
INDOOR = ("warehouse", "corridor")


def test_every_world_type_is_a_scene():
    assert SCENES == tuple(BUILDERS) and set(NEW_SCENES) < set(SCENES)


def _world(scene: str, seed: int, frames: int = 40):
    info = SCENE_INFO[scene]
    return BUILDERS[scene](np.random.default_rng([seed, 0]), frames, info.speed / 10.0)


def _config(scene: str, height: float, pitch: float) -> SimConfig:
    info = SCENE_INFO[scene]
    return SimConfig(scene, camera=CameraConfig(160, 96, hfov_deg=80.0, noise_std=0.0),
                     lidar=LidarConfig(beams=8, fov_up_deg=10.0, fov_down_deg=-15.0, azimuth_resolution_deg=2.0,
                                       max_range=min(100.0, info.max_depth)),
                     rig=RigConfig(camera_xyz=(0.2, 0.0, height), camera_pitch_deg=pitch,
                                   lidar_xyz=(0.0, 0.0, min(height + 0.2, info.max_mount_height))),
                     speed=info.speed, max_depth=info.max_depth)


def _mounts(scene: str):
    """A low robot, a car-height camera, and a high mount pitched 15 deg down (under the ceiling)."""
    top = min(2.5, SCENE_INFO[scene].max_mount_height)
    return [(0.3, 0.0), (1.6, 3.0), (top, 15.0)]


def test_scene_info_covers_every_world_type():
    assert set(SCENE_INFO) == set(BUILDERS)
    assert set(NEW_SCENES) <= set(BUILDERS)
    for name, info in SCENE_INFO.items():
        assert isinstance(info, SceneInfo) and info.speed > 0 and info.max_depth > 0
        assert info.indoor == np.isfinite(info.max_mount_height), name
    assert SCENE_INFO["street"] == SceneInfo(8.0, 250.0, float("inf"), False)
    assert SCENE_INFO["indoor"] == SceneInfo(0.5, 20.0, 2.2, True)
    assert SCENE_INFO["yard"] == SceneInfo(1.5, 120.0, float("inf"), False)
    assert (SCENE_INFO["highway"].speed, SCENE_INFO["highway"].max_depth) == (20.0, 250.0)
    assert (SCENE_INFO["parking"].speed, SCENE_INFO["parking"].max_depth) == (2.0, 150.0)
    assert (SCENE_INFO["warehouse"].speed, SCENE_INFO["warehouse"].max_depth) == (1.5, 60.0)
    assert (SCENE_INFO["corridor"].speed, SCENE_INFO["corridor"].max_depth) == (1.0, 40.0)
    assert (SCENE_INFO["forest"].speed, SCENE_INFO["forest"].max_depth) == (1.5, 120.0)


def test_every_material_is_distinct_and_has_an_albedo_and_a_reflectivity():
    # Several people append materials: two with one value would silently become aliases.
    assert len(Material.__members__) == len(Material)
    assert sorted(int(m) for m in Material) == list(range(len(Material)))
    assert len(REFLECTIVITY) == len(Material)
    missing = [m.name for m in Material if m != Material.SKY and m not in sim_materials._ALBEDO]
    assert not missing


@pytest.mark.parametrize("scene", NEW_SCENES)
def test_frames_from_low_car_and_high_mounts_have_valid_depth(scene):
    info = SCENE_INFO[scene]
    for height, pitch in _mounts(scene):
        sim = Simulator(_config(scene, height, pitch), seed=3, frames=30)
        for index in (0, 29):
            frame = sim.render(index)
            valid = np.isfinite(frame.depth)
            # Outdoors the sky is invalid; indoors every pixel sees a surface within range.
            assert valid.mean() > (0.97 if info.indoor else 0.45), (scene, height, index, valid.mean())
            assert (frame.depth[valid] > 0).all() and (frame.depth[valid] <= info.max_depth).all()
            assert frame.rgb.std() > 15
            # Not a wall in the face: the view reaches well down the way ahead (an orchard's
            # rows and alley floor fill most of the view close by; its far end is a few pixels).
            assert np.percentile(frame.depth[valid], 90) > (4.0 if info.indoor else 6.0 if scene == "orchard" else 10.0)
            assert np.percentile(frame.depth[valid], 99.5) > (8.0 if info.indoor else 20.0)


def _inside(prims, points: np.ndarray, margin: float) -> np.ndarray:
    """[P] mask: which points lie within ``margin`` (horizontally) of any primitive."""
    hit = np.zeros(len(points), bool)
    for k in range(len(prims.kind)):
        rel = points - prims.center[k]
        half = prims.half[k]
        if prims.kind[k] == BOX:
            c, s = np.cos(prims.yaw[k]), np.sin(prims.yaw[k])
            lx, ly = c * rel[:, 0] + s * rel[:, 1], -s * rel[:, 0] + c * rel[:, 1]
            hit |= (np.abs(lx) <= half[0] + margin) & (np.abs(ly) <= half[1] + margin) & (np.abs(rel[:, 2]) <= half[2])
        elif prims.kind[k] == CYLINDER:
            hit |= (np.hypot(rel[:, 0], rel[:, 1]) <= half[0] + margin) & (np.abs(rel[:, 2]) <= half[2])
        else:
            assert prims.kind[k] == SPHERE
            hit |= np.linalg.norm(rel, axis=1) <= half[0] + margin
    return hit


@pytest.mark.parametrize("scene", SCENES)
@pytest.mark.parametrize("seed", range(4))
def test_nothing_intrudes_on_the_trajectory(scene, seed):
    """Sensors from 0.2 m up to the highest allowed mount, up to 0.5 m ahead of and 0.3 m beside
    the base, stay at least 0.4 m from every primitive at every pose."""
    info = SCENE_INFO[scene]
    world = _world(scene, seed, frames=60)
    heights = [h for h in (0.2, 0.6, 1.0, 1.6, 2.2, 2.8, 3.4) if h <= info.max_mount_height]
    if np.isfinite(info.max_mount_height):
        heights.append(info.max_mount_height)
    offsets = np.array([(dx, dy, 0.0) for dx in (0.0, 0.5) for dy in (-0.3, 0.0, 0.3)])
    points = np.concatenate([
        (pose[:3, :3] @ offsets.T).T + pose[:3, 3] + np.array([0.0, 0.0, h])
        for pose in world.poses for h in heights])
    bad = _inside(world.prims, points, margin=0.4)
    assert not bad.any(), f"{scene} seed {seed}: {bad.sum()} sensor positions too close, e.g. {points[bad][:3]}"


def _count(prims, kind=None, materials=None, z_range=None, radius=None, min_height=None) -> int:
    m = np.ones(len(prims.kind), bool)
    if kind is not None:
        m &= prims.kind == kind
    if materials is not None:
        m &= np.isin(prims.material, [int(x) for x in materials])
    if z_range is not None:
        m &= (prims.center[:, 2] >= z_range[0]) & (prims.center[:, 2] <= z_range[1])
    if radius is not None:
        m &= (prims.half[:, 0] >= radius[0]) & (prims.half[:, 0] <= radius[1])
    if min_height is not None:
        m &= 2 * prims.half[:, 2] >= min_height
    return int(m.sum())


def _people(prims) -> int:
    """Heads: skin-coloured spheres of 8.5-11 cm radius 1.3-1.9 m up."""
    return _count(prims, SPHERE, [SKIN], (1.3, 1.9), (0.08, 0.115))


def _poles(prims) -> int:
    """Upright thin cylinders at least 2 m tall: lamp, utility and sign posts."""
    return _count(prims, CYLINDER, radius=(0.02, 0.2), min_height=2.0)


def _vehicles(prims) -> int:
    """Painted bodies standing on rubber wheels (cars, vans, trucks, forklifts)."""
    return min(_count(prims, BOX, [Material.CAR_PAINT]), _count(prims, BOX, [Material.RUBBER]) // 4)


@pytest.mark.parametrize("seed", range(3))
def test_worlds_hold_the_objects_robots_meet(seed):
    highway, parking = _world("highway", seed).prims, _world("parking", seed).prims
    forest, warehouse = _world("forest", seed).prims, _world("warehouse", seed).prims
    corridor = _world("corridor", seed).prims
    assert _vehicles(highway) >= 3 and _poles(highway) >= 3
    assert _count(highway, materials=[Material.FOLIAGE]) > 20     # trees, bushes, woods
    assert _vehicles(parking) >= 10 and _poles(parking) >= 2 and _people(parking) >= 1
    xs, ys = np.meshgrid(np.linspace(-20, 60, 300), np.linspace(-30, 30, 200))
    assert (_world("parking", seed).ground_material(xs.ravel(), ys.ravel()) == Material.MARKING).any()   # bay lines
    assert _count(forest, CYLINDER, [Material.BARK]) > 100 and _count(forest, materials=[Material.FOLIAGE]) > 150
    assert _count(forest, materials=[Material.STONE]) > 0
    assert _count(warehouse, BOX, [Material.LAMP]) + _count(warehouse, CYLINDER, [Material.LAMP]) > 0
    assert len(warehouse.kind) > 300                               # racks full of loads
    assert _count(corridor, BOX, [Material.LAMP]) > 3
    assert _count(corridor, materials=[Material.FOLIAGE]) + _count(corridor, materials=[Material.PLASTIC]) > 0
    seen = [_people(_world(s, seed).prims) for s in ("warehouse", "corridor", "forest")]
    assert sum(seen) >= 1


@pytest.mark.parametrize("scene", INDOOR)
@pytest.mark.parametrize("seed", range(3))
def test_indoor_worlds_have_a_ceiling_above_the_highest_mount(scene, seed):
    info = SCENE_INFO[scene]
    world = _world(scene, seed)
    prims = world.prims
    assert info.indoor and np.isfinite(info.max_mount_height)
    assert world.lighting.sun_direction is None and world.lighting.point_lights
    boxes = np.flatnonzero(prims.kind == BOX)
    bottom = prims.center[boxes, 2] - prims.half[boxes, 2]
    for pose in world.poses:
        x, y = pose[:2, 3]
        over = (np.abs(prims.center[boxes, 0] - x) <= prims.half[boxes, 0]) & \
               (np.abs(prims.center[boxes, 1] - y) <= prims.half[boxes, 1]) & (bottom > info.max_mount_height)
        assert over.any(), f"no ceiling over {x:.1f}, {y:.1f}"
    # The lights hang below the ceiling, above every mount.
    for xyz, intensity in world.lighting.point_lights:
        assert xyz[2] > info.max_mount_height + 0.3 and intensity > 0


@pytest.mark.parametrize("scene", NEW_SCENES)
def test_worlds_are_deterministic_by_seed(scene):
    a, b, c = _world(scene, 5), _world(scene, 5), _world(scene, 6)
    for name in ("kind", "center", "half", "yaw", "material", "color", "seed"):
        assert np.array_equal(getattr(a.prims, name), getattr(b.prims, name))
    assert np.array_equal(a.poses, b.poses)
    assert len(a.prims.kind) != len(c.prims.kind) or not np.array_equal(a.prims.center, c.prims.center)
    fa = Simulator(_config(scene, 1.0, 5.0), seed=5, frames=3).render(2)
    fb = Simulator(_config(scene, 1.0, 5.0), seed=5, frames=3).render(2)
    assert np.array_equal(fa.rgb, fb.rgb) and np.array_equal(fa.depth, fb.depth, equal_nan=True)


@pytest.mark.parametrize("scene", NEW_SCENES)
def test_worlds_reach_far_enough_ahead_for_long_sequences(scene):
    """A 300-frame sequence still looks ahead into the world at its last frame."""
    info = SCENE_INFO[scene]
    sim = Simulator(_config(scene, 1.2, 2.0), seed=1, frames=300)
    frame = sim.render(299)
    valid = np.isfinite(frame.depth)
    assert valid.mean() > (0.97 if info.indoor else 0.45)
    assert sim.world.poses[-1][0, 3] - sim.world.poses[0][0, 3] == pytest.approx(299 * info.speed / 10.0, rel=0.01)
