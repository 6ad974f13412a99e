"""A warehouse: tall pallet racks (uprights, beams, pallets with boxes and wrapped goods) in
rows with aisles between them, a concrete floor with painted lanes, a 6-12 m roof with trusses
and high-bay lamps, columns, walls with high windows and dock doors, forklifts, pallets on the
floor and people. The robot drives either down a rack aisle or along the main aisle past the
rows' ends. Indoor light only."""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from ..materials import Material
from ..raycast import Primitives
from .common import (
    CARDBOARD,
    CONCRETE,
    RACK_METAL,
    Lighting,
    PathClearance,
    World,
    add_forklift,
    add_pallet,
    add_person,
    planar_poses,
)

M = Material

RACK_COLORS = [((0.1, 0.25, 0.6), (0.9, 0.4, 0.05)), ((0.85, 0.6, 0.05), (0.85, 0.6, 0.05)),
               ((0.55, 0.57, 0.6), (0.9, 0.4, 0.05)), ((0.15, 0.35, 0.2), (0.85, 0.6, 0.05))]
WALL_COLORS = [(0.8, 0.8, 0.78), (0.65, 0.67, 0.7), (0.75, 0.72, 0.65), (0.55, 0.6, 0.62)]
LOAD_COLORS = [(0.58, 0.43, 0.26), (0.6, 0.45, 0.28), (0.52, 0.4, 0.25), (0.8, 0.8, 0.82), (0.15, 0.3, 0.6),
               (0.6, 0.1, 0.08), (0.2, 0.2, 0.22)]

RACK_DEPTH = 1.1          # one single rack; back to back with a 0.2 m flue they make 2.4 m
DOUBLE = 2 * RACK_DEPTH + 0.2


class _Racks:
    """Emits rack geometry in a run frame: ``u`` along the run, ``v`` across it (the run's
    double rack spans v0..v0 + 2.4). ``axis`` "x" maps (u, v) to (x, sign * v), "y" to (v, u)."""

    def __init__(self, prims: Primitives, rng: np.random.Generator, height: float, pitch: float,
                 bay: float, colors) -> None:
        self.prims, self.rng, self.bay = prims, rng, bay
        pitch = max(pitch, (height - 0.9) / 5.0)   # at most six levels: each is a pass for the renderer
        self.levels = [0.0, *np.arange(pitch, height - 0.9, pitch)]
        self.height = self.levels[-1] + 0.15 if len(self.levels) > 1 else height
        self.upright, self.beam = colors
        self.fill = rng.uniform(0.6, 0.92)

    def box(self, axis, sign, u, v, z, hu, hv, hz, material, color, seed=0.0):
        if axis == "x":
            self.prims.add_box((u, sign * v, z), (hu, hv, hz), material, color, 0.0, seed)
        else:
            self.prims.add_box((v, u, z), (hv, hu, hz), material, color, 0.0, seed)

    def run(self, axis, sign, u0, u1, v0, detail) -> None:
        """A double rack from u0 to u1. ``detail(face, u)`` (face 0 at v0, 1 at v0 + 2.4) gives
        the bay at u: 2, pallets with loads on beams per bay; 1, one load per bay and level; 0,
        the face as one solid stock block behind its uprights (unseen or far faces; the
        renderer tests every primitive beside the camera against all pixels, so detail that is
        never seen costs time)."""
        rng = self.rng
        n = max(1, round((u1 - u0) / self.bay))
        bay = (u1 - u0) / n
        seed = rng.uniform()
        detail_of = [[detail(face, u0 + (k + 0.5) * bay) for k in range(n)] for face in (0, 1)]
        solid = max(detail_of[0] + detail_of[1]) == 0   # both faces one block of stock
        if solid:
            top = self.height - rng.uniform(0.2, 1.0)
            self.box(axis, sign, (u0 + u1) / 2, v0 + DOUBLE / 2, top / 2, (u1 - u0) / 2 - 0.05, DOUBLE / 2 - 0.1,
                     top / 2, CARDBOARD, LOAD_COLORS[rng.integers(3)], rng.uniform())
        for face, v_face, inward in ((0, v0, 1.0), (1, v0 + DOUBLE, -1.0)):
            for k in range(n + 1):
                self.box(axis, sign, u0 + k * bay, v_face + inward * 0.04, self.height / 2, 0.04, 0.04,
                         self.height / 2, RACK_METAL, self.upright, seed)
            v_mid = v_face + inward * RACK_DEPTH / 2
            levels = detail_of[face]
            if max(levels) == 0 and not solid:
                top = self.height - rng.uniform(0.2, 1.0)
                self.box(axis, sign, (u0 + u1) / 2, v_mid + inward * 0.06, top / 2, (u1 - u0) / 2 - 0.05,
                         RACK_DEPTH / 2 - 0.06, top / 2, CARDBOARD, LOAD_COLORS[rng.integers(3)], rng.uniform())
            long_beams = 1 in levels
            if long_beams:
                for z in self.levels[1:]:
                    self.box(axis, sign, (u0 + u1) / 2, v_face + inward * 0.04, z - 0.06, (u1 - u0) / 2, 0.03,
                             0.06, RACK_METAL, self.beam, seed)
            for k, level in enumerate(levels):
                if level == 0:
                    continue
                uc = u0 + (k + 0.5) * bay
                for li, z in enumerate(self.levels):
                    room = (self.levels[li + 1] - z - 0.3) if li + 1 < len(self.levels) else 1.2
                    if level == 2:
                        if li > 0 and not long_beams:
                            self.box(axis, sign, uc, v_face + inward * 0.04, z - 0.06, bay / 2 - 0.04, 0.03, 0.06,
                                     RACK_METAL, self.beam, seed)
                        # Above 4 m one load per bay: seen from below, and every primitive costs.
                        for j in ((-1, 0, 1) if z < 4.0 else ()):
                            if rng.uniform() > self.fill:
                                continue
                            us = uc + j * bay / 3
                            deck = 0.14 if li < 2 else 0.0   # pallets where a robot sees them up close
                            if deck:
                                self.box(axis, sign, us, v_mid, z + 0.07, 0.38, 0.56, 0.07, M.WOOD,
                                         (0.55, 0.42, 0.28), seed)
                            h = rng.uniform(0.35, max(0.4, room))
                            wrapped = rng.uniform() < 0.35
                            self.box(axis, sign, us, v_mid + inward * rng.uniform(-0.05, 0.05), z + deck + h / 2,
                                     0.37, rng.uniform(0.45, 0.55), h / 2, M.PLASTIC if wrapped else CARDBOARD,
                                     LOAD_COLORS[rng.integers(3, 7) if wrapped else rng.integers(3)], rng.uniform())
                    if (level == 1 or z >= 4.0) and rng.uniform() < self.fill:
                        h = rng.uniform(0.4, max(0.45, room))
                        self.box(axis, sign, uc, v_mid, z + 0.07 + h / 2, bay / 2 - 0.1, 0.52, h / 2 + 0.07,
                                 CARDBOARD, LOAD_COLORS[rng.integers(3)], rng.uniform())


def build_warehouse(rng: np.random.Generator, n_frames: int, step: float) -> World:
    travel = n_frames * step
    height = rng.uniform(6.0, 12.0)
    prims = Primitives()
    racks = _Racks(prims, rng, float(np.clip(height - rng.uniform(0.8, 2.0), 3.5, 10.0)), rng.uniform(1.5, 2.1),
                   rng.uniform(2.5, 2.9), RACK_COLORS[rng.integers(len(RACK_COLORS))])
    x_back, x_front = -rng.uniform(8.0, 18.0), travel + rng.uniform(15.0, 50.0)
    along_aisle = rng.uniform() < 0.6
    xs = np.arange(n_frames) * step
    ys = 0.1 * np.sin(xs / rng.uniform(3, 8) + rng.uniform(0, 6.28))
    yaw = np.arctan(np.gradient(ys, step)) if n_frames > 1 else np.zeros(n_frames)
    path = PathClearance(xs, ys)
    lights, lamp_spots = [], []
    floor_lines = []        # (axis, coordinate, lo, hi): painted yellow lines
    stock_spots = []        # (x, y, yaw) places in open floor for forklifts, pallets, people
    light_pitch = rng.uniform(6.0, 10.0)

    if along_aisle:
        aisle = rng.uniform(3.0, 4.2)
        half_y = 0.0
        cross = rng.uniform(3.0, 4.5)
        runs, u = [], x_back + rng.uniform(1.5, 3.0)
        while u < x_front - 4:
            u1 = min(u + racks.bay * int(rng.integers(5, 13)), x_front - 3.5)
            if u1 - u > racks.bay:
                runs.append((u, u1))
            u = u1 + cross
        for sign in (-1, 1):
            rows = int(rng.integers(1, 4))
            for r in range(rows):
                v0 = aisle / 2 + r * (DOUBLE + aisle)
                for u0, u1 in runs:
                    racks.run("x", sign, u0, u1, v0, lambda face, uc, r=r: 2 if r == 0 and face == 0 else 0)
                    lamp_spots.append(((u0 + u1) / 2, sign * (v0 + DOUBLE + aisle / 2)))
                if r == 0:
                    floor_lines.append(("y", sign * (aisle / 2 - 0.12), x_back, x_front))
            half_y = max(half_y, aisle / 2 + rows * (DOUBLE + aisle) - aisle + rng.uniform(2.0, 5.0))
        for (_, u1), (u0, _) in pairwise(runs):
            stock_spots += [((u1 + u0) / 2, rng.uniform(aisle / 2 + 1.0, half_y - 1.5) * rng.choice([-1, 1]),
                             np.pi / 2 * rng.choice([1, -1]))]
            floor_lines += [("x", u1 + 0.12, -half_y, half_y), ("x", u0 - 0.12, -half_y, half_y)]
            lamp_spots.append(((u1 + u0) / 2, 0.0))
        for lx in np.arange(x_back + rng.uniform(1, light_pitch), x_front, light_pitch):
            lights.append((lx, 0.0))
        # In the robot's aisle: pickers by the racks, a forklift ahead beyond where the robot stops.
        for _ in range(int(rng.integers(0, 4))):
            px, py = rng.uniform(x_back + 2, x_front - 2), rng.choice([-1, 1]) * (aisle / 2 - 0.35)
            if path.clear(px, py, 0.35, 0.9):
                add_person(prims, rng, px, py, rng.choice([0.0, np.pi]) + rng.normal(0, 0.5),
                           hi_vis=rng.uniform() < 0.6)
        if rng.uniform() < 0.5 and x_front - travel > 8:
            add_forklift(prims, rng, rng.uniform(travel + 5, x_front - 3), 0.0, np.pi + rng.normal(0, 0.05))
    else:
        main = rng.uniform(5.0, 8.0)
        aisle = rng.uniform(2.8, 3.8)
        length = rng.uniform(15.0, 35.0)
        half_y = main / 2 + 0.5 + length + rng.uniform(2.0, 5.0)
        v = x_back + rng.uniform(1.0, 3.0)
        while v + DOUBLE < x_front - 3:
            for sign in (-1, 1):
                u0, u1 = main / 2 + 0.5, main / 2 + 0.5 + length
                if sign < 0:
                    u0, u1 = -u1, -u0
                racks.run("y", 1, u0, u1, v, lambda face, uc: 2 if abs(uc) < main / 2 + 6 else 1)
                lamp_spots.append((v + DOUBLE + aisle / 2, sign * (main / 2 + 0.5 + length / 2)))
                stock_spots.append((v + DOUBLE + aisle / 2, sign * (main / 2 + rng.uniform(1.0, 4.0)),
                                    np.pi / 2 * sign))
            v += DOUBLE + aisle
        for sign in (-1, 1):
            floor_lines.append(("y", sign * (main / 2 + 0.2), x_back, x_front))
            for lx in np.arange(x_back + rng.uniform(1, 4), x_front - 1, rng.uniform(6, 12)):
                stock_spots.append((lx, sign * rng.uniform(main / 2 - 1.2, main / 2 + 0.3), 0.0))
        for lx in np.arange(x_back + rng.uniform(1, light_pitch), x_front, light_pitch):
            lights.append((lx, 0.0))

    # Things on the open floor: forklifts, pallets (stacked or loaded), people, by free spots.
    for sx, sy, syaw in stock_spots:
        roll = rng.uniform()
        if roll < 0.3 and path.clear(sx, sy, 1.9, 1.0):
            add_forklift(prims, rng, sx, sy, syaw + rng.normal(0, 0.3))
        elif roll < 0.65 and path.clear(sx, sy, 0.8, 1.0):
            z = 0.0
            for _ in range(rng.integers(1, 4)):
                z += add_pallet(prims, rng, sx, sy, syaw + rng.normal(0, 0.05), z, load=rng.uniform() < 0.7,
                                max_load_height=1.2)
        elif roll < 0.9 and path.clear(sx, sy, 0.4, 1.0):
            add_person(prims, rng, sx, sy, hi_vis=rng.uniform() < 0.6)

    # The building: walls with high windows and dock doors, roof deck, trusses, columns, lamps.
    wall_color = WALL_COLORS[rng.integers(len(WALL_COLORS))]
    t = 0.2
    mid_x, half_x = (x_back + x_front) / 2, (x_front - x_back) / 2
    for wx, wy, hx, hy in ((x_back - t, 0.0, t, half_y + t), (x_front + t, 0.0, t, half_y + t),
                           (mid_x, half_y + t, half_x + 2 * t, t), (mid_x, -half_y - t, half_x + 2 * t, t)):
        prims.add_box((wx, wy, height / 2), (hx, hy, height / 2), M.WALL, wall_color, 0.0, rng.uniform())
    prims.add_box((mid_x, 0.0, height + 0.15), (half_x + 2 * t, half_y + 2 * t, 0.15), M.CORRUGATED,
                  (0.6, 0.6, 0.6), 0.0, rng.uniform())
    for wx in (x_back, x_front):   # high windows in the end walls (side-wall strips would cost a pass each)
        prims.add_box((wx - np.sign(wx - mid_x) * 0.01, 0.0, height - 1.0), (0.01, half_y - 1.0, 0.45),
                      M.WINDOW_LIGHT)
    for dy in np.arange(-half_y + rng.uniform(2, 5), half_y - 2, rng.uniform(4.5, 8.0)):
        prims.add_box((x_front - 0.02, dy, 2.3), (0.03, 1.5, 2.3), M.CORRUGATED,
                      [(0.6, 0.62, 0.65), (0.2, 0.3, 0.55), (0.8, 0.55, 0.05)][rng.integers(3)], 0.0, rng.uniform())
    for tx in np.arange(x_back + rng.uniform(2, 6), x_front, rng.uniform(6.0, 10.0)):
        prims.add_box((tx, 0.0, height - 0.35), (0.12, half_y, 0.35), M.METAL, (0.45, 0.45, 0.47))
    col_pitch = rng.uniform(10.0, 20.0)
    for cx in np.arange(x_back + col_pitch / 2, x_front, col_pitch):
        for cy in (-half_y + 0.3, half_y - 0.3):
            prims.add_box((cx, cy, height / 2), (0.25, 0.25, height / 2), CONCRETE, (0.6, 0.6, 0.58))
        if not along_aisle:   # columns standing at the rack ends along the main aisle
            for sign in (-1, 1):
                cy = sign * (main / 2 + 0.25)
                if path.clear(cx, cy, 0.4, 1.0):
                    prims.add_box((cx, cy, height / 2), (0.2, 0.2, height / 2), CONCRETE, (0.62, 0.6, 0.55))
                    prims.add_box((cx, cy, 0.6), (0.24, 0.24, 0.6), M.PLASTIC, (0.85, 0.7, 0.05))   # a guard
    lamp_z = height - 0.9
    for lx, ly in lights + lamp_spots:
        prims.add_cylinder(lx, ly, lamp_z, lamp_z + 0.25, 0.28, M.METAL, (0.5, 0.5, 0.52))
        prims.add_cylinder(lx, ly, lamp_z - 0.02, lamp_z + 0.01, 0.25, M.LAMP)
    intensity = (0.02 * (height - 1.0) ** 2 + 0.6) * rng.uniform(0.8, 1.2)
    every = int(np.ceil(len(lights) / 16)) if lights else 1   # at most 16 point lights (each costs a pass)
    point_lights = [((lx, ly, lamp_z - 0.1), intensity * every) for lx, ly in lights[::every]]

    floor_color = np.array([0.45, 0.45, 0.43]) * rng.uniform(0.8, 1.15)
    lines = floor_lines

    def ground_material(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        mat = np.full(x.shape, CONCRETE, dtype=np.int16)
        for axis, c, lo, hi in lines:
            a, b = (y, x) if axis == "y" else (x, y)
            mat[(np.abs(a - c) < 0.06) & (b > lo) & (b < hi)] = M.MARKING_YELLOW
        return mat

    def ground_color(x: np.ndarray) -> np.ndarray:
        return np.broadcast_to(floor_color, (len(x), 3))

    lighting = Lighting(ambient=rng.uniform(0.3, 0.42), point_lights=point_lights, exposure=rng.uniform(0.9, 1.15))
    return World(prims.freeze(), ground_material, lighting, planar_poses(xs, ys, yaw), ground_color)
