"""Render a :class:`World` into camera images (RGB + dense depth) and LiDAR scans."""

from __future__ import annotations

import numpy as np

from ..geometry import CameraIntrinsics, invert_transform, pixel_rays, transform_points
from .appearance import Appearance, LensWarp, apply_camera, photo_detail, sky_radiance, sun_direction
from .config import LidarConfig
from .materials import EMISSIVE, REFLECTIVITY, Material, NoiseTexture, SurfaceContext, albedo
from .raycast import GROUND, NO_HIT, Hits, Primitives, cast_rays, occluded
from .raycast import all_corners as _all_corners
from .scenes import World

__all__ = ["CameraRenderer", "LidarScanner"]


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


# The camera's near plane (metres) for culling, and the 12 edges of a box as corner index pairs.
_NEAR = 0.05
_EDGES = np.array([(i, j) for i in range(8) for j in range(i + 1, 8) if bin(i ^ j).count("1") == 1])


class CameraRenderer:
    """Ray-casts one pixel-centre ray per pixel; depth is the optical-frame z of the hit."""

    def __init__(self, intrinsics: CameraIntrinsics, max_depth: float, noise_std: float, *,
                 distortion: tuple = (), appearance: Appearance | None = None) -> None:
        """``distortion``: OpenCV ``(k1, k2, p1, p2[, k3])`` of the lens; the image is rendered at the
        pinhole ``intrinsics``, warped into the distorted sensor, put through the sensor there, and
        rectified back to ``intrinsics`` (depth stays the exact pinhole depth). ``appearance``: the
        sequence's look (shadows, sky, photo textures, camera pipeline; its noise model replaces
        ``noise_std``). With neither, the output is the plain renderer's, bit for bit."""
        self.intrinsics = intrinsics
        self.max_depth = max_depth
        self.noise_std = noise_std
        self.rays = pixel_rays(intrinsics.K, intrinsics.height, intrinsics.width, np.float64).reshape(-1, 3)
        self.distortion = tuple(float(x) for x in distortion)
        if len(self.distortion) not in (0, 4, 5):
            raise ValueError(f"distortion must be () or (k1, k2, p1, p2[, k3]), got {distortion}")
        self.appearance = appearance
        self.lens = (LensWarp(intrinsics.K, self.distortion, intrinsics.width, intrinsics.height)
                     if any(self.distortion) else None)

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
        corners = transform_points(invert_transform(T_world_cam), _all_corners(prims, ks))   # [K,8,3]
        # Boxes that cross the near plane (everything beside the camera: walls, racks, crowns)
        # are clipped to it, so that their screen rectangle covers only what lies in front.
        a, b = corners[:, _EDGES[:, 0]], corners[:, _EDGES[:, 1]]                            # [K,12,3]
        za, zb = a[..., 2], b[..., 2]
        cross = (za < _NEAR) != (zb < _NEAR)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(cross, (_NEAR - za) / (zb - za), np.nan)
        points = np.concatenate([corners, a + t[..., None] * (b - a)], axis=1)              # [K,20,3]
        ok = np.concatenate([corners[..., 2] >= _NEAR, cross], axis=1)
        z = np.where(ok, np.maximum(points[..., 2], _NEAR), 1.0)
        u = np.where(ok, cam.fx * points[..., 0] / z + cam.cx, np.nan)
        v = np.where(ok, cam.fy * points[..., 1] / z + cam.cy, np.nan)
        gone = ~ok.any(axis=1)
        u[gone], v[gone] = 0.0, 0.0
        u0 = np.clip(np.floor(np.nanmin(u, axis=1)), 0, cam.width).astype(int)
        u1 = np.clip(np.ceil(np.nanmax(u, axis=1)) + 1, 0, cam.width).astype(int)
        v0 = np.clip(np.floor(np.nanmin(v, axis=1)), 0, cam.height).astype(int)
        v1 = np.clip(np.ceil(np.nanmax(v, axis=1)) + 1, 0, cam.height).astype(int)
        for k, a0, a1, b0, b1, g in zip(ks, u0, u1, v0, v1, gone):
            if g or a0 >= a1 or b0 >= b1:
                continue
            yield k, (np.arange(b0, b1)[:, None] * cam.width + np.arange(a0, a1)[None, :]).ravel(), gap[k]

    def render(self, world: World, T_world_cam: np.ndarray, noise: NoiseTexture,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """RGB [H,W,3] uint8 and depth [H,W] float32 metres (NaN where nothing is within range)."""
        cam = self.intrinsics
        dirs = self.rays @ T_world_cam[:3, :3].T
        origin = T_world_cam[:3, 3]
        hits = cast_rays(world.prims, origin, dirs, self._candidates(world.prims, T_world_cam),
                         ground_z=0.0, max_t=self.max_depth)
        depth = np.where(hits.prim == NO_HIT, np.nan, hits.t).astype(np.float32)
        if self.appearance is not None or self.lens is not None:
            rgb = self._shade(world, hits, dirs, noise, self.appearance)
            rgb8 = apply_camera(rgb.reshape(cam.height, cam.width, 3), self.appearance, rng, self.lens, self.noise_std)
            return rgb8, depth.reshape(cam.height, cam.width)
        rgb = self._shade(world, hits, dirs, noise)
        if self.noise_std > 0:
            rgb = rgb + rng.normal(0.0, self.noise_std, rgb.shape)
        rgb8 = (np.clip(rgb, 0, 1) ** (1 / 2.2) * 255 + 0.5).astype(np.uint8)
        return rgb8.reshape(cam.height, cam.width, 3), depth.reshape(cam.height, cam.width)

    def _shade(self, world: World, hits: Hits, dirs: np.ndarray, noise: NoiseTexture,
               look: Appearance | None = None) -> np.ndarray:
        """Linear RGB [N,3] of every ray. Works on all rays at once and fills the sky last, which
        is cheaper than gathering the hit subset into new arrays. ``look`` adds photo textures,
        sun shadows, coloured sun and sky light and its sky; without it, the plain shading."""
        light = world.lighting
        ray_len = np.linalg.norm(dirs, axis=1)
        unit = (dirs / ray_len[:, None]).astype(np.float32)
        material, color, seed = _surface_inputs(world, hits)
        normal = hits.normal
        cos_view = np.abs(np.einsum("ij,ij->i", normal, unit))
        with np.errstate(invalid="ignore"):
            distance = (hits.t * ray_len).astype(np.float32)
            footprint = distance / (self.intrinsics.fx * np.maximum(cos_view, 0.15))
        ctx = SurfaceContext(hits.uv, normal, color, seed, footprint, noise)
        base = albedo(material, ctx)
        emissive = np.isin(material, [int(m) for m in EMISSIVE])
        if look is not None:
            with np.errstate(invalid="ignore"):   # photo textures: the mean of a pixel's two footprint axes
                iso = distance / (self.intrinsics.fx * np.sqrt(np.maximum(cos_view, 0.15)))
            photo = photo_detail(material, SurfaceContext(hits.uv, normal, color, seed, iso, noise), look)
            base = base * photo[:, None]
            return self._shade_look(world, hits, unit, distance, material, ctx, base, emissive, look)
        if light.sun_direction is not None:
            irradiance = (light.ambient * (0.75 + 0.25 * normal[:, 2])
                          + light.sun_intensity * np.maximum(normal @ light.sun_direction.astype(np.float32), 0.0))
        else:
            irradiance = self._point_light_irradiance(light, hits, normal)
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
    def _point_light_irradiance(light, hits: Hits, normal: np.ndarray) -> np.ndarray:
        irradiance = np.full(len(normal), light.ambient, dtype=np.float32)
        for xyz, intensity in light.point_lights:
            to_light = (np.asarray(xyz) - hits.point).astype(np.float32)
            dist = np.linalg.norm(to_light, axis=1)
            lam = np.maximum(np.einsum("ij,ij->i", normal, to_light) / dist, 0.0)
            irradiance += intensity * lam / (1.0 + 0.12 * dist * dist)
        return irradiance

    def _shade_look(self, world: World, hits: Hits, unit, distance, material, ctx: SurfaceContext, base,
                    emissive, look: Appearance) -> np.ndarray:
        light = world.lighting
        normal = hits.normal
        sun = sun_direction(look, light.sun_direction)
        sky = hits.prim == NO_HIT
        if sun is not None:
            sun_intensity = light.sun_intensity * look.sun_scale
            ambient = light.ambient * look.ambient_scale
            lambert = np.maximum(normal @ sun.astype(np.float32), 0.0)
            if look.shadows and sun[2] > 0:
                lambert = lambert * self.sun_visibility(world, hits, sun, lambert > 0, distance,
                                                        look.shadow_distance_m)
            irradiance = ((ambient * (0.75 + 0.25 * normal[:, 2]))[:, None] * np.asarray(look.ambient_color, np.float32)
                          + (sun_intensity * lambert)[:, None] * np.asarray(look.sun_color, np.float32))
            haze_color = np.asarray(look.sky_horizon, np.float32)
            haze_distance = min(light.haze_distance, look.haze_distance_m)
        else:
            sun_intensity = 0.0
            irradiance = np.repeat(self._point_light_irradiance(light, hits, normal)[:, None], 3, axis=1)
            haze_color = np.asarray(light.sky_horizon, np.float32)
            haze_distance = light.haze_distance
        irradiance[emissive] = 1.0
        rgb = base * irradiance
        if np.isfinite(haze_distance):
            keep = np.exp(-distance / haze_distance)[:, None]
            rgb = rgb * keep + haze_color * (1 - keep)
        if sky.any():
            if light.sun_direction is not None:
                rgb[sky] = sky_radiance(unit[sky], look, sun, ctx.noise, sun_intensity)
            else:   # indoors: what little is seen through gaps keeps the plain sky
                rgb[sky] = self._sky(unit[sky], world, ctx.noise)
        return rgb * light.exposure

    @staticmethod
    def sun_visibility(world: World, hits: Hits, sun: np.ndarray, lit: np.ndarray, distance: np.ndarray,
                       max_distance: float = np.inf) -> np.ndarray:
        """1 where a hit sees the sun, 0 where something lies between it and the sun: one shadow
        ray per hit in ``lit`` (hits facing the sun) within ``max_distance`` metres of the camera,
        started a little off the surface (no self-shadowing acne)."""
        vis = np.ones(len(lit), dtype=np.float32)
        idx = np.flatnonzero(lit & (hits.prim != NO_HIT) & (distance <= max_distance))
        if idx.size == 0 or len(world.prims.kind) == 0:
            return vis
        offset = (2e-3 + 2e-5 * distance[idx].astype(np.float64))[:, None]
        origins = hits.point[idx] + offset * hits.normal[idx]
        own = hits.prim[idx]
        blocked = occluded(world.prims, origins, sun, own=own)
        vis[idx[blocked]] = 0.0
        return vis

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

    def scan(self, world: World, T_world_lidar: np.ndarray, rng: np.random.Generator, columns: range | None = None):
        """Points [N,3] float32 (LiDAR frame, metres), intensity [N] float32 (0..255), ring [N] uint16.
        ``columns``: only these azimuth columns (one slice of a sweep taken over time)."""
        cfg = self.config
        dirs = self.dirs @ T_world_lidar[:3, :3].T
        candidates = self._candidates(world.prims, T_world_lidar)
        in_slice = np.ones(len(dirs), bool)
        if columns is not None:
            lo, hi = columns.start * cfg.beams, columns.stop * cfg.beams
            in_slice[:] = False
            in_slice[lo:hi] = True
            candidates = ((k, sub, gap) for k, idx, gap in candidates
                          if (sub := idx[(idx >= lo) & (idx < hi)]).size)
        hits = cast_rays(world.prims, T_world_lidar[:3, 3], dirs, candidates, ground_z=0.0, max_t=cfg.max_range)
        keep = (in_slice & (hits.prim != NO_HIT) & (hits.t >= cfg.min_range)
                & (rng.uniform(size=len(dirs)) >= cfg.dropout))
        sel = np.flatnonzero(keep)
        rng_noisy = hits.t[sel] + rng.normal(0.0, cfg.range_noise_std, sel.size)
        points = self.dirs[sel] * rng_noisy[:, None]
        material, _, _ = _surface_inputs(world, hits)
        incidence = np.abs(np.einsum("ij,ij->i", hits.normal[sel], dirs[sel]))
        reflect = REFLECTIVITY[material[sel]]
        intensity = np.clip(255.0 * reflect * (0.3 + 0.7 * incidence) + rng.normal(0, 3.0, sel.size), 0, 255)
        return points.astype(np.float32), intensity.astype(np.float32), self.ring[sel]
