"""Office corridors: a long corridor with walls broken by closed and open doors, glass-walled
meeting rooms, side corridors and end walls; a tiled 2.6-3.2 m ceiling with lamp panels; people,
potted plants, chairs, benches, water coolers, bins, fire extinguishers, radiators and notice
boards along the walls; rooms behind open doors and glass with desks, tables and chairs. The
robot walks down the corridor's middle. Indoor light only."""

from __future__ import annotations

import numpy as np

from ..materials import Material
from ..raycast import Primitives
from .common import CLOTH, Lighting, PathClearance, World, _rotate, add_person, add_table, planar_poses

M = Material

WALL_COLORS = [(0.88, 0.87, 0.83), (0.8, 0.82, 0.85), (0.85, 0.8, 0.7), (0.75, 0.8, 0.75), (0.92, 0.92, 0.92),
               (0.7, 0.72, 0.78)]
DOOR_COLORS = [(0.55, 0.38, 0.22), (0.7, 0.55, 0.35), (0.35, 0.25, 0.15), (0.8, 0.8, 0.78), (0.3, 0.4, 0.55)]
FLOORS = [(M.CARPET, (0.3, 0.32, 0.38)), (M.CARPET, (0.4, 0.35, 0.3)), (M.STONE, (0.55, 0.55, 0.52)),
          (M.WOOD_FLOOR, (0.6, 0.42, 0.25)), (M.STONE, (0.4, 0.42, 0.45))]
T = 0.075   # half a wall's thickness


def add_chair(prims: Primitives, rng: np.random.Generator, x: float, y: float, yaw: float, color=None) -> None:
    """An office or visitor chair facing ``yaw``: seat, back and a central post on a base."""
    color = color or [(0.1, 0.1, 0.12), (0.2, 0.3, 0.55), (0.5, 0.1, 0.1), (0.3, 0.3, 0.3)][rng.integers(4)]
    seed = rng.uniform()
    prims.add_box((x, y, 0.46), (0.23, 0.23, 0.04), M.FABRIC, color, yaw, seed)
    dx, dy = _rotate(yaw, -0.21, 0.0)
    prims.add_box((x + dx, y + dy, 0.78), (0.03, 0.22, 0.26), M.FABRIC, color, yaw, seed)
    prims.add_cylinder(x, y, 0.06, 0.42, 0.03, M.METAL, (0.6, 0.6, 0.6), seed)
    prims.add_cylinder(x, y, 0.0, 0.06, 0.3, M.PLASTIC, (0.1, 0.1, 0.1), seed)


def add_plant(prims: Primitives, rng: np.random.Generator, x: float, y: float) -> float:
    """A potted plant; returns its footprint radius."""
    pot_r, pot_h = rng.uniform(0.15, 0.28), rng.uniform(0.3, 0.6)
    prims.add_cylinder(x, y, 0.0, pot_h, pot_r, M.PLASTIC,
                       [(0.8, 0.8, 0.78), (0.2, 0.2, 0.2), (0.55, 0.3, 0.2)][rng.integers(3)], rng.uniform())
    green = (rng.uniform(0.05, 0.12), rng.uniform(0.2, 0.35), rng.uniform(0.03, 0.08))
    tall = rng.uniform() < 0.5
    r = pot_r * rng.uniform(1.2, 1.8)
    prims.add_sphere((x, y, pot_h + r * 0.8), r, M.FOLIAGE, green, rng.uniform())
    if tall:
        prims.add_sphere((x, y, pot_h + r * 2.2), r * 0.8, M.FOLIAGE, green, rng.uniform())
    return r


def build_corridor(rng: np.random.Generator, n_frames: int, step: float) -> World:
    travel = n_frames * step
    height = rng.uniform(2.6, 3.2)
    half = rng.uniform(1.1, 1.8)
    x_back, x_end = -rng.uniform(3.0, 10.0), travel + rng.uniform(10.0, 38.0)
    xs = np.arange(n_frames) * step
    ys = 0.08 * np.sin(xs / rng.uniform(2, 6) + rng.uniform(0, 6.28))
    yaw = np.arctan(np.gradient(ys, step)) if n_frames > 1 else np.zeros(n_frames)
    path = PathClearance(xs, ys)
    prims = Primitives()
    wall_color = WALL_COLORS[rng.integers(len(WALL_COLORS))]
    door_color = DOOR_COLORS[rng.integers(len(DOOR_COLORS))]
    reach = half + 0.2   # how far from the centre line the side rooms reach (for the ceiling)

    def wall(x0, x1, side, y_face=None):
        """A wall segment along x whose face is at |y| = y_face (default: the corridor's side)."""
        yf = half if y_face is None else y_face
        prims.add_box(((x0 + x1) / 2, side * (yf + T), height / 2), ((x1 - x0) / 2, T, height / 2), M.WALL,
                      wall_color, 0.0, rng.uniform())

    def cross_wall(x, y0, y1):
        """A wall across x (its face at x), from |y| = y0 to y1 on the side given by their sign."""
        prims.add_box((x, (y0 + y1) / 2, height / 2), (T, abs(y1 - y0) / 2, height / 2), M.WALL, wall_color, 0.0,
                      rng.uniform())

    def furnish_room(x0, x1, side, depth, glass):
        """A room behind the wall: back and side walls, and a desk or a meeting table with chairs."""
        y_in, y_back = half + 2 * T, half + 2 * T + depth
        wall(x0, x1, side, y_back)
        for xw in (x0 - T, x1 + T):
            cross_wall(xw, side * y_in, side * (y_back + 2 * T))
        cx, cy = (x0 + x1) / 2, side * (y_in + depth / 2)
        if glass and x1 - x0 > 2.6 and depth > 2.6:
            add_table(prims, rng, cx, cy, 0.0, (min(2.4, x1 - x0 - 1.4), min(1.1, depth - 1.4)), 0.74, M.WOOD,
                      DOOR_COLORS[rng.integers(3)])
            for ex in np.linspace(cx - (x1 - x0) / 2 + 0.9, cx + (x1 - x0) / 2 - 0.9, 3):
                for ey in (-1, 1):
                    if rng.uniform() < 0.7:
                        add_chair(prims, rng, ex, cy + ey * (min(1.1, depth - 1.4) / 2 + 0.35), -ey * np.pi / 2)
        else:
            add_table(prims, rng, cx, side * (y_back - 0.4), 0.0, (min(1.6, x1 - x0 - 0.4), 0.7), 0.74, M.WOOD,
                      DOOR_COLORS[rng.integers(3)])
            add_chair(prims, rng, cx, side * (y_back - 1.1), side * np.pi / 2)
            prims.add_box((cx + 0.3, side * (y_back - 0.5), 0.95), (0.25, 0.02, 0.18), M.SCREEN, (1, 1, 1),
                          np.pi / 2)
        if rng.uniform() < 0.35:
            add_person(prims, rng, cx + rng.uniform(-0.5, 0.5), side * (y_in + depth * 0.3))
        prims.add_box((cx, side * y_back - side * 0.01, 1.5), ((x1 - x0) / 2 - 0.4, 0.01, 0.6), M.WINDOW_LIGHT)

    free = {1: [], -1: []}    # wall stretches along which props may stand
    for side in (-1, 1):
        x = x_back
        while x < x_end:
            kind = rng.choice(["wall", "door", "open_door", "glass", "opening"], p=[0.3, 0.3, 0.12, 0.13, 0.15])
            if kind == "wall":
                length = rng.uniform(2.0, 6.0)
                wall(x, x + length, side)
                if rng.uniform() < 0.3:   # a notice board or a picture
                    w = rng.uniform(0.4, 1.0)
                    prims.add_box((x + length / 2, side * (half - 0.01), 1.5), (w, 0.01, rng.uniform(0.3, 0.5)),
                                  M.PAINTING, (1, 1, 1), 0.0, rng.uniform())
                free[side].append((x, x + length))
            elif kind in ("door", "open_door"):
                w = rng.uniform(0.85, 1.0)
                length = w + rng.uniform(0.6, 2.0)
                d0 = x + rng.uniform(0.3, length - w - 0.3)
                wall(x, d0, side)
                wall(d0 + w, x + length, side)
                prims.add_box((d0 + w / 2, side * (half + T), height - (height - 2.1) / 2),
                              (w / 2, T, (height - 2.1) / 2), M.WALL, wall_color)                  # lintel
                for e in (d0, d0 + w):   # the frame
                    prims.add_box((e, side * (half - 0.005), 1.05), (0.03, 0.02, 1.05), M.WOOD, (0.85, 0.85, 0.83))
                if kind == "door":
                    prims.add_box((d0 + w / 2, side * (half + 0.04), 1.04), (w / 2 - 0.03, 0.025, 1.03), M.WOOD,
                                  door_color, 0.0, rng.uniform())
                    free[side] += [(x, d0 - 0.2), (d0 + w + 0.2, x + length)]
                else:
                    ra, rb = x, x + length
                    depth = rng.uniform(2.5, 5.0)
                    furnish_room(ra, rb, side, depth, glass=False)
                    reach = max(reach, half + depth + 0.5)
            elif kind == "glass":
                length = rng.uniform(3.0, 7.0)
                depth = rng.uniform(3.0, 5.5)
                prims.add_box((x + length / 2, side * (half + T), 0.15), (length / 2, T, 0.15), M.WALL, wall_color)
                prims.add_box((x + length / 2, side * (half + T), height - 0.15), (length / 2, T, 0.15), M.WALL,
                              wall_color)
                prims.add_box((x + length / 2, side * (half + T), height / 2), (length / 2, 0.02, height / 2 - 0.3),
                              M.GLASS, (1, 1, 1), 0.0, rng.uniform())
                for mx in np.linspace(x, x + length, max(2, int(length / 1.2)) + 1):
                    prims.add_box((mx, side * (half + T), height / 2), (0.03, 0.04, height / 2 - 0.3), M.METAL,
                                  (0.3, 0.3, 0.32))
                furnish_room(x, x + length, side, depth, glass=True)
                reach = max(reach, half + depth + 0.5)
                free[side].append((x, x + length))
            else:   # a side corridor, ending in a wall (sometimes with a window)
                length = rng.uniform(1.6, 2.6)
                depth = rng.uniform(4.0, 12.0)
                for xw in (x - T, x + length + T):
                    cross_wall(xw, side * half, side * (half + depth + 2 * T))
                wall(x - 2 * T, x + length + 2 * T, side, half + depth)
                if rng.uniform() < 0.5:
                    prims.add_box((x + length / 2, side * (half + depth - 0.01), 1.6), (length / 2 - 0.3, 0.01, 0.6),
                                  M.WINDOW_LIGHT)
                if rng.uniform() < 0.4:
                    add_person(prims, rng, x + length / 2, side * (half + rng.uniform(1.5, depth - 0.5)))
                reach = max(reach, half + depth + 0.5)
            x += length
    wall(x_back - 2 * T, x_end + 2 * T, 1, reach + 0.5)     # outer walls behind all rooms (safety: no gaps)
    wall(x_back - 2 * T, x_end + 2 * T, -1, reach + 0.5)
    cross_wall(x_back - T, -(reach + 1.0), reach + 1.0)
    cross_wall(x_end + T, -(reach + 1.0), reach + 1.0)
    if rng.uniform() < 0.5:   # a window or a glass door at the corridor's end
        prims.add_box((x_end - 0.01, 0.0, 1.4), (0.01, min(half - 0.2, 0.9), 1.0), M.WINDOW_LIGHT)
    else:
        prims.add_box((x_end - 0.03, 0.0, 1.04), (0.025, 0.45, 1.03), M.WOOD, door_color)
    mid, length = (x_back + x_end) / 2, (x_end - x_back) / 2 + 0.5
    prims.add_box((mid, 0.0, height + 0.1), (length, reach + 1.0, 0.1), M.CEILING_TILE, (1, 1, 1), 0.0, rng.uniform())

    # Lamp panels down the middle; at most 12 of them are point lights (each costs a shading pass).
    pitch = rng.uniform(2.4, 3.6)
    lamp_x = np.arange(x_back + rng.uniform(0.5, pitch), x_end, pitch)
    panel = (0.3, 0.3) if rng.uniform() < 0.5 else (0.6, 0.15)
    for lx in lamp_x:
        prims.add_box((lx, 0.0, height - 0.012), (*panel, 0.012), M.LAMP)
    every = max(1, int(np.ceil(len(lamp_x) / 12)))
    lit = lamp_x[::every]
    intensity = rng.uniform(0.35, 0.55) * every
    lights = [((lx, 0.0, height - 0.1), intensity) for lx in lit]

    # Things along the walls, where they leave the walk clear.
    for side in (-1, 1):
        for x0, x1 in free[side]:
            px = x0 + rng.uniform(0.2, 1.0)
            while px < x1 - 0.4:
                roll = rng.uniform()
                if roll < 0.18:
                    r = 0.45
                    if path.clear(px, side * (half - r), r, 0.85):
                        add_plant(prims, rng, px, side * (half - 0.3))
                elif roll < 0.32:
                    if path.clear(px, side * (half - 0.3), 0.35, 0.85):
                        add_chair(prims, rng, px, side * (half - 0.3), -side * np.pi / 2)
                elif roll < 0.4:
                    if path.clear(px, side * (half - 0.2), 0.25, 0.85):   # a water cooler
                        prims.add_box((px, side * (half - 0.2), 0.5), (0.16, 0.16, 0.5), M.PLASTIC, (0.9, 0.9, 0.9))
                        prims.add_cylinder(px, side * (half - 0.2), 1.0, 1.4, 0.14, M.PLASTIC, (0.3, 0.5, 0.8))
                elif roll < 0.48:
                    if path.clear(px, side * (half - 0.2), 0.25, 0.85):   # a bin
                        prims.add_cylinder(px, side * (half - 0.2), 0.0, 0.6, 0.18, M.PLASTIC,
                                           [(0.2, 0.2, 0.2), (0.2, 0.4, 0.2), (0.25, 0.3, 0.6)][rng.integers(3)])
                elif roll < 0.54:   # a fire extinguisher on the wall
                    prims.add_cylinder(px, side * (half - 0.09), 0.6, 1.15, 0.08, M.PLASTIC, (0.75, 0.05, 0.03))
                elif roll < 0.62:   # a radiator
                    prims.add_box((px + 0.5, side * (half - 0.05), 0.5), (0.5, 0.05, 0.3), M.METAL, (0.9, 0.9, 0.88))
                    px += 0.6
                elif roll < 0.68:
                    if path.clear(px + 0.6, side * (half - 0.25), 0.7, 0.85):   # a bench
                        prims.add_box((px + 0.6, side * (half - 0.25), 0.43), (0.7, 0.22, 0.05), CLOTH,
                                      (0.3, 0.3, 0.35))
                        prims.add_box((px + 0.6, side * (half - 0.25), 0.19), (0.65, 0.18, 0.19), M.METAL,
                                      (0.2, 0.2, 0.2))
                        px += 0.8
                px += rng.uniform(0.8, 3.0)
    # People: walking along the sides where it is wide enough, and ahead beyond the walk's end.
    for _ in range(int(rng.integers(1, 5))):
        px, py = rng.uniform(x_back + 1, x_end - 1), rng.uniform(-half + 0.35, half - 0.35)
        if path.clear(px, py, 0.35, 0.9):
            add_person(prims, rng, px, py, rng.choice([0.0, np.pi]) + rng.normal(0, 0.2))
    if x_end - travel > 4 and rng.uniform() < 0.7:
        add_person(prims, rng, rng.uniform(travel + 2.5, x_end - 1.0), rng.uniform(-0.4, 0.4) * half,
                   np.pi + rng.normal(0, 0.5))

    floor_mat, floor_color = FLOORS[rng.integers(len(FLOORS))]
    floor_color = np.array(floor_color) * rng.uniform(0.85, 1.15)

    def ground_material(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.full(x.shape, floor_mat, dtype=np.int16)

    def ground_color(x: np.ndarray) -> np.ndarray:
        return np.broadcast_to(floor_color, (len(x), 3))

    lighting = Lighting(ambient=rng.uniform(0.3, 0.45), point_lights=lights, exposure=rng.uniform(0.9, 1.15))
    return World(prims.freeze(), ground_material, lighting, planar_poses(xs, ys, yaw), ground_color)
