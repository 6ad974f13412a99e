"""An orchard or vineyard for a farm robot: straight rows of fruit trees or trellised vines on
posts and wires, a mown grass alley the robot drives down the middle of, bare strips under the
rows, fruit in the crowns, picking bins and ladders, a tractor at a headland, a windbreak hedge.

Kept out of the default model's training on purpose: the world type a fine-tuning run is measured
on (docs/finetune.md), with its repeated, receding structure seen in no other world."""

from __future__ import annotations

import numpy as np

from ..materials import Material
from ..raycast import Primitives
from .common import Lighting, World, add_person, add_truck, planar_poses

M = Material

FRUIT = [(0.75, 0.08, 0.05), (0.85, 0.55, 0.08), (0.55, 0.7, 0.12), (0.35, 0.05, 0.25)]


def build_orchard(rng: np.random.Generator, n_frames: int, step: float) -> World:
    travel = n_frames * step
    x_start, x_end = -20.0, travel + 110.0
    spacing = rng.uniform(3.6, 5.0)            # between rows; the robot drives between the middle two
    along = rng.uniform(1.8, 3.5)              # between trees in a row
    vines = rng.uniform() < 0.35               # trellised vines: a low continuous canopy on wires
    rows = int(rng.integers(4, 8))             # rows on each side
    fruit_colour = FRUIT[rng.integers(len(FRUIT))]
    wobble_amp, wobble_wl = rng.uniform(0.0, 0.15), rng.uniform(20, 40)
    prims = Primitives()
    green = (rng.uniform(0.06, 0.12), rng.uniform(0.2, 0.3), rng.uniform(0.03, 0.07))
    for side in (1, -1):
        for k in range(rows):
            y = side * spacing * (k + 0.5)
            # The first row's crowns keep clear of the alley the robot and its sensors use.
            reach = min(1.4, spacing / 2 - 0.95) if k == 0 else 1.4
            offset = rng.uniform(0, along)
            missing = rng.uniform(0.0, 0.12)       # gaps where a tree died
            for x in np.arange(x_start + offset, x_end, along):
                if rng.uniform() < missing:
                    continue
                far = k >= 3
                if vines:
                    _vine(prims, rng, x, y + rng.normal(0, 0.03), along, reach, green, fruit_colour, far)
                else:
                    _fruit_tree(prims, rng, x, y + rng.normal(0, 0.05), reach, green, fruit_colour, far)
            # Row-end posts with wires between them (trellis), every row.
            post_every = along * int(rng.integers(3, 6))
            posts = np.arange(x_start, x_end, post_every)
            wire_h = (0.9, 1.6) if vines else (1.2,)
            for x in posts:
                prims.add_cylinder(x, y, 0.0, max(wire_h) + 0.3, 0.05, M.WOOD, (0.45, 0.35, 0.22), rng.uniform())
            for h in wire_h:
                prims.add_box(((x_start + x_end) / 2, y, h), ((x_end - x_start) / 2, 0.006, 0.006), M.METAL,
                              (0.6, 0.6, 0.6))
    # Picking bins, ladders and people between the outer rows, never in the robot's alley.
    for _ in range(int(travel / 8) + 6):
        k = int(rng.integers(1, rows))
        y = rng.choice([-1, 1]) * spacing * k
        x = rng.uniform(x_start, x_end)
        roll = rng.uniform()
        if roll < 0.55:
            prims.add_box((x, y, 0.4), (0.6, 0.6, 0.4), M.PLASTIC if rng.uniform() < 0.5 else M.PLANKS,
                          [(0.75, 0.4, 0.1), (0.2, 0.35, 0.6), (0.5, 0.38, 0.25)][rng.integers(3)],
                          rng.uniform(0, np.pi), rng.uniform())
        elif roll < 0.8:
            add_person(prims, rng, x, y)
        else:   # a step ladder: two leaning rails
            for dx in (-0.25, 0.25):
                prims.add_box((x + dx, y, 1.0), (0.03, 0.03, 1.0), M.METAL, (0.7, 0.7, 0.7), 0.0, rng.uniform())
    add_truck(prims, rng, x_end - rng.uniform(5, 25), rng.choice([-1, 1]) * spacing * rng.uniform(1.0, 2.0), 0.0)
    # A windbreak hedge beyond the last rows, and a tall one across the far headland.
    for side in (1, -1):
        y = side * spacing * (rows + 0.6)
        prims.add_box(((x_start + x_end) / 2, y, 2.5), ((x_end - x_start) / 2, 0.8, 2.5), M.FOLIAGE,
                      (0.05, 0.16, 0.05), 0.0, rng.uniform())
    prims.add_box((x_end + 6.0, 0.0, 4.0), (1.0, spacing * (rows + 1), 4.0), M.FOLIAGE, (0.05, 0.15, 0.06), 0.0,
                  rng.uniform())

    def ground_material(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        # Bare strips under the rows (kept weed-free), grass in the alleys, wheel ruts of earth.
        row_phase = np.abs(((np.abs(y) / spacing - 0.5) + 0.5) % 1.0 - 0.5) * spacing
        ruts = np.abs(np.abs(((np.abs(y) / spacing) + 0.5) % 1.0 - 0.5) * spacing - 0.75) < 0.15
        return np.where(row_phase < 0.45, M.DIRT, np.where(ruts, M.DIRT, M.GRASS)).astype(np.int16)

    xs = np.arange(n_frames) * step
    ys = wobble_amp * np.sin(2 * np.pi * xs / wobble_wl)
    yaw = np.arctan(2 * np.pi / wobble_wl * wobble_amp * np.cos(2 * np.pi * xs / wobble_wl))
    elevation, azimuth = np.radians(rng.uniform(15, 70)), rng.uniform(0, 2 * np.pi)
    sun = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
    lighting = Lighting(ambient=rng.uniform(0.35, 0.5), sun_direction=sun, sun_intensity=rng.uniform(0.7, 1.0),
                        haze_distance=rng.uniform(250, 600), exposure=rng.uniform(0.9, 1.15))
    return World(prims.freeze(), ground_material, lighting, planar_poses(xs, ys, yaw))


def _fruit_tree(prims: Primitives, rng, x, y, reach, green, fruit, far) -> None:
    """A pruned fruit tree: a short trunk and a crown of two or three spheres, fruit on its skin."""
    trunk_h = rng.uniform(0.7, 1.1)
    prims.add_cylinder(x, y, 0.0, trunk_h + 0.4, rng.uniform(0.06, 0.11), M.BARK, seed=rng.uniform())
    seed = rng.uniform()
    crown = rng.uniform(0.8, 1.0) * reach
    centre = np.array([x, y, trunk_h + crown])
    prims.add_sphere(centre, crown, M.FOLIAGE, green, seed)
    for _ in range(0 if far else int(rng.integers(1, 3))):
        r = crown * rng.uniform(0.55, 0.75)
        dz = rng.uniform(0.2, 0.6) * crown
        dx = rng.normal(0, 0.3 * crown)
        prims.add_sphere((x + dx, y, centre[2] + dz), r, M.FOLIAGE, green, seed)
    for _ in range(0 if far else int(rng.integers(3, 9))):
        d = rng.normal(size=3)
        d[2] = -abs(d[2]) * 0.5
        d /= np.linalg.norm(d)
        prims.add_sphere(centre + d * crown * 0.98, rng.uniform(0.035, 0.05), M.SIGN, fruit, rng.uniform())


def _vine(prims: Primitives, rng, x, y, along, reach, green, fruit, far) -> None:
    """A trellised vine: a thin stem and a hedge-like slab of leaves between the wires."""
    prims.add_cylinder(x, y, 0.0, 0.9, 0.04, M.BARK, seed=rng.uniform())
    half_w = min(0.35, reach * 0.4)
    prims.add_box((x, y, 1.3), (along / 2, half_w, 0.45), M.FOLIAGE, green, 0.0, rng.uniform())
    for _ in range(0 if far else int(rng.integers(1, 4))):
        prims.add_sphere((x + rng.uniform(-along / 2, along / 2), y + rng.choice([-1, 1]) * half_w, 0.9),
                         rng.uniform(0.05, 0.08), M.SIGN, fruit, rng.uniform())
