"""A highway or a rural road through open country: wide lanes (two or three each way on a
motorway, one each way on a country road), markings, guard rails and a central barrier, vehicles
in the other lanes, signs, gantries, lamp and utility poles, an overpass, verges with bushes,
fields with hedgerows and woods, farm buildings, and distant hills. The robot (a car) drives in
one of its lanes at highway speed; the road bends gently."""

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
    add_pole,
    add_tree,
    add_truck,
    planar_poses,
)
from .street import FACADE_COLORS

M = Material


def build_highway(rng: np.random.Generator, n_frames: int, step: float) -> World:
    travel = n_frames * step
    x_start, x_end = -40.0, travel + 270.0
    motorway = rng.uniform() < 0.6
    if motorway:
        lanes, lane_w = int(rng.integers(2, 4)), rng.uniform(3.5, 3.8)
        median, shoulder = rng.uniform(0.8, 4.0), rng.uniform(2.5, 3.3)   # median: half the central reservation
    else:
        lanes, lane_w = 1, rng.uniform(3.0, 3.6)
        median, shoulder = 0.0, rng.uniform(0.3, 1.0)
    carriage = lanes * lane_w
    edge = median + carriage + shoulder                  # half width of the paved road
    verge = edge + rng.uniform(3.0, 12.0)                # grass verge; fields beyond
    fields = rng.uniform() < 0.7
    amp, k, phase = rng.uniform(0.0, 20.0), 2 * np.pi / rng.uniform(1200, 3000), rng.uniform(0, 2 * np.pi)

    # The road's centre line is y = cy(x); a point "r metres left of it at station x" is placed
    # at (x, cy(x) + r / cos(yaw(x))), and the ground uses the same mapping back.
    def cy(x):
        return amp * np.sin(k * x + phase)

    def cyaw(x):
        return np.arctan(amp * k * np.cos(k * x + phase))

    def at(x, r):
        return float(x), float(cy(x) + r / np.cos(cyaw(x)))

    def lateral(x, y):
        return (y - cy(x)) * np.cos(cyaw(x))

    # The robot's lane: an outer one more often (keep right), on the right-hand carriageway.
    lane = int(rng.choice(lanes, p=np.arange(1, lanes + 1) / np.sum(np.arange(1, lanes + 1))))
    r_robot = -(median + (lane + 0.5) * lane_w)
    xs = np.arange(n_frames) * step
    wobble = 0.15 * np.sin(xs / rng.uniform(60, 150) + rng.uniform(0, 6.28))
    ys = cy(xs) + (r_robot + wobble) / np.cos(cyaw(xs))
    yaw = np.arctan(np.gradient(ys, step)) if n_frames > 1 else cyaw(xs)
    path = PathClearance(xs, ys)

    prims = Primitives()
    # Guard rails, barriers and noise walls are straight segments short enough to follow the bend.
    seg = float(np.clip(np.sqrt(0.16 / (amp * k * k + 1e-9)), 8.0, 40.0))
    stations = np.arange(x_start, x_end, seg)

    def rail_line(r, x0=x_start, x1=x_end, facing=1):
        """A W-beam guard rail at lateral r, its posts at r - facing * 0.12 (away from the traffic)."""
        for s in stations[(stations >= x0) & (stations < x1)]:
            cx, cyy = at(s + seg / 2, r)
            a = float(cyaw(s + seg / 2))
            prims.add_box((cx, cyy, 0.6), (seg / 2, 0.02, 0.16), M.METAL, (0.75, 0.77, 0.77), a)
            for p in np.arange(s, s + seg - 0.01, 4.0):
                px, py = at(p, r - facing * 0.12)
                prims.add_box((px, py, 0.33), (0.04, 0.06, 0.33), M.METAL, (0.55, 0.56, 0.55), a)

    def stretches(p_on, length=(60, 250)):
        """Random [x0, x1) stretches covering about a fraction p_on of the road."""
        out, x = [], x_start
        while x < x_end:
            n = rng.uniform(*length)
            if rng.uniform() < p_on:
                out.append((x, x + n))
            x += n
        return out

    for side in (-1, 1):
        for x0, x1 in stretches(0.75 if motorway else 0.35):
            rail_line(side * (edge + 0.4), x0, x1, facing=-side)
    if motorway:
        if median < 1.6:   # a concrete step barrier on the centre line
            for s in stations:
                cx, cyy = at(s + seg / 2, 0.0)
                a = float(cyaw(s + seg / 2))
                prims.add_box((cx, cyy, 0.2), (seg / 2, 0.3, 0.2), CONCRETE, (0.62, 0.61, 0.58), a)
                prims.add_box((cx, cyy, 0.6), (seg / 2, 0.12, 0.25), CONCRETE, (0.62, 0.61, 0.58), a)
        else:              # grass median with a rail on each side
            for side in (-1, 1):
                rail_line(side * (median - 0.4), facing=side)
        for side in (-1, 1):   # noise barriers
            for x0, x1 in stretches(0.2, (100, 300)):
                mat, color = [(M.CORRUGATED, (0.2, 0.35, 0.25)), (CONCRETE, (0.6, 0.58, 0.55)),
                              (M.PLANKS, (0.45, 0.32, 0.2)), (M.CORRUGATED, (0.5, 0.52, 0.5))][rng.integers(4)]
                h = rng.uniform(3.0, 5.0)
                for s in stations[(stations >= x0) & (stations < x1)]:
                    cx, cyy = at(s + seg / 2, side * (edge + 2.0))
                    prims.add_box((cx, cyy, h / 2), (seg / 2, 0.1, h / 2), mat, color, float(cyaw(s + seg / 2)),
                                  rng.uniform())

    # Vehicles in the lanes: the robot's own lane only well beyond where it stops.
    gaps = (12.0, 70.0) if motorway else (30.0, 140.0)
    for direction in (1, -1):
        for i in range(lanes):
            r_lane = -direction * (median + (i + 0.5) * lane_w)
            x = x_start + rng.uniform(0, 50)
            while x < x_end:
                roll = rng.uniform()
                kind = "car" if roll < 0.72 else ("van" if roll < 0.8 else ("semi" if roll < 0.93 else "box"))
                if kind in ("semi", "box") and i < lanes - 1 and rng.uniform() < 0.7:
                    kind = "car"   # trucks keep to the outer lanes
                length = {"car": 4.5, "van": 5.5, "box": 9.0, "semi": 16.5}[kind]
                vx = x + length / 2
                vr = r_lane + rng.normal(0.0, 0.2)
                own = direction == 1 and i == lane
                clear = all(path.clear(*at(vx + f * length / 2, vr), 1.3, 1.0) for f in (-1, 0, 1))
                if clear and (not own or vx - length / 2 > travel + 30):
                    px, py = at(vx, vr)
                    heading = float(cyaw(vx)) + (0.0 if direction == 1 else np.pi) + rng.normal(0, 0.01)
                    if kind == "car":
                        add_car(prims, rng, px, py, heading)
                    else:
                        add_truck(prims, rng, px, py, heading, kind)
                x += length + rng.uniform(*gaps)
    if motorway and rng.uniform() < 0.3:   # a broken-down car on the hard shoulder
        sx = rng.uniform(20, x_end - 20)
        px, py = at(sx, -(median + carriage + shoulder / 2))
        if path.clear(px, py, 2.5, 1.0):
            add_car(prims, rng, px, py, float(cyaw(sx)))

    # Delineator posts, signs, lamp or utility poles, gantries.
    for side in (-1, 1):
        for d in np.arange(x_start + rng.uniform(0, 50), x_end, 50.0):
            px, py = at(d, side * (edge + 0.6))
            prims.add_box((px, py, 0.5), (0.05, 0.06, 0.5), M.PLASTIC, (0.9, 0.9, 0.88), float(cyaw(d)))
            prims.add_box((px, py, 0.85), (0.052, 0.062, 0.05), M.SIGN, (0.9, 0.5, 0.05), float(cyaw(d)))
    x = x_start + rng.uniform(0, 120)
    while x < x_end:
        side = -1 if rng.uniform() < 0.75 else 1
        facing = float(cyaw(x)) + (np.pi if side < 0 else 0.0)   # the panel faces its traffic
        if motorway and rng.uniform() < 0.4:   # a big direction sign on two legs
            w, h0 = rng.uniform(1.5, 3.0), rng.uniform(1.8, 2.5)
            color = [(0.05, 0.3, 0.12), (0.05, 0.15, 0.5), (0.85, 0.65, 0.05)][rng.integers(3)]
            for leg in (-1, 1):
                px, py = at(x, side * (edge + 2.5 + leg * (w - 0.3)))
                prims.add_cylinder(px, py, 0.0, h0 + 1.6, 0.06, M.METAL, (0.6, 0.6, 0.6))
            px, py = at(x, side * (edge + 2.5))
            prims.add_box((px, py, h0 + 0.8), (0.04, w, 0.8), M.SIGN, color, facing, rng.uniform())
        else:
            px, py = at(x, side * (edge + rng.uniform(1.2, 2.5)))
            add_pole(prims, rng, px, py, "sign", arm_yaw=facing)
        x += rng.uniform(60, 250)
    if motorway and rng.uniform() < 0.45:   # lamp poles on the verges, arms over the shoulders
        for side in (-1, 1):
            for d in np.arange(x_start + rng.uniform(0, 40), x_end, rng.uniform(40, 60)):
                px, py = at(d, side * (edge + 1.2))
                add_pole(prims, rng, px, py, "lamp", rng.uniform(9.0, 12.0), float(cyaw(d)) - side * np.pi / 2)
    if not motorway or rng.uniform() < 0.2:   # a power line along one side
        side = 1 if rng.uniform() < 0.5 else -1
        r_line = side * (edge + rng.uniform(2.5, 6.0))
        h_line = rng.uniform(7.5, 10.0)
        prev = None
        for d in np.arange(x_start + rng.uniform(0, 40), x_end, rng.uniform(35, 55)):
            px, py = at(d, r_line)
            add_pole(prims, rng, px, py, "utility", h_line + rng.uniform(-0.2, 0.2), float(cyaw(d)))
            if prev is not None:   # two sagging-free wires per span
                for off in (-0.8, 0.8):
                    ax, ay = at(prev, r_line + off)
                    bx, by = at(d, r_line + off)
                    prims.add_box(((ax + bx) / 2, (ay + by) / 2, h_line - 0.35),
                                  (np.hypot(bx - ax, by - ay) / 2, 0.008, 0.008), M.METAL, (0.2, 0.2, 0.2),
                                  float(np.arctan2(by - ay, bx - ax)))
            prev = d
    if motorway:   # overhead sign gantries, their panels well above any vehicle
        for gx in rng.uniform(x_start + 60, x_end, rng.integers(0, 3)):
            a = float(cyaw(gx))
            z_beam = rng.uniform(6.8, 7.4)
            for side in (-1, 1):
                px, py = at(gx, side * (edge + 1.0))
                prims.add_box((px, py, z_beam / 2), (0.2, 0.2, z_beam / 2), M.METAL, (0.6, 0.6, 0.6), a)
            px, py = at(gx, 0.0)
            prims.add_box((px, py, z_beam), (0.3, edge + 1.2, 0.3), M.METAL, (0.6, 0.6, 0.6), a)
            for i in range(lanes):
                if rng.uniform() < 0.7:
                    px, py = at(gx - 0.35, -(median + (i + 0.5) * lane_w))
                    prims.add_box((px, py, z_beam - 0.55), (0.05, lane_w / 2 - 0.15, 0.75), M.SIGN,
                                  (0.05, 0.3, 0.12), a, rng.uniform())

    # An overpass: deck, parapets, piers and grass embankments carrying the crossing road.
    if rng.uniform() < (0.5 if motorway else 0.15):
        ox = rng.uniform(max(x_start + 60, 40.0), x_end - 30)
        a = float(cyaw(ox))
        clearance = rng.uniform(5.2, 6.0)
        span = edge + rng.uniform(8.0, 12.0)
        deck_w = rng.uniform(8.0, 12.0)
        px, py = at(ox, 0.0)
        prims.add_box((px, py, clearance + 0.5), (deck_w / 2, span, 0.5), CONCRETE, (0.6, 0.6, 0.58), a)
        for sd in (-1, 1):
            qx, qy = px + np.cos(a) * sd * (deck_w / 2 - 0.15), py + np.sin(a) * sd * (deck_w / 2 - 0.15)
            prims.add_box((qx, qy, clearance + 1.5), (0.15, span, 0.5), CONCRETE, (0.6, 0.6, 0.58), a)
        piers = [-(edge + 1.5), edge + 1.5] + ([0.0] if motorway and median >= 1.0 else [])
        for r in piers:
            qx, qy = at(ox, r)
            half_r = 0.4 if r != 0.0 else min(0.4, median - 0.3)
            prims.add_box((qx, qy, clearance / 2), (deck_w / 2 - 0.8, half_r, clearance / 2), CONCRETE,
                          (0.58, 0.58, 0.56), a)
        reach = rng.uniform(30, 70)
        for sd in (-1, 1):
            qx, qy = at(ox, sd * (span + reach / 2))
            prims.add_box((qx, qy, (clearance + 1.0) / 2), (deck_w / 2 + 1.5, reach / 2, (clearance + 1.0) / 2),
                          M.GRASS, (1, 1, 1), a, rng.uniform())

    # Countryside: bushes on the verges, hedgerows and tree lines, woods, farms and hills.
    for side in (-1, 1):
        for d in np.arange(x_start + rng.uniform(0, 20), x_end, rng.uniform(15, 40)):
            if rng.uniform() < 0.5:
                px, py = at(d, side * rng.uniform(edge + 2.5, verge))
                if path.clear(px, py, 2.5, 1.0):
                    add_bush(prims, rng, px, py, rng.uniform(0.7, 1.5))
    for side in (-1, 1):
        r = verge
        while r < 200:
            dense = rng.uniform() < 0.5
            for x0, x1 in stretches(0.6, (30, 150)):
                for d in np.arange(x0, min(x1, x_end), rng.uniform(5, 9) if dense else rng.uniform(9, 20)):
                    px, py = at(d, side * (r + rng.normal(0, 0.8)))
                    scale = rng.uniform(0.8, 1.8)
                    if path.clear(px, py, 2.8 * scale, 1.5):
                        if r < 90:
                            add_tree(prims, rng, px, py, scale)
                        else:   # far away: one crown on a trunk
                            prims.add_cylinder(px, py, 0.0, 3.0 * scale, 0.2 * scale, M.BARK, seed=rng.uniform())
                            prims.add_sphere((px, py, 4.0 * scale), 2.4 * scale, M.FOLIAGE,
                                             (0.07, 0.2 + 0.1 * rng.uniform(), 0.05), rng.uniform())
            r += rng.uniform(60, 120)
    for _ in range(int((x_end - x_start) / 120) + 1):   # woods
        side = 1 if rng.uniform() < 0.5 else -1
        wx, wr, size = rng.uniform(x_start, x_end), side * rng.uniform(verge + 15, 190), rng.uniform(12, 35)
        for _ in range(int(size * rng.uniform(0.8, 1.6))):
            off = rng.normal(0, size / 2, 2)
            px, py = at(wx + off[0], wr + off[1])
            scale = rng.uniform(1.0, 2.0)
            if abs(lateral(px, py)) < verge + 3 or not path.clear(px, py, 3 * scale, 2.0):
                continue
            prims.add_cylinder(px, py, 0.0, 3.5 * scale, 0.22 * scale, M.BARK, seed=rng.uniform())
            prims.add_sphere((px, py, 4.5 * scale), rng.uniform(2.2, 3.2) * scale, M.FOLIAGE,
                             (0.05 + 0.05 * rng.uniform(), 0.15 + 0.12 * rng.uniform(), 0.04), rng.uniform())
    for _ in range(rng.integers(1, 4)):   # farms: a house, a barn, a silo
        side = 1 if rng.uniform() < 0.5 else -1
        fx, fr = rng.uniform(x_start + 30, x_end), side * rng.uniform(verge + 25, 200)
        a = rng.uniform(0, np.pi)
        for j in range(rng.integers(1, 4)):
            bx, by = at(fx + j * rng.uniform(15, 30), fr + rng.normal(0, 8))
            lx, ly, h = rng.uniform(4, 15), rng.uniform(4, 9), rng.uniform(3, 8)
            prims.add_box((bx, by, h / 2), (lx, ly, h / 2), M.FACADE if j == 0 else M.PLANKS,
                          FACADE_COLORS[rng.integers(len(FACADE_COLORS))] if j == 0 else (0.45, 0.2, 0.12), a,
                          rng.uniform())
            prims.add_box((bx, by, h + 0.4), (lx + 0.4, ly + 0.4, 0.4), M.ROOF,
                          [(0.45, 0.15, 0.1), (0.25, 0.25, 0.27), (0.5, 0.5, 0.5)][rng.integers(3)], a, rng.uniform())
        if rng.uniform() < 0.5:
            sx, sy = at(fx - rng.uniform(10, 20), fr + rng.normal(0, 5))
            prims.add_cylinder(sx, sy, 0.0, rng.uniform(10, 18), rng.uniform(2.5, 4.0), M.METAL, (0.75, 0.75, 0.73))
    for side in (-1, 1):   # hills: huge spheres sunk into the ground, their feet 120-230 m away
        x = x_start - 100 + rng.uniform(0, 150)
        while x < x_end + 100:
            radius, height = rng.uniform(150, 500), rng.uniform(12, 55)
            foot = np.sqrt(2 * radius * height - height * height)
            hx, hy = at(x, side * (rng.uniform(120, 230) + foot))
            green = [(0.1, 0.2, 0.06), (0.16, 0.25, 0.08), (0.06, 0.14, 0.05)][rng.integers(3)]
            prims.add_sphere((hx, hy, height - radius), radius, M.GRASS if rng.uniform() < 0.5 else M.FOLIAGE,
                             green, rng.uniform())
            x += foot * rng.uniform(0.8, 1.6)

    # Ground: asphalt, lines, gravel strip, grass verges, fields.
    dash_period, dash_len = (12.0, 4.0) if motorway else (9.0, 3.0)
    yellow_inner = rng.uniform() < 0.35
    rural_centre = rng.choice(["dashed", "solid", "yellow"], p=[0.6, 0.2, 0.2])
    edge_lines = motorway or rng.uniform() < 0.7
    line = 0.075

    def ground_material(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        a = np.abs(lateral(x, y))
        mat = np.where(a < edge, M.ASPHALT, np.where(a < edge + 0.7, M.GRAVEL, M.GRASS))
        if fields:
            mat = np.where(a > verge, M.FIELD, mat)
        dashed = np.mod(x, dash_period) < dash_len
        white = np.zeros(a.shape, bool)
        yellow = np.zeros(a.shape, bool)
        if motorway:
            mat = np.where(a < median - 0.6, M.GRASS, mat) if median >= 1.6 else mat
            inner = np.abs(a - (median + 0.2)) < 0.1
            if yellow_inner:
                yellow |= inner
            else:
                white |= inner
            for j in range(1, lanes):
                white |= (np.abs(a - (median + j * lane_w)) < line) & dashed
        else:
            centre = a < line
            if rural_centre == "dashed":
                white |= centre & dashed
            elif rural_centre == "solid":
                white |= centre
            else:
                yellow |= (np.abs(a - 0.1) < 0.06)
        if edge_lines:
            white |= np.abs(a - (median + carriage)) < 0.1
        mat = np.where(white, M.MARKING, np.where(yellow, M.MARKING_YELLOW, mat))
        return mat.astype(np.int16)

    elevation, azimuth = np.radians(rng.uniform(20, 65)), rng.uniform(0, 2 * np.pi)
    sun = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
    lighting = Lighting(ambient=rng.uniform(0.35, 0.5), sun_direction=sun, sun_intensity=rng.uniform(0.7, 1.0),
                        haze_distance=rng.uniform(400, 1200), exposure=rng.uniform(0.9, 1.15))
    return World(prims.freeze(), ground_material, lighting, planar_poses(xs, ys, yaw))
