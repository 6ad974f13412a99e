"""A forest path or off-road track: a winding bare track (sometimes grass between the ruts)
through dense trees of varied sizes (broadleaf crowns and tiered conifers), undergrowth, rocks
and boulders, fallen logs, stumps, mounds of uneven ground, leaf litter, grass and gravel patches.
The robot follows the track at walking pace; crowns may overhang it, but only well above any
sensor mount."""

from __future__ import annotations

import numpy as np

from ..materials import Material
from ..raycast import Primitives
from .common import Lighting, PathClearance, World, add_bush, add_person, planar_poses

M = Material

CLEAR_HEIGHT = 4.5   # nothing over the path below this


def build_forest(rng: np.random.Generator, n_frames: int, step: float) -> World:
    travel = n_frames * step
    amp, wl, phase = rng.uniform(1.0, 5.0), rng.uniform(30, 80), rng.uniform(0, 2 * np.pi)
    amp2, wl2 = rng.uniform(0.0, 0.8), rng.uniform(15, 30)
    path_half = rng.uniform(0.6, 1.2)

    def path_y(x):
        return amp * np.sin(2 * np.pi * x / wl + phase) + amp2 * np.sin(2 * np.pi * x / wl2)

    x_start, x_end = -30.0, travel + 125.0
    xs = np.arange(n_frames) * step
    ys = path_y(xs)
    yaw = np.arctan(2 * np.pi * amp / wl * np.cos(2 * np.pi * xs / wl + phase)
                    + 2 * np.pi * amp2 / wl2 * np.cos(2 * np.pi * xs / wl2))
    # The track continues past the robot's last pose: keep it clear too (it is what the camera sees).
    track_x = np.arange(x_start, x_end, 0.5)
    track = PathClearance(track_x, path_y(track_x))
    prims = Primitives()
    greens = [(0.06, 0.18, 0.05), (0.1, 0.24, 0.06), (0.05, 0.14, 0.06), (0.12, 0.22, 0.05), (0.08, 0.2, 0.1)]
    conifer_share = rng.uniform(0.0, 0.8)
    spacing = rng.uniform(3.5, 6.0)           # mean distance between trees
    lateral = 32.0

    def tree(x, y, far):
        dist = track.distance(x, y, 15.0)
        size = rng.uniform(0.4, 1.6) ** 1.5
        trunk_r = 0.08 + 0.3 * size * rng.uniform(0.7, 1.2)
        if dist < trunk_r + path_half + 1.0:
            return
        green = greens[rng.integers(len(greens))]
        seed = rng.uniform()
        if rng.uniform() < conifer_share:   # tiers of foliage discs narrowing upwards
            h = rng.uniform(8.0, 22.0) * (0.5 + 0.5 * size)
            base = rng.uniform(0.5, 3.0)
            spread = rng.uniform(1.2, 2.2) * (0.6 + 0.4 * size)
            if dist < spread + 1.0:
                base = max(base, CLEAR_HEIGHT)
            if base > h - 2.0:
                h = base + 3.0
            prims.add_cylinder(x, y, 0.0, h, trunk_r, M.BARK, seed=seed)
            tiers = 1 if far else int(rng.integers(3, 6))
            for i in range(tiers):
                f = i / tiers
                z0 = base + (h - base) * f
                z1 = base + (h - base) * (f + 1.0 / tiers) + 0.3
                prims.add_cylinder(x, y, z0, z1, max(0.3, spread * (1.0 - 0.8 * f)), M.FOLIAGE, green, seed)
        else:                               # a broadleaf tree: one to three crown spheres
            crown = rng.uniform(1.5, 3.5) * (0.6 + 0.5 * size)
            trunk_h = rng.uniform(2.0, 6.0) * (0.6 + 0.5 * size)
            if dist < crown + 1.0:
                trunk_h = max(trunk_h, CLEAR_HEIGHT + crown * 0.2 + 0.2)
            prims.add_cylinder(x, y, 0.0, trunk_h + crown * 0.8, trunk_r, M.BARK, seed=seed)
            prims.add_sphere((x, y, trunk_h + crown * 0.8), crown, M.FOLIAGE, green, seed)
            for _ in range(0 if far else int(rng.integers(0, 3))):
                r = crown * rng.uniform(0.5, 0.8)
                off = rng.normal(0, 0.4 * crown, 2)
                z = trunk_h + crown * rng.uniform(0.6, 1.4)
                if z - r < CLEAR_HEIGHT and track.distance(x + off[0], y + off[1], 15.0) < r + 1.0:
                    continue
                prims.add_sphere((x + off[0], y + off[1], z), r, M.FOLIAGE, green, rng.uniform())

    # Trees: jittered grid cells, denser near the track, coarse beyond 20 m.
    for gx in np.arange(x_start, x_end, spacing):
        for gy in np.arange(-lateral, lateral, spacing):
            x, y = gx + rng.uniform(0, spacing), gy + rng.uniform(0, spacing) + path_y(gx)
            if rng.uniform() < 0.15:
                continue   # clearings
            tree(x, y, far=abs(y - path_y(x)) > 20.0)
    # A dark wall of distant forest so the view ends in trees, not sky.
    for side in (-1, 1):
        for gx in np.arange(x_start, x_end + 30, 12.0):
            y = path_y(gx) + side * (lateral + rng.uniform(2, 8))
            h = rng.uniform(10, 20)
            prims.add_box((gx + 6, y, h / 2), (6.5, rng.uniform(2, 5), h / 2), M.FOLIAGE, (0.04, 0.1, 0.04), 0.0,
                          rng.uniform())
    for gy in np.arange(-lateral, lateral, 6.0):   # trees across the end of the track
        tree(x_end + rng.uniform(2, 12), path_y(x_end) + gy + rng.uniform(0, 6), far=True)

    def spot(lo, hi, margin):
        for _ in range(20):
            x = rng.uniform(x_start, x_end)
            y = path_y(x) + rng.choice([-1, 1]) * rng.uniform(lo, hi)
            if track.clear(x, y, margin, path_half + 1.0):
                return x, y
        return None

    area = (x_end - x_start) / 10.0
    for _ in range(int(area * rng.uniform(3, 7))):   # undergrowth, thicker by the track
        s = spot(path_half + 1.0, 15.0, 2.0)
        if s is not None:
            add_bush(prims, rng, *s, rng.uniform(0.5, 1.3))
    for _ in range(int(area * rng.uniform(1, 3))):   # rocks and boulders
        r = rng.uniform(0.15, 1.2)
        s = spot(path_half + 1.0, 20.0, r * 1.5)
        if s is None:
            continue
        color = (0.45, 0.44, 0.42) if rng.uniform() < 0.6 else (0.35, 0.33, 0.3)
        if rng.uniform() < 0.6:
            prims.add_sphere((*s, r * rng.uniform(-0.4, 0.3)), r, M.STONE, color, rng.uniform())
        else:
            prims.add_box((*s, r * 0.4), (r, r * rng.uniform(0.6, 1.0), r * 0.6), M.STONE, color,
                          rng.uniform(0, np.pi), rng.uniform())
    for _ in range(int(area * rng.uniform(0.3, 1.0))):   # fallen logs and stumps
        length, r = rng.uniform(2.0, 8.0), rng.uniform(0.12, 0.4)
        s = spot(path_half + 1.5, 20.0, length / 2 + 0.5)
        if s is None:
            continue
        if rng.uniform() < 0.7:
            prims.add_box((*s, r * 0.9), (length / 2, r, r), M.BARK, (1, 1, 1), rng.uniform(0, np.pi),
                          rng.uniform())
        else:
            prims.add_cylinder(*s, 0.0, rng.uniform(0.2, 0.7), r * 1.5, M.BARK, seed=rng.uniform())
    for _ in range(int(area * rng.uniform(0.3, 1.0))):   # mounds of uneven ground
        radius, h = rng.uniform(2.5, 7.0), rng.uniform(0.2, 1.0)
        foot = np.sqrt(2 * radius * h - h * h)
        s = spot(path_half + 1.0 + foot, 30.0, foot)
        if s is None:
            continue
        prims.add_sphere((*s, h - radius), radius, M.DIRT if rng.uniform() < 0.6 else M.GRASS,
                         (0.75, 0.65, 0.5), rng.uniform())

    for _ in range(int(rng.integers(1, 4))):   # hikers beside the track, and one coming along it
        s = spot(path_half + 1.0, 6.0, 0.4)
        if s is not None:
            add_person(prims, rng, *s)
    if x_end - travel > 10 and rng.uniform() < 0.6:
        px = rng.uniform(travel + 4, min(travel + 40, x_end))
        add_person(prims, rng, px, path_y(px) + rng.uniform(-0.3, 0.3), np.pi + rng.normal(0, 0.3))

    patch_scale, noise_phase = rng.uniform(0.05, 0.15), rng.uniform(0, 100, 3)
    grassy = rng.uniform(0.6, 1.4)
    litter = np.array([rng.uniform(0.5, 0.8), rng.uniform(0.42, 0.6), rng.uniform(0.3, 0.45)])   # leaf litter
    grass_middle = rng.uniform() < 0.5

    def ground_material(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        d = np.abs(y - path_y(x))
        edge = path_half * (1.0 + 0.25 * np.sin(x * 0.7 + noise_phase[2]))
        field = (np.sin(x * patch_scale * 3.1 + noise_phase[0]) * np.sin(y * patch_scale * 2.3 + noise_phase[1])
                 + 0.5 * np.sin((x - y) * patch_scale * 5.3))
        mat = np.where(field > grassy, M.GRASS, np.where(field < -1.1, M.GRAVEL, M.DIRT))
        track_mat = np.where(grass_middle & (d < 0.25 * path_half), M.GRASS, M.GRAVEL)   # a grass strip between ruts
        mat = np.where(d < edge, track_mat, mat)
        return mat.astype(np.int16)

    def ground_color(x: np.ndarray) -> np.ndarray:
        return np.broadcast_to(litter, (len(x), 3))

    elevation, azimuth = np.radians(rng.uniform(25, 70)), rng.uniform(0, 2 * np.pi)
    sun = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
    lighting = Lighting(ambient=rng.uniform(0.3, 0.45), sun_direction=sun, sun_intensity=rng.uniform(0.5, 0.85),
                        haze_distance=rng.uniform(150, 400), exposure=rng.uniform(0.95, 1.2))
    return World(prims.freeze(), ground_material, lighting, planar_poses(xs, ys, yaw), ground_color)
