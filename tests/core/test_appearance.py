"""Appearance randomisation: the plain renderer unchanged, sampling, sun shadows, lens distortion
and rectification, the camera pipeline and the photo textures."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import pytest

from depth_core.geometry import CameraIntrinsics, make_transform
from depth_core.sim.appearance import SKIES, Appearance, AppearanceConfig, photo_detail, texture_pyramid
from depth_core.sim.materials import Material, NoiseTexture, SurfaceContext
from depth_core.sim.raycast import NO_HIT, Primitives, cast_rays, occluded
from depth_core.sim.render import CameraRenderer
from depth_core.sim.scenes import Lighting, World
from depth_core.sim.simulator import R_LINK_OPTICAL

M = Material

# A look that changes nothing but what a test switches on: no textures, no shadows, a fixed
# exposure and gamma 2.2, no noise, blur, vignetting or JPEG.
NEUTRAL = Appearance(textures=False, shadows=False, auto_exposure=0.0, haze_distance_m=1e9,
                     sun_color=(1.0, 1.0, 1.0), ambient_color=(1.0, 1.0, 1.0), cloud_cover=0.0)


def _camera(width=80, height=60, hfov_deg=70.0) -> CameraIntrinsics:
    f = 0.5 * width / np.tan(np.radians(hfov_deg) / 2)
    return CameraIntrinsics(f, f, (width - 1) / 2, (height - 1) / 2, width, height)


def _pose(xyz=(0.0, 0.0, 1.5)) -> np.ndarray:
    """T_world_cam of a camera at ``xyz`` looking along +x (optical frame: z forward, y down)."""
    return make_transform(R_LINK_OPTICAL, xyz)


def _world(prims: Primitives, lighting: Lighting, ground=None) -> World:
    if ground is None:
        def ground(x, y):
            return np.full(len(x), M.ASPHALT, dtype=np.int16)
    return World(prims.freeze(), ground, lighting, np.eye(4)[None])


def _legacy_world(indoor: bool) -> World:
    """A small hand-built scene with every primitive kind and a dozen materials."""
    prims = Primitives()
    prims.add_box((8.0, -2.5, 1.5), (1.0, 1.5, 1.5), M.FACADE, (0.6, 0.5, 0.4), 0.0, 0.3)
    prims.add_box((6.0, 2.5, 0.7), (2.0, 0.9, 0.4), M.CAR_PAINT, (0.5, 0.05, 0.05), 0.4, 0.7)
    prims.add_box((6.0, 2.5, 1.3), (1.0, 0.8, 0.2), M.GLASS, (1, 1, 1), 0.4, 0.7)
    prims.add_cylinder(10.0, 1.0, 0.0, 3.0, 0.2, M.BARK, seed=0.2)
    prims.add_sphere((10.0, 1.0, 3.5), 1.2, M.FOLIAGE, (0.1, 0.25, 0.05), 0.9)
    prims.add_cylinder(5.0, -1.0, 0.0, 2.5, 0.05, M.METAL, (0.6, 0.6, 0.6), 0.1)
    prims.add_box((5.0, -1.0, 2.5), (0.02, 0.3, 0.3), M.SIGN, (0.8, 0.05, 0.05), 0.0, 0.5)
    prims.add_box((14.0, 0.0, 2.0), (0.1, 4.0, 2.0), M.WALL, (0.8, 0.8, 0.75), 0.0, 0.1)
    prims.add_box((4.0, 1.0, 2.2), (0.2, 0.2, 0.05), M.LAMP)

    def ground(x, y):
        ay = np.abs(y)
        return np.where(ay < 1.5, M.ASPHALT, np.where(ay < 1.6, M.MARKING, M.GRASS)).astype(np.int16)

    if indoor:
        lighting = Lighting(ambient=0.3, point_lights=[((4.0, 0.0, 2.5), 1.2), ((9.0, -1.0, 2.8), 0.8)], exposure=1.1)
    else:
        sun = np.array([0.3, -0.5, 0.8])
        lighting = Lighting(ambient=0.4, sun_direction=sun / np.linalg.norm(sun), sun_intensity=0.9,
                            haze_distance=300.0)
    return _world(prims, lighting, ground)


# sha256 of (rgb bytes, depth bytes) of the renderer as it was before appearance randomisation
# (captured from that implementation, unchanged since: 80x60, noise_std 0.01, rng seed 3).
LEGACY_DIGESTS = {
    False: ("a612935e58b24a5386d7c5bc37e76152b6aea98fa4e6aa6ff781d2ca5243a0c8",
            "7d19d86301daecd0731b844b08eb414bf4a2ddd2e58fb55a5ad0f8630d1fe177"),
    True: ("29131da48ec34dd6e4bb114c3d6c6cd5b9c27da0d3568567940e0e90efe77cfc",
           "7d19d86301daecd0731b844b08eb414bf4a2ddd2e58fb55a5ad0f8630d1fe177"),
}


def _digests(rgb, depth):
    return hashlib.sha256(rgb.tobytes()).hexdigest(), hashlib.sha256(depth.tobytes()).hexdigest()


@pytest.mark.parametrize("indoor", [False, True])
@pytest.mark.parametrize("kwargs", [{}, {"distortion": (), "appearance": None}, {"distortion": (0, 0, 0, 0, 0)}])
def test_plain_renderer_is_bit_identical_to_the_legacy_one(indoor, kwargs):
    world = _legacy_world(indoor)
    cam = CameraRenderer(_camera(), 60.0, 0.01, **kwargs)
    rgb, depth = cam.render(world, _pose(), NoiseTexture(np.random.default_rng(5)), np.random.default_rng(3))
    assert rgb.dtype == np.uint8 and depth.dtype == np.float32
    assert _digests(rgb, depth) == LEGACY_DIGESTS[indoor]


def test_sampling_is_reproducible_by_seed_and_within_the_ranges():
    cfg = AppearanceConfig()
    assert cfg.sample(np.random.default_rng(7)) == cfg.sample(np.random.default_rng(7))
    assert cfg.sample(np.random.default_rng(7)) != cfg.sample(np.random.default_rng(8))
    looks = [cfg.sample(np.random.default_rng(s)) for s in range(300)]
    assert {a.sky for a in looks} == set(SKIES)
    for a in looks:
        i = SKIES.index(a.sky)
        assert cfg.cloud_cover[i][0] <= a.cloud_cover <= cfg.cloud_cover[i][1]
        assert cfg.sun_scale[i][0] <= a.sun_scale <= cfg.sun_scale[i][1]
        assert cfg.ambient_scale[i][0] <= a.ambient_scale <= cfg.ambient_scale[i][1]
        assert cfg.haze_distance_m[i][0] <= a.haze_distance_m <= cfg.haze_distance_m[i][1] * (1 + 1e-9)
        if a.sky in ("sunset", "dawn"):
            assert cfg.low_sun_elevation_deg[0] <= a.sun_elevation_deg <= cfg.low_sun_elevation_deg[1]
        elif a.sun_elevation_deg is not None:
            assert cfg.sun_elevation_deg[0] <= a.sun_elevation_deg <= cfg.sun_elevation_deg[1]
        assert cfg.gamma[0] <= a.gamma <= cfg.gamma[1]
        assert cfg.exposure_ev[0] <= a.exposure_ev <= cfg.exposure_ev[1]
        assert cfg.vignetting[0] <= a.vignetting <= cfg.vignetting[1]
        assert cfg.shot_noise[0] <= a.shot_noise <= cfg.shot_noise[1] * (1 + 1e-9)
        assert cfg.read_noise[0] <= a.read_noise <= cfg.read_noise[1] * (1 + 1e-9)
        assert a.motion_blur_px == 0.0 or cfg.motion_blur_px[0] <= a.motion_blur_px <= cfg.motion_blur_px[1]
        assert a.jpeg_quality == 0 or cfg.jpeg_quality[0] <= a.jpeg_quality <= cfg.jpeg_quality[1]
        assert all(0.5 < g < 2.0 for g in a.white_balance) and a.white_balance[1] == pytest.approx(1.0)
        d = a.to_dict()
        json.dumps(d, allow_nan=False)
        assert Appearance.from_dict(json.loads(json.dumps(d))) == a
    jpeg = np.mean([a.jpeg_quality > 0 for a in looks])
    assert abs(jpeg - cfg.jpeg_prob) < 0.1
    with pytest.raises(ValueError, match="sky_probs"):
        AppearanceConfig(sky_probs=(1.0, 0.0))
    with pytest.raises(ValueError, match="sky must be"):
        Appearance(sky="foggy")


def _shadow_world() -> tuple[World, np.ndarray, np.ndarray]:
    """A 1 m box floating 2 m over the ground, a sun at 60 degrees elevation: its shadow's centre."""
    prims = Primitives()
    center = np.array([8.0, 0.0, 2.0])
    prims.add_box(center, (0.5, 0.5, 0.5), M.METAL, (0.6, 0.6, 0.6))
    el, az = np.radians(60.0), np.radians(30.0)
    sun = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    world = _world(prims, Lighting(ambient=0.4, sun_direction=sun, sun_intensity=0.9))
    shadow = center - center[2] / sun[2] * sun
    return world, sun, shadow


def _pixel(cam: CameraRenderer, T_world_cam: np.ndarray, point: np.ndarray) -> tuple[int, int]:
    p = np.linalg.inv(T_world_cam) @ np.r_[point, 1.0]
    k = cam.intrinsics
    return round(k.fy * p[1] / p[2] + k.cy), round(k.fx * p[0] / p[2] + k.cx)


def test_a_box_between_the_ground_and_the_sun_shadows_that_patch():
    world, sun, shadow = _shadow_world()
    eye = np.array([0.0, 0.0, 4.0])
    T = make_transform(_look_at(eye, shadow), eye)
    noise = NoiseTexture(np.random.default_rng(0))
    lit_cam = CameraRenderer(_camera(120, 90), 60.0, 0.0, appearance=NEUTRAL)
    shade_cam = CameraRenderer(_camera(120, 90), 60.0, 0.0, appearance=dataclasses.replace(NEUTRAL, shadows=True))
    lit, depth = lit_cam.render(world, T, noise, np.random.default_rng(0))
    shaded, depth2 = shade_cam.render(world, T, noise, np.random.default_rng(0))
    np.testing.assert_array_equal(depth, depth2)
    r, c = _pixel(lit_cam, T, shadow)
    patch = (slice(r - 2, r + 3), slice(c - 2, c + 3))
    assert np.isfinite(depth[patch]).all()
    assert shaded[patch].mean() < 0.7 * lit[patch].mean()
    # Away from the shadow (towards the camera, the box's other side) nothing changes.
    away = shadow + np.array([-3.0, 1.5, 0.0])
    r2, c2 = _pixel(lit_cam, T, away)
    np.testing.assert_array_equal(shaded[r2 - 2:r2 + 3, c2 - 2:c2 + 3], lit[r2 - 2:r2 + 3, c2 - 2:c2 + 3])
    # The shadow ray test itself: ground points under the box are blocked, others are not.
    pts = shadow + np.array([[0.0, 0.0, 1e-3], [0.2, -0.2, 1e-3], [3.0, 0.0, 1e-3], [0.0, -2.0, 1e-3]])
    np.testing.assert_array_equal(occluded(world.prims, pts, sun), [True, True, False, False])


def _look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rotation of an optical frame (z forward, y down) at ``eye`` looking at ``target``."""
    z = (target - eye) / np.linalg.norm(target - eye)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)


def test_culled_shadow_rays_agree_with_testing_every_primitive():
    rng = np.random.default_rng(1)
    prims = Primitives()
    for _ in range(40):
        c = rng.uniform([-20, -20, 0.5], [20, 20, 6])
        kind = rng.integers(3)
        if kind == 0:
            prims.add_box(c, rng.uniform(0.2, 3.0, 3), M.FACADE, yaw=rng.uniform(-1, 1))
        elif kind == 1:
            prims.add_cylinder(c[0], c[1], 0.0, c[2], rng.uniform(0.1, 1.0), M.BARK)
        else:
            prims.add_sphere(c, rng.uniform(0.3, 2.0), M.FOLIAGE)
    prims.freeze()
    origins = np.c_[rng.uniform(-25, 25, (4000, 2)), rng.uniform(0, 3, 4000) * (rng.uniform(size=4000) < 0.3)]
    everything = np.arange(len(origins))
    for el in (5.0, 35.0, 80.0):
        s = np.array([np.cos(np.radians(el)) * 0.6, np.cos(np.radians(el)) * 0.8, np.sin(np.radians(el))])
        fast = occluded(prims, origins, s)
        brute = occluded(prims, origins, s, ((k, everything) for k in range(len(prims.kind))))
        np.testing.assert_array_equal(fast, brute)
        assert 0.02 < fast.mean() < 0.98
        # One origin per ray gives what casting from each origin alone gives.
        some = rng.choice(len(origins), 30, replace=False)
        for i in some:
            hit = cast_rays(prims, origins[i], s[None], ((k, np.array([0]), 0.0) for k in range(len(prims.kind))),
                            ground_z=None)
            assert (hit.prim[0] != NO_HIT) == fast[i]


def _edge_world() -> World:
    """A bright (emissive) wall whose left edge stands at y = -5 m (10 m ahead: the right part of
    the image) in front of a dark wall."""
    prims = Primitives()
    prims.add_box((10.0, -8.5, 6.0), (0.1, 3.5, 6.0), M.LAMP)
    prims.add_box((14.0, 0.0, 10.0), (0.1, 20.0, 10.0), M.RUBBER)
    return _world(prims, Lighting(ambient=0.3, sun_direction=np.array([0.0, 0.0, 1.0]), sun_intensity=0.2))


def _edge_columns(img: np.ndarray, rows) -> np.ndarray:
    """Sub-pixel column of the strongest step in each row: where the profile crosses half way."""
    g = img.astype(np.float64)
    g = g.mean(axis=2) if g.ndim == 3 else g
    out = []
    for r in rows:
        line = g[r]
        c = int(np.argmax(np.abs(np.diff(line))))
        lo, hi = max(c - 3, 0), min(c + 4, len(line) - 1)
        seg = line[lo:hi + 1]
        half = 0.5 * (line[lo] + line[hi])
        j = int(np.flatnonzero(np.diff(np.sign(seg - half)) != 0)[0])
        out.append(lo + j + (half - seg[j]) / (seg[j + 1] - seg[j]))
    return np.array(out)


def test_distortion_and_rectification_keep_edges_straight_and_registered_with_depth():
    world = _edge_world()
    intr = _camera(160, 120, 80.0)
    T = make_transform(R_LINK_OPTICAL, (0.0, 0.0, 5.0))
    noise = NoiseTexture(np.random.default_rng(0))
    dist = (-0.3, 0.0, 0.0, 0.0, 0.0)
    cam = CameraRenderer(intr, 60.0, 0.0, distortion=dist, appearance=NEUTRAL)
    rgb, depth = cam.render(world, T, noise, np.random.default_rng(0))
    plain_rgb, plain_depth = CameraRenderer(intr, 60.0, 0.0, appearance=NEUTRAL).render(
        world, T, noise, np.random.default_rng(0))
    np.testing.assert_array_equal(depth, plain_depth)          # depth is the exact pinhole depth
    rows = range(6, 100, 4)
    from_depth = _edge_columns(np.nan_to_num(depth, nan=100.0), rows)
    rectified = _edge_columns(rgb, rows)
    assert np.abs(rectified - from_depth).max() < 1.0          # registered with depth, so straight
    assert np.ptp(rectified) < 1.5
    assert np.abs(rectified - _edge_columns(plain_rgb, rows)).max() < 1.0
    # ... and the sensor image really was distorted: there the edge bows towards the centre
    # (barrel), most at the top and bottom.
    sensor = _edge_columns(cam.lens.to_sensor(plain_rgb), range(6, 90, 4))
    assert (sensor < rectified.mean() - 2.0).all() and np.ptp(sensor) > 5.0


def _street_like() -> World:
    world = _legacy_world(indoor=False)
    world.lighting.haze_distance = np.inf
    return world


def test_jpeg_and_noise_change_the_image_but_keep_its_brightness():
    world = _street_like()
    noise = NoiseTexture(np.random.default_rng(5))
    intr = _camera(160, 120)
    plain = CameraRenderer(intr, 60.0, 0.0, appearance=NEUTRAL)
    base = plain.render(world, _pose(), noise, np.random.default_rng(1))[0]
    for change in ({"jpeg_quality": 40}, {"shot_noise": 2e-3, "read_noise": 6e-3},
                   {"shot_noise": 2e-3, "read_noise": 6e-3, "noise_per_channel": False}, {"motion_blur_px": 4.0}):
        cam = CameraRenderer(intr, 60.0, 0.0, appearance=dataclasses.replace(NEUTRAL, **change))
        out = cam.render(world, _pose(), noise, np.random.default_rng(1))[0]
        diff = np.abs(out.astype(np.int16) - base).mean()
        assert diff > 0.5, change
        assert abs(out.mean() - base.mean()) < 0.02 * base.mean() + 0.5, change
        again = cam.render(world, _pose(), noise, np.random.default_rng(1))[0]
        np.testing.assert_array_equal(out, again)               # a pure function of the rng
    noisy = CameraRenderer(intr, 60.0, 0.0, appearance=dataclasses.replace(NEUTRAL, read_noise=0.01))
    a = noisy.render(world, _pose(), noise, np.random.default_rng(1))[0]
    b = noisy.render(world, _pose(), noise, np.random.default_rng(2))[0]
    assert not np.array_equal(a, b)                             # per-frame noise


def test_sampled_looks_render_deterministically_and_differ():
    world = _street_like()
    noise = NoiseTexture(np.random.default_rng(5))
    intr = _camera(96, 72)
    frames = []
    for s in range(4):
        look = AppearanceConfig().sample(np.random.default_rng(s))
        cam = CameraRenderer(intr, 60.0, 0.01, appearance=look, distortion=(-0.2, 0.05, 0.0, 0.0, 0.0))
        a, da = cam.render(world, _pose(), noise, np.random.default_rng(9))
        b, db = cam.render(world, _pose(), noise, np.random.default_rng(9))
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(da, db)
        assert a.shape == (72, 96, 3) and a.dtype == np.uint8 and 20 < a.mean() < 235
        frames.append(a)
    assert all(not np.array_equal(frames[0], f) for f in frames[1:])


def test_texture_photos_load_tile_and_are_mip_mapped(repo_root):
    for name in ("brick", "grass", "gravel"):
        levels = texture_pyramid(name)
        assert texture_pyramid(name) is levels                  # loaded once per process
        assert levels[0].shape == (512, 512) and levels[-1].shape == (1, 1)
        assert all(abs(float(t.mean()) - 1.0) < 1e-3 for t in levels)
        t = levels[0].astype(np.float64)
        inner = np.abs(np.diff(t, axis=1)).mean()
        seam = np.abs(t[:, 0] - t[:, -1]).mean()               # across the wrap: no visible seam
        assert seam < 1.5 * inner, name
    # Far away a pixel covers many tiles: the modulation averages out instead of aliasing.
    n = 5000
    rng = np.random.default_rng(0)
    look = Appearance()
    uv = rng.uniform(0, 50, (n, 2)).astype(np.float32)
    material = np.full(n, M.GRASS, dtype=np.int16)

    def detail(footprint):
        ctx = SurfaceContext(uv, np.tile(np.float32([0, 0, 1]), (n, 1)), np.ones((n, 3), np.float32),
                             np.zeros(n, np.float32), np.full(n, footprint, np.float32),
                             NoiseTexture(np.random.default_rng(1)))
        return photo_detail(material, ctx, look)

    assert detail(0.002).std() > 0.15
    assert detail(5.0).std() < 0.05
    np.testing.assert_array_equal(detail(0.002), detail(0.002))
    doc = (repo_root / "docs" / "textures.md").read_text()
    for needle in ("brick.png", "grass.png", "gravel.png", "CC0"):
        assert needle in doc
