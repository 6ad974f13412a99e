"""KITTI-like driving: a straight road with lane markings, sidewalks, buildings, parked and
oncoming cars, street lights, signs and trees. The car drives in the right lane."""

from __future__ import annotations

import numpy as np

from ..materials import Material
from ..raycast import Primitives
from .common import Lighting, World, add_car, add_tree, planar_poses

M = Material

FACADE_COLORS = [(0.62, 0.55, 0.45), (0.55, 0.25, 0.18), (0.6, 0.6, 0.6), (0.8, 0.78, 0.72),
                 (0.45, 0.42, 0.38), (0.7, 0.62, 0.4), (0.5, 0.55, 0.6)]


def build_street(rng: np.random.Generator, n_frames: int, step: float) -> World:
    road_half = rng.uniform(3.2, 5.0)
    sidewalk = rng.uniform(1.8, 4.0)
    x_start, x_end = -40.0, n_frames * step + 160.0
    crossings = np.sort(rng.uniform(x_start + 40, x_end, max(1, int((x_end - x_start) / 150))))
    cross_half = rng.uniform(4.0, 6.0)
    prims = Primitives()

    def near_crossing(x0, x1, margin=0.0):
        reach = cross_half + sidewalk + margin
        return np.any((crossings + reach > x0) & (crossings - reach < x1))

    lane = -road_half / 2

    def clear_of_lane(center, half) -> bool:
        """False for what hangs into the robot's lane below 4 m (a crown over the road): sensors
        are mounted up to 3 m high and 0.3 m to the side of a path that wobbles 0.25 m."""
        return abs(center[1] - lane) - max(half[0], half[1]) > 1.0 or center[2] - half[2] > 4.0

    for side in (1, -1):
        # Buildings along the street, with gaps and cross streets.
        x = x_start
        while x < x_end:
            length = rng.uniform(8, 26)
            if near_crossing(x, x + length, 1.0):
                x += length
                continue
            depth, height = rng.uniform(8, 20), rng.choice([rng.uniform(4, 9), rng.uniform(9, 26)])
            face = side * (road_half + sidewalk + rng.uniform(0.0, 3.0))
            prims.add_box((x + length / 2, face + side * depth / 2, height / 2),
                          (length / 2, depth / 2, height / 2), M.FACADE,
                          FACADE_COLORS[rng.integers(len(FACADE_COLORS))], 0.0, rng.uniform())
            x += length + (0.0 if rng.uniform() < 0.5 else rng.uniform(1.0, 7.0))
        # Curb stones, one per block between crossings.
        edges = np.concatenate([[x_start], np.ravel([[c - cross_half, c + cross_half] for c in crossings]), [x_end]])
        for x0, x1 in edges.reshape(-1, 2):
            if x1 > x0:
                prims.add_box(((x0 + x1) / 2, side * (road_half + 0.1), 0.07), ((x1 - x0) / 2, 0.1, 0.07),
                              M.SIDEWALK, (1, 1, 1), 0.0, rng.uniform())
        # Parked cars by the curb; on the robot's side of a road too narrow to pass them, the
        # car is drawn (same random stream, same world otherwise) but left out.
        x = x_start + rng.uniform(0, 8)
        while x < x_end:
            if rng.uniform() < 0.55 and not near_crossing(x - 3, x + 3):
                target = prims if side > 0 or road_half - 1.15 - 1.0 > road_half / 2 + 0.25 + 0.8 else Primitives()
                add_car(target, rng, x, side * (road_half - 1.15), rng.normal(0, 0.03) + (0 if side < 0 else np.pi))
            x += rng.uniform(5.5, 11.0)
        # Street lights with an arm, and signs.
        x = x_start + rng.uniform(0, 20)
        while x < x_end:
            y = side * (road_half + 0.5)
            if not near_crossing(x - 1, x + 1):
                height = rng.uniform(6.0, 8.0)
                prims.add_cylinder(x, y, 0.0, height, 0.1, M.METAL, (0.6, 0.6, 0.62), rng.uniform())
                prims.add_box((x, y - side * 0.8, height - 0.1), (0.25, 0.8, 0.08), M.METAL, (0.5, 0.5, 0.5))
            if rng.uniform() < 0.35:
                xs = x + rng.uniform(4, 10)
                prims.add_cylinder(xs, y, 0.0, 2.6, 0.04, M.METAL, (0.6, 0.6, 0.6))
                color = [(0.8, 0.05, 0.05), (0.05, 0.2, 0.7), (0.9, 0.9, 0.9)][rng.integers(3)]
                prims.add_box((xs - 0.05, y, 2.6), (0.02, 0.35, 0.35), M.SIGN, color, 0.0, rng.uniform())
            x += rng.uniform(18, 32)
        # Trees on the sidewalk.
        x = x_start + rng.uniform(0, 10)
        while x < x_end:
            if rng.uniform() < 0.45 and not near_crossing(x - 3, x + 3):
                tree = Primitives()
                add_tree(tree, rng, x, side * (road_half + sidewalk * rng.uniform(0.5, 0.8)), rng.uniform(0.7, 1.2))
                prims.extend(tree, keep=clear_of_lane)
            x += rng.uniform(7, 16)

    # Oncoming traffic, stopped in the left lane (the robot's own lane stays free).
    x = x_start + rng.uniform(10, 40)
    while x < x_end:
        add_car(prims, rng, x, road_half / 2 + rng.normal(0, 0.2), np.pi + rng.normal(0, 0.04))
        x += rng.uniform(12, 45)

    # Ground: asphalt road and cross streets, markings, sidewalks, grass behind.
    edge_line = road_half - 0.3

    def ground_material(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        ay = np.abs(y)
        dist_cross = np.min(np.abs(x[:, None] - crossings[None, :]), axis=1)
        in_cross = dist_cross < cross_half
        road = (ay < road_half) | (in_cross & (ay < road_half + sidewalk + 40))
        mat = np.where(road, M.ASPHALT, np.where(ay < road_half + sidewalk, M.SIDEWALK, M.GRASS))
        dashed = (ay < 0.075) & (np.mod(x, 9.0) < 3.0) & ~in_cross
        edge = (np.abs(ay - edge_line) < 0.075) & ~in_cross
        zebra = ((np.abs(dist_cross - cross_half - 2.0) < 1.5) & (ay < road_half)
                 & (np.mod(y, 1.0) < 0.5))
        return np.where(dashed | edge | zebra, M.MARKING, mat).astype(np.int16)

    n = n_frames
    xs = np.arange(n) * step
    wobble = 0.25 * np.sin(xs / rng.uniform(40, 90) + rng.uniform(0, 6.28))
    ys = lane + wobble
    yaw = np.arctan2(np.gradient(ys), step) if n > 1 else np.zeros(n)
    elevation = np.radians(rng.uniform(25, 60))
    azimuth = rng.uniform(0, 2 * np.pi)
    sun = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
    lighting = Lighting(ambient=rng.uniform(0.35, 0.5), sun_direction=sun, sun_intensity=rng.uniform(0.7, 1.0),
                        haze_distance=rng.uniform(250, 600), exposure=rng.uniform(0.9, 1.15))
    return World(prims.freeze(), ground_material, lighting, planar_poses(xs, ys, yaw))
