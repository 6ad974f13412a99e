"""What every scene family produces (a :class:`World`) and the props they share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ...geometry import make_transform, rotation_from_euler
from ..materials import Material
from ..raycast import Primitives

__all__ = ["Lighting", "World", "add_car", "add_table", "add_tree", "planar_poses"]

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
