"""Render a :class:`World` into camera images (RGB + dense depth) and LiDAR scans."""

from __future__ import annotations

import numpy as np

from ..geometry import CameraIntrinsics, invert_transform, pixel_rays, transform_points
from .config import LidarConfig
from .materials import EMISSIVE, REFLECTIVITY, Material, NoiseTexture, SurfaceContext, albedo
from .raycast import GROUND, NO_HIT, Hits, Primitives, cast_rays
from .scenes import World

__all__ = ["CameraRenderer", "LidarScanner"]

_SIGNS = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], float)


def _all_corners(prims: Primitives, ks: np.ndarray) -> np.ndarray:
    """Bounding-box corners [K,8,3] (world) of primitives ``ks``."""
    local = _SIGNS[None] * prims.half[ks, None, :]
    c, s = np.cos(prims.yaw[ks])[:, None], np.sin(prims.yaw[ks])[:, None]
    x = c * local[..., 0] - s * local[..., 1]
    y = s * local[..., 0] + c * local[..., 1]
    return np.stack([x, y, local[..., 2]], axis=-1) + prims.center[ks, None, :]


def _surface_inputs(world: World, hits: Hits):
    """Material ids, tints and seeds of every ray's hit (``Material.SKY`` where nothing was hit)."""
    prims = world.prims
    k = hits.prim
    obj = k >= 0
    material = np.full(len(k), Material.SKY, dtype=np.int16)
    color = np.ones((len(k), 3), dtype=np.float32)
    seed = np.zeros(len(k), dtype=np.float32)
    material[obj] = prims.material[k[obj]]
    color[obj] = prims.color[k[obj]]
    seed[obj] = prims.seed[k[obj]]
    ground = k == GROUND
    if ground.any():
        pts = hits.point[ground]
        material[ground] = world.ground_material(pts[:, 0], pts[:, 1])
        if world.ground_color is not None:
            color[ground] = world.ground_color(pts[:, 0])
    return material, color, seed


class CameraRenderer:
    """Ray-casts one pixel-centre ray per pixel; depth is the optical-frame z of the hit."""

    def __init__(self, intrinsics: CameraIntrinsics, max_depth: float, noise_std: float) -> None:
        self.intrinsics = intrinsics
        self.max_depth = max_depth
        self.noise_std = noise_std
        self.rays = pixel_rays(intrinsics.K, intrinsics.height, intrinsics.width, np.float64).reshape(-1, 3)

    def _candidates(self, prims: Primitives, T_world_cam: np.ndarray):
        """(primitive, pixel indices) pairs: each primitive tests only its screen rectangle."""
        cam = self.intrinsics
        origin, forward = T_world_cam[:3, 3], T_world_cam[:3, 2]
        rel = prims.center - origin
        dist = np.linalg.norm(rel, axis=1)
        gap = dist - prims.radius
        ks = np.flatnonzero((gap < self.max_depth) & (rel @ forward > -prims.radius))
        ks = ks[np.argsort(gap[ks])]  # nearest first, so occluded rays skip what lies behind
        if ks.size == 0:
            return
        corners = transform_points(invert_transform(T_world_cam), _all_corners(prims, ks))
        z = corners[..., 2]
        behind = z.min(axis=1) < 0.05
        with np.errstate(divide="ignore", invalid="ignore"):
            u = cam.fx * corners[..., 0] / z + cam.cx
            v = cam.fy * corners[..., 1] / z + cam.cy
        u0 = np.where(behind, 0, np.clip(np.floor(u.min(axis=1)), 0, cam.width)).astype(int)
        u1 = np.where(behind, cam.width, np.clip(np.ceil(u.max(axis=1)) + 1, 0, cam.width)).astype(int)
        v0 = np.where(behind, 0, np.clip(np.floor(v.min(axis=1)), 0, cam.height)).astype(int)
        v1 = np.where(behind, cam.height, np.clip(np.ceil(v.max(axis=1)) + 1, 0, cam.height)).astype(int)
        for k, a, b, c, d, gone in zip(ks, u0, u1, v0, v1, z.max(axis=1) < 0.05):
            if gone or a >= b or c >= d:
                continue
            yield k, (np.arange(c, d)[:, None] * cam.width + np.arange(a, b)[None, :]).ravel(), gap[k]

    def render(self, world: World, T_world_cam: np.ndarray, noise: NoiseTexture,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """RGB [H,W,3] uint8 and depth [H,W] float32 metres (NaN where nothing is within range)."""
        cam = self.intrinsics
        dirs = self.rays @ T_world_cam[:3, :3].T
        origin = T_world_cam[:3, 3]
        hits = cast_rays(world.prims, origin, dirs, self._candidates(world.prims, T_world_cam),
                         ground_z=0.0, max_t=self.max_depth)
        depth = np.where(hits.prim == NO_HIT, np.nan, hits.t).astype(np.float32)
        rgb = self._shade(world, hits, dirs, noise)
        if self.noise_std > 0:
            rgb = rgb + rng.normal(0.0, self.noise_std, rgb.shape)
        rgb8 = (np.clip(rgb, 0, 1) ** (1 / 2.2) * 255 + 0.5).astype(np.uint8)
        return rgb8.reshape(cam.height, cam.width, 3), depth.reshape(cam.height, cam.width)

    def _shade(self, world: World, hits: Hits, dirs: np.ndarray, noise: NoiseTexture) -> np.ndarray:
        """Linear RGB [N,3] of every ray. Works on all rays at once and fills the sky last, which
        is cheaper than gathering the hit subset into new arrays."""
        light = world.lighting
        ray_len = np.linalg.norm(dirs, axis=1)
        unit = (dirs / ray_len[:, None]).astype(np.float32)
        material, color, seed = _surface_inputs(world, hits)
        normal = hits.normal
        cos_view = np.abs(np.einsum("ij,ij->i", normal, unit))
        with np.errstate(invalid="ignore"):
            distance = (hits.t * ray_len).astype(np.float32)
            footprint = distance / (self.intrinsics.fx * np.maximum(cos_view, 0.15))
        base = albedo(material, SurfaceContext(hits.uv, normal, color, seed, footprint, noise))
        if light.sun_direction is not None:
            irradiance = (light.ambient * (0.75 + 0.25 * normal[:, 2])
                          + light.sun_intensity * np.maximum(normal @ light.sun_direction.astype(np.float32), 0.0))
        else:
            irradiance = np.full(len(dirs), light.ambient, dtype=np.float32)
            for xyz, intensity in light.point_lights:
                to_light = (np.asarray(xyz) - hits.point).astype(np.float32)
                dist = np.linalg.norm(to_light, axis=1)
                lam = np.maximum(np.einsum("ij,ij->i", normal, to_light) / dist, 0.0)
                irradiance += intensity * lam / (1.0 + 0.12 * dist * dist)
        emissive = np.isin(material, [int(m) for m in EMISSIVE])
        irradiance[emissive] = 1.0
        rgb = base * irradiance[:, None]
        if np.isfinite(light.haze_distance):
            keep = np.exp(-distance / light.haze_distance)[:, None]
            rgb = rgb * keep + np.asarray(light.sky_horizon, np.float32) * (1 - keep)
        sky = hits.prim == NO_HIT
        if sky.any():
            rgb[sky] = self._sky(unit[sky], world, noise)
        return rgb * light.exposure

    @staticmethod
    def _sky(unit: np.ndarray, world: World, noise: NoiseTexture) -> np.ndarray:
        light = world.lighting
        elevation = np.arcsin(np.clip(unit[:, 2], -1, 1))
        w = np.clip(elevation * 2.5, 0, 1)[:, None] ** 0.8
        color = np.asarray(light.sky_horizon) * (1 - w) + np.asarray(light.sky_zenith) * w
        azimuth = np.arctan2(unit[:, 1], unit[:, 0])
        cloud = np.clip((noise(azimuth * 30.0, elevation * 60.0) - 0.55) * 4.0, 0, 1)[:, None]
        return color * (1 - cloud) + 0.95 * cloud


class LidarScanner:
    """A spinning LiDAR: ``beams`` rings x ``columns`` azimuth steps, stored column-major so each
    primitive tests one contiguous slice of rays (its azimuth window)."""

    def __init__(self, config: LidarConfig) -> None:
        self.config = config
        elevation = config.elevations()
        self.azimuth = np.arange(config.columns) * 2 * np.pi / config.columns - np.pi
        el, az = np.meshgrid(elevation, self.azimuth)   # [columns, beams]
        self.dirs = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], -1).reshape(-1, 3)
        self.ring = np.tile(np.arange(config.beams, dtype=np.uint16), config.columns)
        # Azimuth slack: mounting tilt moves rays off their nominal azimuth by up to about this much.
        self.margin = np.radians(3.0)

    def _candidates(self, prims: Primitives, T_world_lidar: np.ndarray):
        cfg = self.config
        origin = T_world_lidar[:3, 3]
        gap = np.linalg.norm(prims.center - origin, axis=1) - prims.radius
        ks = np.flatnonzero(gap < cfg.max_range)
        ks = ks[np.argsort(gap[ks])]
        if ks.size == 0:
            return
        corners = transform_points(invert_transform(T_world_lidar), _all_corners(prims, ks))
        center = transform_points(invert_transform(T_world_lidar), prims.center[ks])
        horizontal = np.hypot(center[:, 0], center[:, 1])
        inside = horizontal < np.hypot(prims.half[ks, 0], prims.half[ks, 1]) * 1.001 + 0.05
        a0 = np.arctan2(center[:, 1], center[:, 0])
        delta = np.angle(np.exp(1j * (np.arctan2(corners[..., 1], corners[..., 0]) - a0[:, None])))
        lo, hi = a0 + delta.min(axis=1) - self.margin, a0 + delta.max(axis=1) + self.margin
        n_cols, beams = cfg.columns, cfg.beams
        step = 2 * np.pi / n_cols
        for k, full, a, b in zip(ks, inside | (hi - lo > np.pi), lo, hi):
            if full:
                yield k, np.arange(n_cols * beams), gap[k]
                continue
            c0 = int(np.floor((a + np.pi) / step))
            c1 = int(np.ceil((b + np.pi) / step)) + 1
            cols = np.arange(c0, c1) % n_cols
            yield k, (cols[:, None] * beams + np.arange(beams)[None, :]).ravel(), gap[k]

    def scan(self, world: World, T_world_lidar: np.ndarray, rng: np.random.Generator):
        """Points [N,3] float32 (LiDAR frame, metres), intensity [N] float32 (0..255), ring [N] uint16."""
        cfg = self.config
        dirs = self.dirs @ T_world_lidar[:3, :3].T
        hits = cast_rays(world.prims, T_world_lidar[:3, 3], dirs, self._candidates(world.prims, T_world_lidar),
                         ground_z=0.0, max_t=cfg.max_range)
        keep = (hits.prim != NO_HIT) & (hits.t >= cfg.min_range) & (rng.uniform(size=len(dirs)) >= cfg.dropout)
        sel = np.flatnonzero(keep)
        rng_noisy = hits.t[sel] + rng.normal(0.0, cfg.range_noise_std, sel.size)
        points = self.dirs[sel] * rng_noisy[:, None]
        material, _, _ = _surface_inputs(world, hits)
        incidence = np.abs(np.einsum("ij,ij->i", hits.normal[sel], dirs[sel]))
        reflect = REFLECTIVITY[material[sel]]
        intensity = np.clip(255.0 * reflect * (0.3 + 0.7 * incidence) + rng.normal(0, 3.0, sel.size), 0, 255)
        return points.astype(np.float32), intensity.astype(np.float32), self.ring[sel]
