"""A parking lot and loading yard: rows of parked cars and vans in painted bays along the robot's
driving aisle, islands with kerbs, trees and light poles, a warehouse-like building with loading
docks (roller shutters, bumpers, a canopy), trailers backed up to some docks, containers, pallets,
a forklift, people, bollards, and fences around the lot. The robot drives down an aisle slowly."""

from __future__ import annotations

import numpy as np

from ..materials import Material
from ..raycast import Primitives
from .common import (
    CONCRETE,
    Lighting,
    PathClearance,
    World,
    add_bush,
    add_car,
    add_container,
    add_fence,
    add_forklift,
    add_pallet,
    add_person,
    add_pole,
    add_tree,
    add_truck,
    planar_poses,
)
from .street import FACADE_COLORS

M = Material

BUILDING_COLORS = [(0.75, 0.76, 0.75), (0.55, 0.6, 0.65), (0.8, 0.78, 0.7), (0.35, 0.4, 0.5), (0.6, 0.3, 0.2)]


def build_parking(rng: np.random.Generator, n_frames: int, step: float) -> World:
    travel = n_frames * step
    lane_w = rng.uniform(6.0, 7.5)
    bay_d, bay_w = rng.uniform(4.8, 5.4), rng.uniform(2.4, 2.7)
    x_start, x_lot = -40.0, travel + rng.uniform(40, 110)
    xs = np.arange(n_frames) * step
    ys = 0.2 * np.sin(xs / rng.uniform(8, 20) + rng.uniform(0, 6.28))
    yaw = np.arctan(np.gradient(ys, step)) if n_frames > 1 else np.zeros(n_frames)
    path = PathClearance(xs, ys)
    prims = Primitives()

    # Rows are cut into blocks of bays by cross aisles (shared by every row).
    blocks, x = [], x_start
    while x < x_lot - 10:
        n_bays = int(rng.integers(10, 22))
        x1 = min(x + n_bays * bay_w, x_lot)
        n_bays = int((x1 - x) / bay_w)
        if n_bays >= 2:
            blocks.append((x, x + n_bays * bay_w))
        x += n_bays * bay_w + lane_w
    block_arr = np.array(blocks) if blocks else np.zeros((0, 2))

    building_side = (1 if rng.uniform() < 0.5 else -1) if rng.uniform() < 0.75 else 0
    bands = []        # (y_lo, y_hi) of rows of bays, painted with bay lines
    islands = []      # (y_lo, y_hi) raised kerbed islands between head-to-head rows
    occupancy = rng.uniform(0.45, 0.92)

    def park_row(y_lo, y_hi, side):
        """Cars (sometimes vans) in a row of bays between y_lo and y_hi (|y| grows with side)."""
        bands.append((min(y_lo, y_hi), max(y_lo, y_hi)))
        yc = (y_lo + y_hi) / 2
        for b0, b1 in blocks:
            for bx in np.arange(b0 + bay_w / 2, b1, bay_w):
                if rng.uniform() > occupancy:
                    continue
                heading = side * np.pi / 2 + (0 if rng.uniform() < 0.6 else np.pi) + rng.normal(0, 0.04)
                cx, cy = bx + rng.normal(0, 0.12), yc + rng.normal(0, 0.15)
                if not path.clear(cx, cy, 2.5, 1.0):
                    continue
                if rng.uniform() < 0.08 and bay_d > 5.2:
                    add_truck(prims, rng, cx, cy, heading, "van")
                else:
                    add_car(prims, rng, cx, cy, heading)

    def lamp(x, y):
        prims.add_cylinder(x, y, 0.0, 0.7, 0.3, CONCRETE, (0.6, 0.6, 0.58))   # the base
        add_pole(prims, rng, x, y, "lamp", rng.uniform(8.0, 12.0), rng.choice([0.0, np.pi / 2, np.pi, -np.pi / 2]))

    edges, yard_from = {}, {}
    for side in (-1, 1):
        y = lane_w / 2
        if side == building_side:
            if rng.uniform() < 0.5:
                park_row(side * y, side * (y + bay_d), side)
                y += bay_d
            yard_from[side] = y + 0.5
            edges[side] = y + rng.uniform(22.0, 35.0)   # the loading yard reaches the dock wall
            continue
        for _ in range(int(rng.integers(1, 4))):
            park_row(side * y, side * (y + bay_d), side)
            y += bay_d
            island = rng.uniform(1.2, 2.5) if rng.uniform() < 0.55 else 0.0
            if island:
                islands.append((min(side * y, side * (y + island)), max(side * y, side * (y + island))))
                for b0, b1 in blocks:
                    prims.add_box(((b0 + b1) / 2, side * (y + island / 2), 0.075),
                                  ((b1 - b0) / 2, island / 2, 0.075), M.SIDEWALK, (1, 1, 1), 0.0, rng.uniform())
                    for tx in np.arange(b0 + rng.uniform(3, 8), b1 - 2, rng.uniform(8, 16)):
                        if rng.uniform() < 0.5:
                            add_tree(prims, rng, tx, side * (y + island / 2), rng.uniform(0.6, 0.9))
                        elif rng.uniform() < 0.5:
                            add_bush(prims, rng, tx, side * (y + island / 2), 0.6)
                    for lx in np.arange(b0 + rng.uniform(5, 12), b1 - 3, rng.uniform(25, 35)):
                        lamp(lx, side * (y + island / 2))
            else:
                for b0, b1 in blocks:
                    for lx in np.arange(b0 + rng.uniform(5, 12), b1 - 3, rng.uniform(30, 45)):
                        if rng.uniform() < 0.5:
                            lamp(lx, side * y)
            y += island
            park_row(side * y, side * (y + bay_d), -side)
            y += bay_d + lane_w
        y -= lane_w - rng.uniform(1.5, 4.0)
        edges[side] = y
        # The lot's edge: a kerb, a fence, and trees or bushes beyond it.
        prims.add_box(((x_start + x_lot) / 2 + lane_w / 2, side * (y + 0.15), 0.08),
                      ((x_lot - x_start + lane_w) / 2, 0.15, 0.08), M.SIDEWALK, (1, 1, 1), 0.0, rng.uniform())
        style = ["palisade", "wire", "panel", "rail"][rng.integers(4)]
        fx = x_start
        fence_y = side * (y + rng.uniform(0.8, 2.0))
        while fx < x_lot + lane_w:
            fl = rng.uniform(15, 30)
            add_fence(prims, rng, fx, fence_y, min(fx + fl, x_lot + lane_w), fence_y, style=style,
                      post_spacing=2.5)
            fx += fl
        for tx in np.arange(x_start + rng.uniform(0, 8), x_lot + 20, rng.uniform(6, 14)):
            ty = fence_y + side * rng.uniform(2.5, 10.0)
            if rng.uniform() < 0.6:
                add_tree(prims, rng, tx, ty, rng.uniform(0.8, 1.5))
            else:
                add_bush(prims, rng, tx, ty, rng.uniform(0.8, 1.4))

    # The building with its loading docks, on one side (or across the far end of the lot).
    b_height = rng.uniform(7.0, 12.0)
    b_color = BUILDING_COLORS[rng.integers(len(BUILDING_COLORS))]
    b_mat = M.CORRUGATED if rng.uniform() < 0.6 else M.FACADE
    yard = []   # (x0, x1, y0, y1) of the loading yard
    if building_side:
        s = building_side
        wall = s * edges[s]
        depth = rng.uniform(30, 60)
        prims.add_box(((x_start + x_lot + 30) / 2, wall + s * depth / 2, b_height / 2),
                      ((x_lot + 30 - x_start) / 2, depth / 2, b_height / 2), b_mat, b_color, 0.0, rng.uniform())
        yard.append((x_start, x_lot + 30, min(wall, s * yard_from[s]), max(wall, s * yard_from[s])))
        pitch = rng.uniform(4.0, 4.6)
        n_docks = int(rng.integers(6, 16))
        d0 = rng.uniform(x_start + 20, max(x_start + 21, travel + 30 - n_docks * pitch / 2))
        prims.add_box((d0 + n_docks * pitch / 2 - pitch / 2, wall - s * 0.9, 5.0),
                      (n_docks * pitch / 2 + 1.0, 0.9, 0.12), M.METAL, (0.55, 0.56, 0.58))   # canopy
        for i in range(n_docks):
            dx = d0 + i * pitch
            prims.add_box((dx, wall - s * 0.03, 2.7), (1.5, 0.04, 1.5), M.CORRUGATED,
                          (0.6, 0.62, 0.65) if rng.uniform() < 0.7 else (0.2, 0.3, 0.55), 0.0, rng.uniform())
            prims.add_box((dx, wall - s * 0.2, 1.15), (1.6, 0.2, 0.05), M.METAL, (0.3, 0.3, 0.3))   # leveller lip
            for e in (-1, 1):
                prims.add_box((dx + e * 1.35, wall - s * 0.1, 1.0), (0.12, 0.1, 0.2), M.RUBBER)   # bumpers
                if rng.uniform() < 0.4:
                    add_pole(prims, rng, dx + e * 1.9, wall - s * 0.5, "bollard")
            if rng.uniform() < 0.45:   # a trailer backed up to the dock
                length = rng.uniform(16.0, 16.8)
                cx, cy = dx, wall - s * (0.35 + length / 2)
                if path.clear(cx, cy - s * length / 2, 1.3, 1.0) and path.clear(cx, cy, 1.3, 1.0):
                    add_truck(prims, rng, cx, cy, -s * np.pi / 2, "semi")
        # A personnel door and windows along the wall.
        for wx in rng.uniform(x_start + 10, x_lot, rng.integers(1, 4)):
            if abs(wx - (d0 + n_docks * pitch / 2)) > n_docks * pitch / 2 + 2:
                prims.add_box((wx, wall - s * 0.03, 1.05), (0.5, 0.04, 1.05), M.METAL, (0.3, 0.35, 0.4))
                for e in (-1, 1):
                    add_pole(prims, rng, wx + e * 0.9, wall - s * 0.6, "bollard")
        if b_mat == M.CORRUGATED:
            prims.add_box(((x_start + x_lot) / 2, wall - s * 0.02, b_height - 1.5),
                          ((x_lot - x_start) / 2 - 5, 0.03, 0.4), M.GLASS)   # a strip of high windows
        # Yard stock: pallet stacks, containers, a forklift, workers.
        y_near, y_far = s * (yard_from[s] + 1.0), wall - s * 1.5
        for _ in range(int(rng.integers(4, 12))):
            px, py = rng.uniform(x_start + 15, x_lot), rng.uniform(min(y_near, y_far), max(y_near, y_far))
            if not path.clear(px, py, 3.0, 1.0):
                continue
            roll = rng.uniform()
            if roll < 0.45:
                z = 0.0
                for _ in range(rng.integers(1, 4)):
                    z += add_pallet(prims, rng, px, py, rng.normal(0, 0.05), z, max_load_height=1.1)
            elif roll < 0.7:
                a = rng.choice([0.0, np.pi / 2]) + rng.normal(0, 0.03)
                length, _ = add_container(prims, rng, px, py, a)
                if rng.uniform() < 0.4:
                    add_container(prims, rng, px, py, a + rng.normal(0, 0.02), z=2.59, length=length)
            elif roll < 0.85:
                add_forklift(prims, rng, px, py, rng.uniform(0, 2 * np.pi))
            else:
                prims.add_box((px, py, 0.6), (0.7, 0.5, 0.6), M.PLASTIC,
                              [(0.1, 0.3, 0.15), (0.2, 0.2, 0.22), (0.6, 0.4, 0.05)][rng.integers(3)], 0.0,
                              rng.uniform())   # a waste bin
        for _ in range(int(rng.integers(1, 5))):
            px, py = rng.uniform(x_start + 10, x_lot), wall - s * rng.uniform(1.0, 6.0)
            if path.clear(px, py, 0.5, 1.0):
                add_person(prims, rng, px, py, hi_vis=rng.uniform() < 0.7)
    # The far end of the lot: the building, or a fence and trees.
    y_lo, y_hi = -edges.get(-1, 30.0), edges.get(1, 30.0)
    if not building_side:
        depth = rng.uniform(20, 50)
        prims.add_box((x_lot + lane_w + 2 + depth / 2, (y_lo + y_hi) / 2, b_height / 2),
                      (depth / 2, (y_hi - y_lo) / 2 + 10, b_height / 2), b_mat, b_color, 0.0, rng.uniform())
        for ex in np.arange(y_lo + 4, y_hi - 4, rng.uniform(8, 20)):
            prims.add_box((x_lot + lane_w + 2 - 0.03, ex, 1.3), (0.04, 1.0, 1.3), M.GLASS)   # entrances
        for e in np.arange(y_lo + 2, y_hi - 2, rng.uniform(2.0, 4.0)):
            if rng.uniform() < 0.5 and abs(e) > 2.0:
                add_pole(prims, rng, x_lot + lane_w + 0.8, e, "bollard")
    else:
        style = ["palisade", "wire", "panel"][rng.integers(3)]
        add_fence(prims, rng, x_lot + lane_w + 1.5, y_lo, x_lot + lane_w + 1.5, y_hi, style=style)
        for ty in np.arange(y_lo, y_hi, rng.uniform(6, 12)):
            add_tree(prims, rng, x_lot + lane_w + rng.uniform(4, 12), ty, rng.uniform(0.8, 1.5))
        if rng.uniform() < 0.6:   # houses beyond the fence
            for ty in np.arange(y_lo, y_hi, rng.uniform(12, 25)):
                lx, ly, h = rng.uniform(4, 8), rng.uniform(4, 7), rng.uniform(5, 12)
                prims.add_box((x_lot + lane_w + 18 + lx, ty, h / 2), (lx, ly, h / 2), M.FACADE,
                              FACADE_COLORS[rng.integers(len(FACADE_COLORS))], 0.0, rng.uniform())

    # People walking about the lot, a trolley corral of bollards, some parked trucks.
    for _ in range(int(rng.integers(3, 12))):
        px, py = rng.uniform(x_start + 20, x_lot), rng.uniform(y_lo + 2, y_hi - 2)
        if path.clear(px, py, 0.5, 1.0):
            add_person(prims, rng, px, py)
    for _ in range(int(rng.integers(0, 3))):
        if not blocks:
            break
        b0, b1 = blocks[rng.integers(len(blocks))]
        px, py = b1 + lane_w / 2, rng.uniform(y_lo + 10, y_hi - 10)
        if path.clear(px, py, 5.0, 1.0):
            add_truck(prims, rng, px, py, np.pi / 2 * rng.choice([1, -1]), "box")

    line, zebra_x = 0.06, rng.uniform(5, x_lot) if rng.uniform() < 0.5 else None
    band_arr = np.array(bands) if bands else np.zeros((0, 2))
    yard_arr = np.array(yard) if yard else np.zeros((0, 4))
    walkway = (building_side * edges[building_side] - building_side * 1.5) if building_side else None

    def ground_material(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        inside = (y > y_lo) & (y < y_hi) & (x < x_lot + lane_w + 2)
        mat = np.where(inside, M.ASPHALT, M.GRASS)
        for x0, x1, y0, y1 in yard_arr:
            mat = np.where((x > x0) & (x < x1) & (y > y0) & (y < y1), CONCRETE, mat)
        # Bay lines: across each row every bay width inside the blocks, and the rows' back lines.
        i = np.searchsorted(block_arr[:, 0], x) - 1 if len(block_arr) else np.full(x.shape, -1)
        in_block = (i >= 0) & (x < block_arr[np.maximum(i, 0), 1]) if len(block_arr) else np.zeros(x.shape, bool)
        rel = x - block_arr[np.maximum(i, 0), 0] if len(block_arr) else x
        across = (np.mod(rel + line, bay_w) < 2 * line) & in_block
        painted = np.zeros(x.shape, bool)
        for b_lo, b_hi in band_arr:
            in_band = (y > b_lo) & (y < b_hi)
            painted |= in_band & across
            painted |= in_block & ((np.abs(y - b_lo) < line) | (np.abs(y - b_hi) < line))
        mat = np.where(painted, M.MARKING, mat)
        if zebra_x is not None:
            mat = np.where((np.abs(x - zebra_x) < 1.5) & (np.abs(y) < lane_w / 2) & (np.mod(y, 1.0) < 0.5),
                           M.MARKING, mat)
        if walkway is not None:
            mat = np.where((np.abs(y - walkway) < 0.06) & (x < x_lot + 30), M.MARKING_YELLOW, mat)
        return mat.astype(np.int16)

    def ground_color(x: np.ndarray) -> np.ndarray:
        return np.broadcast_to(np.array([0.36, 0.36, 0.34]), (len(x), 3))

    elevation, azimuth = np.radians(rng.uniform(20, 65)), rng.uniform(0, 2 * np.pi)
    sun = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
    lighting = Lighting(ambient=rng.uniform(0.35, 0.5), sun_direction=sun, sun_intensity=rng.uniform(0.7, 1.0),
                        haze_distance=rng.uniform(300, 800), exposure=rng.uniform(0.9, 1.15))
    return World(prims.freeze(), ground_material, lighting, planar_poses(xs, ys, yaw), ground_color)
