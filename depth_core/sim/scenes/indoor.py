"""NYU-like rooms: walls, floor and ceiling, furniture along the walls, windows, pictures, a door,
a rug, and sometimes a table in the middle. The camera walks a slow loop, panning."""

from __future__ import annotations

import numpy as np

from ..materials import Material
from ..raycast import Primitives
from .common import Lighting, World, add_table, planar_poses

M = Material

WALL_COLORS = [(0.85, 0.82, 0.75), (0.7, 0.75, 0.8), (0.8, 0.7, 0.6), (0.9, 0.9, 0.88), (0.6, 0.7, 0.6),
               (0.85, 0.75, 0.65)]
WOOD_COLORS = [(0.45, 0.28, 0.15), (0.6, 0.42, 0.25), (0.3, 0.2, 0.12), (0.75, 0.6, 0.42)]
FABRIC_COLORS = [(0.5, 0.1, 0.1), (0.15, 0.2, 0.45), (0.4, 0.4, 0.4), (0.55, 0.5, 0.35), (0.2, 0.35, 0.25)]


def _wall_frame(wall: int, half_x: float, half_y: float):
    """For wall 0..3 (+x, +y, -x, -y): a point on it, its inward normal, its tangent, half length."""
    return [((half_x, 0.0), (-1.0, 0.0), (0.0, 1.0), half_y),
            ((0.0, half_y), (0.0, -1.0), (-1.0, 0.0), half_x),
            ((-half_x, 0.0), (1.0, 0.0), (0.0, -1.0), half_y),
            ((0.0, -half_y), (0.0, 1.0), (1.0, 0.0), half_x)][wall]


# How far each kind of furniture reaches into the room from its wall, in metres.
_REACH = {"shelf": 0.47, "cabinet": 0.6, "bed": 2.04, "sofa": 0.9, "desk": 0.7, "plant": 0.75, "gap": 0.0}


def _furnish_wall(prims: Primitives, rng: np.random.Generator, wall: int, hx: float, hy: float,
                  height: float) -> float:
    """Furniture, pictures, a window along one wall; returns how far the furniture reaches into the room."""
    (px, py), (nx, ny), (tx, ty), half_len = _wall_frame(wall, hx, hy)
    room_half = hx if wall % 2 == 0 else hy    # half the room's size across this wall
    yaw = np.arctan2(ty, tx)  # furniture's local x runs along the wall

    def at(s: float, d: float, z: float):
        return (px + tx * s + nx * d, py + ty * s + ny * d, z)

    s = -half_len + rng.uniform(0.1, 0.6)
    reach = 0.0
    while s < half_len - 0.6:
        kind = rng.choice(["shelf", "cabinet", "bed", "sofa", "desk", "plant", "gap"],
                          p=[0.18, 0.2, 0.1, 0.12, 0.15, 0.1, 0.15])
        width = {"shelf": rng.uniform(0.6, 1.4), "cabinet": rng.uniform(0.6, 1.6), "bed": rng.uniform(1.4, 2.0),
                 "sofa": rng.uniform(1.6, 2.4), "desk": rng.uniform(1.0, 1.6), "plant": 0.5,
                 "gap": rng.uniform(0.4, 1.2)}[kind]
        if s + width > half_len - 0.05:
            break
        if kind == "bed" and room_half < 3.2:
            kind = "sofa"   # a bed would leave no room to walk past it
        mid = s + width / 2
        reach = max(reach, _REACH[kind])
        wood = WOOD_COLORS[rng.integers(len(WOOD_COLORS))]
        fabric = FABRIC_COLORS[rng.integers(len(FABRIC_COLORS))]
        seed = rng.uniform()
        if kind == "shelf":
            h, d = rng.uniform(1.6, min(2.3, height - 0.2)), rng.uniform(0.3, 0.45)
            prims.add_box(at(mid, d / 2, h / 2), (width / 2, d / 2, h / 2), M.WOOD, wood, yaw, seed)
            for i in range(int(h / 0.4)):  # books on each shelf, sticking out slightly
                prims.add_box(at(mid, d + 0.01, 0.25 + 0.4 * i), (width / 2 - 0.05, 0.01, 0.12),
                              M.BOOKS, (1, 1, 1), yaw, rng.uniform())
        elif kind == "cabinet":
            h, d = rng.uniform(0.7, 1.1), rng.uniform(0.4, 0.6)
            prims.add_box(at(mid, d / 2, h / 2), (width / 2, d / 2, h / 2), M.WOOD, wood, yaw, seed)
            if rng.uniform() < 0.4:  # a TV on it
                prims.add_box(at(mid, d / 2, h + 0.35), (min(width / 2, 0.55), 0.03, 0.32), M.SCREEN, (1, 1, 1), yaw)
        elif kind == "bed":
            prims.add_box(at(mid, 1.0, 0.25), (width / 2, 1.0, 0.25), M.FABRIC, fabric, yaw, seed)
            prims.add_box(at(mid, 0.25, 0.58), (width / 2 - 0.1, 0.15, 0.08), M.FABRIC, (0.9, 0.9, 0.88), yaw)
            prims.add_box(at(mid, 0.04, 0.55), (width / 2, 0.04, 0.55), M.WOOD, wood, yaw, seed)
        elif kind == "sofa":
            prims.add_box(at(mid, 0.45, 0.22), (width / 2, 0.45, 0.22), M.FABRIC, fabric, yaw, seed)
            prims.add_box(at(mid, 0.1, 0.55), (width / 2, 0.1, 0.35), M.FABRIC, fabric, yaw, seed)
            for e in (-1, 1):
                prims.add_box(at(mid + e * (width / 2 - 0.1), 0.45, 0.32), (0.1, 0.45, 0.32),
                              M.FABRIC, fabric, yaw, seed)
        elif kind == "desk":
            x, y, _ = at(mid, 0.35, 0.0)
            add_table(prims, rng, x, y, yaw, (width, 0.7), 0.74, M.WOOD, wood)
            if rng.uniform() < 0.6:
                prims.add_box(at(mid, 0.2, 0.95), (0.3, 0.02, 0.2), M.SCREEN, (1, 1, 1), yaw)
        elif kind == "plant":
            x, y, _ = at(mid, 0.3, 0.0)
            prims.add_cylinder(x, y, 0.0, 0.4, 0.18, M.STONE, (0.6, 0.35, 0.25), seed)
            prims.add_sphere((x, y, 0.75), rng.uniform(0.3, 0.45), M.FOLIAGE, (0.1, 0.3, 0.08), seed)
        s += width + rng.uniform(0.05, 0.5)

    # Things on the wall itself: a window, pictures, maybe a door.
    for _ in range(rng.integers(0, 3)):
        w, h = rng.uniform(0.3, 1.0), rng.uniform(0.3, 0.7)
        s = rng.uniform(-half_len + w, half_len - w)
        prims.add_box(at(s, 0.015, rng.uniform(1.5, min(2.0, height - h / 2 - 0.1))), (w / 2, 0.015, h / 2),
                      M.PAINTING, (1, 1, 1), yaw, rng.uniform())
    if rng.uniform() < 0.5:
        w = rng.uniform(1.0, 2.0)
        prims.add_box(at(rng.uniform(-half_len + w, half_len - w) if half_len > w else 0.0, 0.01, 1.5),
                      (w / 2, 0.01, 0.6), M.WINDOW_LIGHT, (1, 1, 1), yaw)
    return reach


def build_indoor(rng: np.random.Generator, n_frames: int, step: float) -> World:
    hx, hy = rng.uniform(2.3, 4.2), rng.uniform(2.3, 4.2)
    height = rng.uniform(2.5, 3.2)
    prims = Primitives()
    wall_color = WALL_COLORS[rng.integers(len(WALL_COLORS))]
    t = 0.1
    for sx, sy, half in (((hx + t), 0.0, (t, hy + 2 * t, height / 2)), (-(hx + t), 0.0, (t, hy + 2 * t, height / 2)),
                         (0.0, (hy + t), (hx + 2 * t, t, height / 2)), (0.0, -(hy + t), (hx + 2 * t, t, height / 2))):
        prims.add_box((sx, sy, height / 2), half, M.WALL, wall_color, 0.0, rng.uniform())
    prims.add_box((0.0, 0.0, height + t), (hx + 2 * t, hy + 2 * t, t), M.CEILING)
    reach = max(_furnish_wall(prims, rng, wall, hx, hy, height) for wall in range(4))
    door_wall = rng.integers(4)
    (px, py), (nx, ny), (tx, ty), half_len = _wall_frame(door_wall, hx, hy)
    s = rng.uniform(-half_len + 0.6, half_len - 0.6)
    prims.add_box((px + tx * s + nx * 0.02, py + ty * s + ny * 0.02, 1.02), (0.45, 0.02, 1.02),
                  M.WOOD, WOOD_COLORS[rng.integers(4)], float(np.arctan2(ty, tx)), rng.uniform())
    # A rug, and a table with chairs when the room is large enough to walk around it.
    prims.add_box((0.0, 0.0, 0.005), (rng.uniform(0.8, 1.4), rng.uniform(0.6, 1.1), 0.005), M.CARPET,
                  FABRIC_COLORS[rng.integers(len(FABRIC_COLORS))], rng.uniform(-0.3, 0.3), rng.uniform())
    # The walk keeps the sensors (up to 0.5 m ahead of the base, from 0.2 m up: a bed is an
    # obstacle, not something to see over) 0.4 m clear of the furniture.
    loop = min(hx, hy) - max(1.6, reach + 1.0)
    # The walk is an ellipse squashed by min/max of the room's sides: its short semi-axis must
    # clear the table too.
    table_clear = 1.5 * max(hx, hy) / min(hx, hy)
    center_table = loop > table_clear + 0.05 and rng.uniform() < 0.6
    if center_table:
        add_table(prims, rng, 0.0, 0.0, rng.uniform(0, np.pi), (0.9, 0.6), 0.72, M.WOOD, WOOD_COLORS[rng.integers(4)])
        radius = rng.uniform(table_clear, loop)
    else:
        radius = rng.uniform(0.2, max(0.3, loop))
    lights = [((0.0, 0.0, height - 0.05), rng.uniform(1.2, 1.8))]
    prims.add_cylinder(0.0, 0.0, height - 0.1, height, 0.2, M.LAMP)

    # Walk a loop around the room centre, looking along the walk with a slow pan.
    n = n_frames
    angle = rng.uniform(0, 2 * np.pi) + np.arange(n) * step / radius
    xs, ys = radius * np.cos(angle) * hx / max(hx, hy), radius * np.sin(angle) * hy / max(hx, hy)
    pan = np.radians(rng.uniform(30, 80)) * np.sin(np.arange(n) * step * rng.uniform(0.5, 1.5) + rng.uniform(0, 6))
    yaw = angle + np.pi / 2 + pan
    lighting = Lighting(ambient=rng.uniform(0.3, 0.45), point_lights=lights, exposure=rng.uniform(0.9, 1.2))

    floor_kind = rng.integers(3)
    floor_color = np.array(WOOD_COLORS[rng.integers(len(WOOD_COLORS))]) if floor_kind == 0 else np.array(
        [(0.55, 0.55, 0.52), (0.35, 0.3, 0.28)][floor_kind - 1])

    def ground_material(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.full(x.shape, [M.WOOD_FLOOR, M.STONE, M.CARPET][floor_kind], dtype=np.int16)

    def ground_color(x: np.ndarray) -> np.ndarray:
        return np.broadcast_to(floor_color, (len(x), 3))

    return World(prims.freeze(), ground_material, lighting, planar_poses(xs, ys, yaw), ground_color)
