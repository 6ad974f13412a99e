"""What every scene family produces (a :class:`World`) and the props they share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from ...geometry import make_transform, rotation_from_euler
from ..materials import Material
from ..raycast import Primitives

__all__ = ["Lighting", "PathClearance", "World", "add_bush", "add_car", "add_container", "add_fence",
           "add_forklift", "add_pallet", "add_person", "add_pole", "add_table", "add_tree", "add_truck",
           "planar_poses"]

M = Material


@dataclass
class Lighting:
    """Outdoor: a sun and a sky. Indoor: ceiling lights. Colours are linear RGB."""

    ambient: float = 0.45
    sun_direction: np.ndarray | None = None      # unit vector towards the sun (world)
    sun_intensity: float = 0.9
    sky_horizon: tuple = (0.75, 0.82, 0.90)
    sky_zenith: tuple = (0.30, 0.48, 0.85)
    haze_distance: float = np.inf                # metres; colours fade to the horizon colour
    point_lights: list = field(default_factory=list)   # [(xyz, intensity)]
    exposure: float = 1.0


@dataclass
class World:
    """A generated scene: its primitives, ground, light, and the robot's trajectory."""

    prims: Primitives
    ground_material: Callable[[np.ndarray, np.ndarray], np.ndarray] | None  # (x, y) -> ids
    lighting: Lighting
    poses: np.ndarray                      # [N,4,4] T_world_base per frame
    ground_color: Callable[[np.ndarray], np.ndarray] | None = None


def planar_poses(x, y, yaw) -> np.ndarray:
    """T_world_base [N,4,4] for a robot on flat ground at (x, y) heading ``yaw`` (radians)."""
    return np.stack([make_transform(rotation_from_euler(0.0, 0.0, a), (px, py, 0.0))
                     for px, py, a in zip(x, y, yaw)])


def _rotate(yaw: float, dx: float, dy: float) -> tuple[float, float]:
    c, s = np.cos(yaw), np.sin(yaw)
    return c * dx - s * dy, s * dx + c * dy


CAR_COLORS = [(0.55, 0.04, 0.03), (0.02, 0.05, 0.25), (0.7, 0.7, 0.72), (0.05, 0.05, 0.05),
              (0.85, 0.85, 0.82), (0.35, 0.36, 0.38), (0.1, 0.25, 0.1), (0.6, 0.45, 0.1)]


def add_car(prims: Primitives, rng: np.random.Generator, x: float, y: float, yaw: float) -> None:
    """A car about 4.3 x 1.8 x 1.5 m: body, glass cabin and four wheels."""
    length, width = rng.uniform(3.9, 4.8), rng.uniform(1.7, 1.9)
    color = CAR_COLORS[rng.integers(len(CAR_COLORS))]
    seed = rng.uniform()
    prims.add_box((x, y, 0.68), (length / 2, width / 2, 0.36), M.CAR_PAINT, color, yaw, seed)
    cab_len = length * rng.uniform(0.45, 0.55)
    dx, dy = _rotate(yaw, -0.08 * length, 0.0)
    prims.add_box((x + dx, y + dy, 1.27), (cab_len / 2, width / 2 - 0.08, 0.24), M.GLASS, (1, 1, 1), yaw, seed)
    for sx in (-1, 1):
        for sy in (-1, 1):
            dx, dy = _rotate(yaw, sx * (length / 2 - 0.75), sy * (width / 2 - 0.1))
            prims.add_box((x + dx, y + dy, 0.33), (0.33, 0.12, 0.33), M.RUBBER, (1, 1, 1), yaw, seed)


def add_tree(prims: Primitives, rng: np.random.Generator, x: float, y: float, scale: float = 1.0) -> None:
    """A trunk and one to three foliage spheres."""
    trunk_h = rng.uniform(1.8, 3.2) * scale
    prims.add_cylinder(x, y, 0.0, trunk_h + 0.5 * scale, rng.uniform(0.12, 0.25) * scale, M.BARK, seed=rng.uniform())
    green = (rng.uniform(0.05, 0.14), rng.uniform(0.18, 0.32), rng.uniform(0.03, 0.08))
    crown = rng.uniform(1.3, 2.6) * scale
    prims.add_sphere((x, y, trunk_h + crown * 0.8), crown, M.FOLIAGE, green, rng.uniform())
    for _ in range(rng.integers(0, 3)):
        r = crown * rng.uniform(0.5, 0.8)
        off = rng.normal(0, 0.5 * crown, 2)
        prims.add_sphere((x + off[0], y + off[1], trunk_h + crown * rng.uniform(0.5, 1.4)), r,
                         M.FOLIAGE, green, rng.uniform())


def add_table(prims: Primitives, rng: np.random.Generator, x: float, y: float, yaw: float,
              size=(1.2, 0.8), height: float = 0.75, material=M.WOOD, color=(0.45, 0.28, 0.15)) -> None:
    """A table top on four legs."""
    hx, hy = size[0] / 2, size[1] / 2
    seed = rng.uniform()
    prims.add_box((x, y, height - 0.02), (hx, hy, 0.02), material, color, yaw, seed)
    for sx in (-1, 1):
        for sy in (-1, 1):
            dx, dy = _rotate(yaw, sx * (hx - 0.05), sy * (hy - 0.05))
            prims.add_box((x + dx, y + dy, (height - 0.04) / 2), (0.025, 0.025, (height - 0.04) / 2),
                          material, color, yaw, seed)


# ---------------------------------------------------------------------------------------------
# Props shared by the highway, parking, warehouse, corridor and forest worlds.

# Materials another part of the simulator may add (cloth, skin, concrete, cardboard, rack steel):
# used when the Material enum has them, else the closest existing one.
CLOTH = getattr(M, "CLOTH", M.FABRIC)
SKIN = getattr(M, "SKIN", M.PLASTIC)
CONCRETE = getattr(M, "CONCRETE", M.STONE)
CARDBOARD = getattr(M, "CARDBOARD", M.WOOD)
RACK_METAL = getattr(M, "RACK_METAL", M.METAL)

CLOTH_COLORS = [(0.05, 0.05, 0.06), (0.12, 0.15, 0.3), (0.5, 0.08, 0.06), (0.55, 0.55, 0.55), (0.85, 0.85, 0.82),
                (0.15, 0.3, 0.15), (0.4, 0.3, 0.2), (0.7, 0.6, 0.4), (0.2, 0.35, 0.6), (0.6, 0.3, 0.45)]
TROUSER_COLORS = [(0.04, 0.04, 0.05), (0.1, 0.13, 0.25), (0.3, 0.3, 0.32), (0.45, 0.38, 0.26), (0.18, 0.2, 0.15)]
SKIN_TONES = [(0.78, 0.58, 0.46), (0.66, 0.46, 0.34), (0.5, 0.34, 0.22), (0.32, 0.2, 0.13), (0.86, 0.7, 0.6)]
HAIR_COLORS = [(0.03, 0.025, 0.02), (0.2, 0.12, 0.06), (0.5, 0.38, 0.18), (0.45, 0.45, 0.45), (0.35, 0.15, 0.06)]
HI_VIS_COLORS = [(0.85, 0.9, 0.05), (0.95, 0.45, 0.03)]
TRUCK_COLORS = [(0.85, 0.85, 0.85), (0.7, 0.05, 0.03), (0.05, 0.15, 0.45), (0.15, 0.15, 0.15), (0.9, 0.65, 0.05),
                (0.1, 0.35, 0.15)]
CONTAINER_COLORS = [(0.55, 0.12, 0.08), (0.1, 0.25, 0.5), (0.15, 0.4, 0.2), (0.6, 0.45, 0.1), (0.5, 0.5, 0.5),
                    (0.8, 0.35, 0.05), (0.85, 0.85, 0.82)]


def _pick(rng: np.random.Generator, options):
    return options[rng.integers(len(options))]


class PathClearance:
    """How far points are from the robot's path (its poses, densified to ``spacing`` metres), so
    props can be kept clear of where the robot and its sensors go."""

    def __init__(self, xs, ys, spacing: float = 0.25) -> None:
        pts = np.stack([np.asarray(xs, float), np.asarray(ys, float)], axis=1)
        if len(pts) > 1:
            dense = [pts[:1]]
            for a, b in pairwise(pts):
                n = max(1, int(np.ceil(np.hypot(*(b - a)) / spacing)))
                dense.append(a + (b - a) * (np.arange(1, n + 1) / n)[:, None])
            pts = np.concatenate(dense)
        self.points = pts[np.argsort(pts[:, 0])]

    def distance(self, x: float, y: float, reach: float = 30.0) -> float:
        """Distance from (x, y) to the path (``inf`` if farther than ``reach`` in x)."""
        px = self.points[:, 0]
        lo, hi = np.searchsorted(px, x - reach), np.searchsorted(px, x + reach)
        if lo >= hi:
            return np.inf
        p = self.points[lo:hi]
        return float(np.min(np.hypot(p[:, 0] - x, p[:, 1] - y)))

    def clear(self, x: float, y: float, radius: float, margin: float = 1.0) -> bool:
        """True when a prop of footprint ``radius`` at (x, y) keeps ``margin`` metres off the path."""
        return self.distance(x, y, radius + margin + 1.0) > radius + margin


def add_person(prims: Primitives, rng: np.random.Generator, x: float, y: float, yaw: float | None = None,
               height: float | None = None, hi_vis: bool = False) -> float:
    """A standing or walking person (legs, torso, arms, hands, neck, head, hair; sometimes a
    backpack) of 1.5-1.95 m facing ``yaw`` (random if None). Returns the footprint radius."""
    h = rng.uniform(1.5, 1.95) if height is None else height
    yaw = rng.uniform(0, 2 * np.pi) if yaw is None else yaw
    s = h / 1.75
    shirt = _pick(rng, HI_VIS_COLORS) if hi_vis else _pick(rng, CLOTH_COLORS)
    trousers, skin, hair = _pick(rng, TROUSER_COLORS), _pick(rng, SKIN_TONES), _pick(rng, HAIR_COLORS)
    seed = rng.uniform()
    leg_top, torso_top = 0.47 * h, 0.815 * h
    head_r = 0.1 * s
    build = rng.uniform(0.9, 1.15)
    shoulder, chest = 0.2 * s * build, 0.11 * s * build
    stride = rng.uniform(-0.22, 0.22) * s      # one foot ahead of the other when walking
    for side in (-1, 1):
        dx, dy = _rotate(yaw, side * stride / 2, side * 0.095 * s * build)
        prims.add_cylinder(x + dx, y + dy, 0.0, leg_top + 0.03, 0.075 * s, CLOTH, trousers, seed)
        dx, dy = _rotate(yaw, -side * stride / 3, side * (shoulder + 0.045 * s))
        prims.add_cylinder(x + dx, y + dy, 0.45 * h, torso_top - 0.03, 0.045 * s, CLOTH, shirt, seed)
        prims.add_sphere((x + dx, y + dy, 0.45 * h - 0.02), 0.045 * s, SKIN, skin, seed)
    prims.add_box((x, y, (leg_top + torso_top) / 2), (chest, shoulder, (torso_top - leg_top) / 2),
                  CLOTH, shirt, yaw, seed)
    prims.add_cylinder(x, y, torso_top - 0.01, h - 1.6 * head_r, 0.05 * s, SKIN, skin, seed)
    prims.add_sphere((x, y, h - head_r), head_r, SKIN, skin, seed)
    dx, dy = _rotate(yaw, -0.02 * s, 0.0)
    prims.add_sphere((x + dx, y + dy, h - head_r + 0.025 * s), head_r * 0.98, CLOTH, hair, seed)
    if rng.uniform() < 0.2:  # a backpack
        dx, dy = _rotate(yaw, -(chest + 0.09 * s), 0.0)
        prims.add_box((x + dx, y + dy, 0.68 * h), (0.09 * s, 0.15 * s, 0.2 * s), CLOTH, _pick(rng, CLOTH_COLORS),
                      yaw, rng.uniform())
    return shoulder + 0.1 * s


def add_pole(prims: Primitives, rng: np.random.Generator, x: float, y: float, kind: str = "lamp",
             height: float | None = None, arm_yaw: float = 0.0) -> float:
    """A pole: ``lamp`` (steel, an arm towards ``arm_yaw`` and a luminaire), ``utility`` (wood,
    a crossarm along ``arm_yaw``), ``sign`` (a thin post with a panel facing ``arm_yaw``) or
    ``bollard``. Returns the footprint radius at the ground."""
    seed = rng.uniform()
    if kind == "lamp":
        h = rng.uniform(6.0, 10.0) if height is None else height
        prims.add_cylinder(x, y, 0.0, h, rng.uniform(0.07, 0.12), M.METAL, (0.6, 0.6, 0.62), seed)
        arm = rng.uniform(0.8, 2.2)
        dx, dy = _rotate(arm_yaw, arm / 2, 0.0)
        prims.add_box((x + dx, y + dy, h - 0.05), (arm / 2, 0.04, 0.04), M.METAL, (0.55, 0.55, 0.57), arm_yaw, seed)
        dx, dy = _rotate(arm_yaw, arm, 0.0)
        prims.add_box((x + dx, y + dy, h - 0.1), (0.3, 0.13, 0.07), M.METAL, (0.45, 0.45, 0.47), arm_yaw, seed)
        prims.add_box((x + dx, y + dy, h - 0.175), (0.25, 0.1, 0.005), M.LAMP, (1, 1, 1), arm_yaw, seed)
        return 0.15
    if kind == "utility":
        h = rng.uniform(7.5, 11.0) if height is None else height
        prims.add_cylinder(x, y, 0.0, h, rng.uniform(0.11, 0.15), M.WOOD, (0.35, 0.28, 0.2), seed)
        prims.add_box((x, y, h - 0.4), (0.06, rng.uniform(0.8, 1.2), 0.05), M.WOOD, (0.35, 0.28, 0.2),
                      arm_yaw + np.pi / 2, seed)
        if rng.uniform() < 0.3:  # a transformer can
            dx, dy = _rotate(arm_yaw, 0.3, 0.0)
            prims.add_cylinder(x + dx, y + dy, h - 2.2, h - 1.3, 0.22, M.METAL, (0.5, 0.52, 0.5), seed)
        return 0.2
    if kind == "sign":
        h = rng.uniform(2.0, 2.8) if height is None else height
        prims.add_cylinder(x, y, 0.0, h, 0.035, M.METAL, (0.6, 0.6, 0.6), seed)
        color = _pick(rng, [(0.8, 0.05, 0.05), (0.05, 0.2, 0.7), (0.9, 0.9, 0.9), (0.9, 0.7, 0.05),
                            (0.05, 0.4, 0.15)])
        w, hh = rng.uniform(0.3, 0.6), rng.uniform(0.3, 0.6)
        dx, dy = _rotate(arm_yaw, -0.05, 0.0)
        prims.add_box((x + dx, y + dy, h), (0.015, w, hh), M.SIGN, color, arm_yaw, rng.uniform())
        return max(w, 0.1)
    if kind == "bollard":
        h = rng.uniform(0.8, 1.1) if height is None else height
        r = rng.uniform(0.06, 0.12)
        color = _pick(rng, [(0.85, 0.7, 0.05), (0.3, 0.3, 0.32), (0.8, 0.8, 0.78)])
        prims.add_cylinder(x, y, 0.0, h, r, M.PLASTIC, color, seed)
        prims.add_cylinder(x, y, h - 0.2, h - 0.12, r + 0.005, M.SIGN, (0.9, 0.9, 0.9), seed)  # a reflective band
        return r
    raise ValueError(f"unknown pole kind '{kind}'")


def add_fence(prims: Primitives, rng: np.random.Generator, x0: float, y0: float, x1: float, y1: float,
              height: float | None = None, style: str | None = None, color=None, post_spacing: float = 2.5) -> None:
    """A straight fence from (x0, y0) to (x1, y1): ``panel`` (solid boards), ``rail`` (posts and
    two or three rails), ``wire`` (thin posts and wires) or ``palisade`` (vertical bars)."""
    style = style or _pick(rng, ["panel", "rail", "wire", "palisade"])
    length = float(np.hypot(x1 - x0, y1 - y0))
    if length < 0.1:
        return
    yaw = float(np.arctan2(y1 - y0, x1 - x0))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    seed = rng.uniform()
    metal = style in ("wire", "palisade")
    if color is None:
        color = (_pick(rng, [(0.45, 0.47, 0.45), (0.15, 0.25, 0.15), (0.1, 0.1, 0.1)]) if metal
                 else _pick(rng, [(0.5, 0.35, 0.2), (0.8, 0.8, 0.78), (0.35, 0.25, 0.15)]))
    h = (rng.uniform(1.6, 2.4) if metal else rng.uniform(0.9, 1.8)) if height is None else height
    post_mat = M.METAL if metal else M.WOOD
    n_posts = max(1, int(length / post_spacing)) + 1
    for t in np.linspace(0.0, 1.0, n_posts):
        px, py = x0 + (x1 - x0) * t, y0 + (y1 - y0) * t
        if metal:
            prims.add_cylinder(px, py, 0.0, h + 0.05, 0.03, post_mat, color, seed)
        else:
            prims.add_box((px, py, (h + 0.05) / 2), (0.05, 0.05, (h + 0.05) / 2), post_mat, color, yaw, seed)
    if style == "panel":
        dx, dy = _rotate(yaw, 0.0, 0.06)
        prims.add_box((cx + dx, cy + dy, h / 2 + 0.03), (length / 2, 0.015, h / 2), M.PLANKS, color, yaw, seed)
    elif style == "rail":
        for z in np.linspace(0.35, h - 0.05, rng.integers(2, 4)):
            prims.add_box((cx, cy, z), (length / 2, 0.03, 0.05), M.WOOD, color, yaw, seed)
    elif style == "wire":
        for z in np.linspace(0.3, h, 4):
            prims.add_box((cx, cy, z), (length / 2, 0.006, 0.006), M.METAL, color, yaw, seed)
    elif style == "palisade":
        for z in (0.25, h - 0.2):
            prims.add_box((cx, cy, z), (length / 2, 0.02, 0.03), M.METAL, color, yaw, seed)
        spacing = rng.uniform(0.2, 0.35)
        for t in np.arange(spacing / 2, length, spacing):
            dx, dy = _rotate(yaw, t - length / 2, 0.03)
            prims.add_box((cx + dx, cy + dy, h / 2), (0.012, 0.012, h / 2), M.METAL, color, yaw, seed)
    else:
        raise ValueError(f"unknown fence style '{style}'")


def add_truck(prims: Primitives, rng: np.random.Generator, x: float, y: float, yaw: float,
              kind: str | None = None) -> tuple[float, float]:
    """A ``van`` (5-6 m), a rigid ``box`` truck (7-10 m) or a ``semi`` (tractor and 13.6 m trailer),
    centred at (x, y) and facing ``yaw``. Returns (length, width)."""
    kind = kind or _pick(rng, ["van", "box", "box", "semi", "semi"])
    seed = rng.uniform()
    cab_color = _pick(rng, TRUCK_COLORS)

    def box(forward, up, half, material, color=(1, 1, 1), side=0.0):
        dx, dy = _rotate(yaw, forward, side)
        prims.add_box((x + dx, y + dy, up), half, material, color, yaw, seed)

    def wheels(at, half_width, r):
        for f in at:
            for sd in (-1, 1):
                box(f, r, (r, 0.16, r), M.RUBBER, side=sd * (half_width - 0.16))

    if kind == "van":
        length, width, height = rng.uniform(5.0, 6.0), rng.uniform(1.95, 2.1), rng.uniform(2.3, 2.7)
        box(0.0, 0.35 + (height - 0.35) / 2, (length / 2, width / 2, (height - 0.35) / 2), M.CAR_PAINT, cab_color)
        box(length / 2 - 0.25, height * 0.68, (0.28, width / 2 - 0.1, height * 0.14), M.GLASS)
        wheels((length / 2 - 0.9, -length / 2 + 1.0), width / 2, 0.35)
        return length, width
    width = rng.uniform(2.4, 2.55)
    if kind == "box":
        length = rng.uniform(7.0, 10.0)
        cab_len, cab_h, cargo_h = 2.2, rng.uniform(2.7, 3.1), rng.uniform(3.2, 3.9)
        cargo_len = length - cab_len - 0.2
    elif kind == "semi":
        length = rng.uniform(16.0, 16.8)
        cab_len, cab_h, cargo_h = 2.4, rng.uniform(3.2, 3.8), 4.0
        cargo_len = 13.6
    else:
        raise ValueError(f"unknown truck kind '{kind}'")
    front = length / 2
    box(front - cab_len / 2, 0.5 + (cab_h - 0.5) / 2, (cab_len / 2, width / 2, (cab_h - 0.5) / 2),
        M.CAR_PAINT, cab_color)
    box(front - 0.04, 0.5 + (cab_h - 0.5) * 0.7, (0.05, width / 2 - 0.12, (cab_h - 0.5) * 0.17), M.GLASS)
    box(0.0, 0.75, (length / 2 - 0.3, 0.45, 0.15), M.METAL, (0.15, 0.15, 0.15))   # chassis
    cargo_color = _pick(rng, [(0.85, 0.85, 0.85), (0.85, 0.85, 0.85), *CONTAINER_COLORS])
    cargo_mid = -length / 2 + cargo_len / 2
    box(cargo_mid, 1.15 + (cargo_h - 1.15) / 2, (cargo_len / 2, width / 2, (cargo_h - 1.15) / 2),
        M.CORRUGATED if rng.uniform() < 0.6 else M.PLASTIC, cargo_color)
    wheels((front - 1.3,), width / 2, 0.5)
    if kind == "semi":
        wheels((front - 3.7, -length / 2 + 1.3, -length / 2 + 2.6, -length / 2 + 3.9), width / 2, 0.5)
    else:
        wheels((-length / 2 + 1.6,), width / 2, 0.5)
    return length, width


def add_bush(prims: Primitives, rng: np.random.Generator, x: float, y: float, scale: float = 1.0) -> float:
    """Two to four overlapping foliage spheres, partly sunk into the ground. Returns the footprint radius."""
    green = (rng.uniform(0.05, 0.16), rng.uniform(0.16, 0.32), rng.uniform(0.02, 0.08))
    seed = rng.uniform()
    reach = 0.0
    for _ in range(rng.integers(2, 5)):
        r = rng.uniform(0.3, 0.8) * scale
        off = rng.normal(0.0, 0.35 * scale, 2)
        prims.add_sphere((x + off[0], y + off[1], r * rng.uniform(0.2, 0.6)), r, M.FOLIAGE, green, seed)
        reach = max(reach, float(np.hypot(*off)) + r)
    return reach


def add_container(prims: Primitives, rng: np.random.Generator, x: float, y: float, yaw: float,
                  z: float = 0.0, length: float | None = None) -> tuple[float, float]:
    """A shipping container (6.06 or 12.19 m long, 2.44 m wide, 2.59 m high) standing at height
    ``z`` (to stack them). Returns (length, width)."""
    length = (6.06 if rng.uniform() < 0.5 else 12.19) if length is None else length
    prims.add_box((x, y, z + 1.295), (length / 2, 1.22, 1.295), M.CORRUGATED, _pick(rng, CONTAINER_COLORS),
                  yaw, rng.uniform())
    return length, 2.44


def add_pallet(prims: Primitives, rng: np.random.Generator, x: float, y: float, yaw: float, z: float = 0.0,
               load: bool = True, max_load_height: float = 1.4) -> float:
    """A 1.2 x 0.8 m pallet (deck on three runners), usually with a load of boxes or wrapped
    goods on it. Returns its top height above ``z``."""
    seed = rng.uniform()
    wood = (0.55, 0.42, 0.28)
    prims.add_box((x, y, z + 0.13), (0.6, 0.4, 0.015), M.WOOD, wood, yaw, seed)
    for side in (-1, 0, 1):
        dx, dy = _rotate(yaw, 0.0, side * 0.34)
        prims.add_box((x + dx, y + dy, z + 0.06), (0.6, 0.05, 0.06), M.WOOD, wood, yaw, seed)
    if not load:
        return 0.145
    h = rng.uniform(0.3, max(0.35, max_load_height))
    if rng.uniform() < 0.6:
        color = (rng.uniform(0.5, 0.65), rng.uniform(0.38, 0.48), rng.uniform(0.22, 0.3))
        prims.add_box((x, y, z + 0.145 + h / 2), (0.58, 0.38, h / 2), CARDBOARD, color, yaw, rng.uniform())
    else:
        color = _pick(rng, [(0.8, 0.8, 0.82), (0.15, 0.3, 0.6), (0.6, 0.1, 0.08), (0.2, 0.2, 0.2)])
        prims.add_box((x, y, z + 0.145 + h / 2), (0.59, 0.39, h / 2), M.PLASTIC, color, yaw, rng.uniform())
    return 0.145 + h


def add_forklift(prims: Primitives, rng: np.random.Generator, x: float, y: float, yaw: float,
                 fork_height: float | None = None) -> float:
    """A counterbalance forklift (body, overhead guard, mast, forks, wheels), about 3.2 x 1.2 m,
    forks pointing along ``yaw``. Returns the footprint radius."""
    seed = rng.uniform()
    body = _pick(rng, [(0.9, 0.65, 0.05), (0.85, 0.3, 0.05), (0.7, 0.08, 0.05), (0.15, 0.35, 0.2),
                       (0.2, 0.3, 0.6)])
    dark = (0.08, 0.08, 0.08)
    fork_z = rng.uniform(0.05, 1.2) if fork_height is None else fork_height

    def box(forward, up, half, material, color, side=0.0):
        dx, dy = _rotate(yaw, forward, side)
        prims.add_box((x + dx, y + dy, up), half, material, color, yaw, seed)

    box(-0.35, 0.55, (0.85, 0.55, 0.4), M.CAR_PAINT, body)            # chassis and counterweight
    box(-1.0, 1.05, (0.2, 0.55, 0.1), M.CAR_PAINT, body)              # counterweight top
    box(-0.35, 1.1, (0.25, 0.25, 0.15), M.FABRIC, dark)               # seat
    for f in (-0.95, 0.35):
        for sd in (-1, 1):
            dx, dy = _rotate(yaw, f, sd * 0.5)
            prims.add_box((x + dx, y + dy, 1.55), (0.03, 0.03, 0.6), M.METAL, dark, yaw, seed)   # guard posts
    box(-0.3, 2.17, (0.7, 0.55, 0.03), M.METAL, dark)                 # guard roof
    for sd in (-1, 1):
        box(0.6, 1.2, (0.05, 0.06, 1.15), M.METAL, dark, sd * 0.35)    # mast rails
        box(1.25, fork_z + 0.03, (0.55, 0.06, 0.03), M.METAL, dark, sd * 0.3)   # forks
    box(0.7, fork_z + 0.45, (0.04, 0.45, 0.45), M.METAL, dark)        # carriage
    for f, r in ((0.3, 0.3), (-0.9, 0.25)):
        for sd in (-1, 1):
            box(f, r, (r, 0.12, r), M.RUBBER, (1, 1, 1), sd * 0.5)
    return 1.9
