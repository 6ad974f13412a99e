"""A garden or farmyard for a small ground robot: grass, a gravel path it follows, houses and
sheds, fences, hedges, trees, rocks, garden furniture and a parked car."""

from __future__ import annotations

import numpy as np

from ..materials import Material
from ..raycast import Primitives
from .common import Lighting, World, add_car, add_table, add_tree, planar_poses
from .street import FACADE_COLORS

M = Material


def build_yard(rng: np.random.Generator, n_frames: int, step: float) -> World:
    amplitude, wavelength, phase = rng.uniform(1.0, 4.0), rng.uniform(25, 60), rng.uniform(0, 2 * np.pi)
    path_half = rng.uniform(0.6, 1.0)

    def path_y(x):
        return amplitude * np.sin(2 * np.pi * x / wavelength + phase)

    x_start, x_end = -30.0, n_frames * step + 90.0
    prims = Primitives()

    def clear_of_path(x, y, margin):
        return abs(y - path_y(x)) > path_half + margin

    def place(margin: float, y_range=(-30.0, 30.0)):
        for _ in range(20):
            x, y = rng.uniform(x_start, x_end), rng.uniform(*y_range)
            if clear_of_path(x, y, margin):
                return x, y
        return None

    area = (x_end - x_start) / 10.0
    for _ in range(max(1, int(area * 0.25))):  # houses with roofs, and sheds
        spot = place(9.0)
        if spot is None:
            continue
        x, y = spot
        lx, ly, h = rng.uniform(3, 7), rng.uniform(3, 6), rng.uniform(2.5, 6.0)
        yaw = rng.uniform(0, np.pi)
        if rng.uniform() < 0.6:
            prims.add_box((x, y, h / 2), (lx, ly, h / 2), M.FACADE,
                          FACADE_COLORS[rng.integers(len(FACADE_COLORS))], yaw, rng.uniform())
            prims.add_box((x, y, h + 0.25), (lx + 0.4, ly + 0.4, 0.25), M.ROOF,
                          [(0.45, 0.15, 0.1), (0.2, 0.2, 0.22), (0.35, 0.3, 0.25)][rng.integers(3)], yaw, rng.uniform())
        else:
            prims.add_box((x, y, h / 3), (lx / 2, ly / 2, h / 3), M.PLANKS, (0.45, 0.3, 0.18), yaw, rng.uniform())
    for side in (1, -1):  # fences along both sides, with posts
        y = side * rng.uniform(7, 14)
        x = x_start
        color = [(0.5, 0.35, 0.2), (0.8, 0.8, 0.78), (0.35, 0.25, 0.15)][rng.integers(3)]
        while x < x_end:
            length = rng.uniform(10, 30)
            if rng.uniform() < 0.7 and clear_of_path(x + length / 2, y, 1.0):
                h = rng.uniform(0.9, 1.8)
                prims.add_box((x + length / 2, y, h / 2), (length / 2, 0.03, h / 2), M.PLANKS, color, 0.0,
                              rng.uniform())
                for px in np.arange(x, x + length, 2.5):
                    prims.add_box((px, y - side * 0.06, h / 2 + 0.05), (0.05, 0.05, h / 2 + 0.05), M.WOOD, color)
            elif rng.uniform() < 0.5:  # a hedge instead
                h = rng.uniform(0.8, 2.0)
                prims.add_box((x + length / 2, y, h / 2), (length / 2, rng.uniform(0.3, 0.7), h / 2), M.FOLIAGE,
                              (0.08, 0.2, 0.05), 0.0, rng.uniform())
            x += length + rng.uniform(0, 4)
    for _ in range(int(area * 1.5)):
        spot = place(2.5)
        if spot is not None:
            add_tree(prims, rng, *spot, scale=rng.uniform(0.6, 1.6))
    for _ in range(int(area * 2.0)):  # rocks and bushes, half buried
        spot = place(1.0, (-12, 12))
        if spot is None:
            continue
        r = rng.uniform(0.15, 0.8)
        if rng.uniform() < 0.5:
            prims.add_sphere((*spot, r * rng.uniform(-0.3, 0.4)), r, M.STONE, (0.5, 0.48, 0.45), rng.uniform())
        else:
            prims.add_sphere((*spot, r * 0.5), r, M.FOLIAGE, (0.1, 0.28, 0.06), rng.uniform())
    for _ in range(int(area * 0.3)):  # garden tables, a parked car, a ball
        spot = place(2.5, (-10, 10))
        if spot is None:
            continue
        roll = rng.uniform()
        if roll < 0.4:
            add_table(prims, rng, *spot, rng.uniform(0, np.pi), (rng.uniform(0.8, 1.6), 0.8), 0.72,
                      M.WOOD, (0.6, 0.45, 0.3))
        elif roll < 0.6:
            add_car(prims, rng, *spot, rng.uniform(0, 2 * np.pi))
        else:
            r = rng.uniform(0.1, 0.3)
            ball = [(0.9, 0.1, 0.1), (0.1, 0.3, 0.9), (0.95, 0.8, 0.1)][rng.integers(3)]
            prims.add_sphere((*spot, r), r, M.SIGN, ball)

    patch_scale = rng.uniform(0.05, 0.12)
    noise_phase = rng.uniform(0, 100, 2)

    def ground_material(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        on_path = np.abs(y - path_y(x)) < path_half
        # Bare-earth patches where a smooth pseudo-random field is high.
        field = (np.sin(x * patch_scale * 3.1 + noise_phase[0]) * np.sin(y * patch_scale * 2.3 + noise_phase[1])
                 + 0.5 * np.sin((x + y) * patch_scale * 5.7))
        return np.where(on_path, M.GRAVEL, np.where(field > 1.05, M.GRAVEL, M.GRASS)).astype(np.int16)

    xs = np.arange(n_frames) * step
    ys = path_y(xs)
    yaw = np.arctan(2 * np.pi / wavelength * amplitude * np.cos(2 * np.pi * xs / wavelength + phase))
    elevation, azimuth = np.radians(rng.uniform(20, 65)), rng.uniform(0, 2 * np.pi)
    sun = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
    lighting = Lighting(ambient=rng.uniform(0.35, 0.5), sun_direction=sun, sun_intensity=rng.uniform(0.7, 1.0),
                        haze_distance=rng.uniform(200, 500), exposure=rng.uniform(0.9, 1.15))
    return World(prims.freeze(), ground_material, lighting, planar_poses(xs, ys, yaw))
