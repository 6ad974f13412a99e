"""Things that move while the sensors look: cars that drive and people who walk, and a spinning
LiDAR that takes its sweep over time while the robot moves.

Movers are placed along the robot's own path (so that it meets them), each a small group of
primitives translated at a constant velocity: cars in lanes beside the robot, driving with it or
towards it at 3-12 m/s; people on either side at walking pace. The world at time ``t`` is the
static world plus every mover at ``t``. The camera renders the world at its frame's time, and
the LiDAR casts each slice of its sweep at that slice's own time, from the robot's pose then and
against the movers then. So camera, LiDAR and ground truth agree, within a sweep too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..geometry import PoseHistory
from .raycast import Primitives
from .scenes.common import World, add_car, add_person

__all__ = ["Mover", "MovingWorld", "make_movers"]


@dataclass
class Mover:
    prims: Primitives          # frozen, centred on the origin
    start: np.ndarray          # (x, y) at t = 0
    velocity: np.ndarray       # (vx, vy) m/s
    kind: str                  # 'car' | 'person'


def _person(rng: np.random.Generator, yaw: float) -> Primitives:
    prims = Primitives()
    add_person(prims, rng, 0.0, 0.0, yaw)
    return prims.freeze()


def make_movers(rng: np.random.Generator, poses: np.ndarray, count: int, rate_hz: float) -> list[Mover]:
    """``count`` movers along the robot's path (``poses`` [N,4,4], one per frame at ``rate_hz``)."""
    movers = []
    n = len(poses)
    for i in range(count):
        k = int(rng.integers(0, n))
        heading = poses[k][:2, 0] / max(np.linalg.norm(poses[k][:2, 0]), 1e-9)   # the robot's forward (x) axis
        left = np.array([-heading[1], heading[0]])
        ahead = rng.uniform(6.0, 30.0)
        t_meet = k / rate_hz
        if i % 3 == 2:   # a person beside the path, walking along it or across
            side = rng.choice([-1.0, 1.0])
            place = poses[k][:2, 3] + heading * ahead + left * side * rng.uniform(2.5, 5.0)
            direction = heading if rng.uniform() < 0.5 else left * -side
            velocity = direction * rng.uniform(0.8, 1.6) * rng.choice([-1.0, 1.0])
            prims, kind = _person(rng, float(np.arctan2(velocity[1], velocity[0]))), "person"
        else:            # a car in a lane beside the robot, with it or towards it
            side = rng.choice([-1.0, 1.0])
            place = poses[k][:2, 3] + heading * ahead + left * side * rng.uniform(2.8, 3.6)
            velocity = heading * rng.uniform(3.0, 12.0) * rng.choice([-1.0, 1.0])
            car = Primitives()
            yaw = float(np.arctan2(velocity[1], velocity[0]))
            add_car(car, rng, 0.0, 0.0, yaw)
            prims, kind = car.freeze(), "car"
        # Where it is at t = 0, so that it is at ``place`` when the robot is at frame k.
        movers.append(Mover(prims, place - velocity * t_meet, velocity, kind))
    return movers


class MovingWorld:
    """The static ``world`` plus ``movers``, at any time; the robot's pose at any time
    (interpolated between its frames)."""

    def __init__(self, world: World, movers: list[Mover], rate_hz: float, start_ns: int) -> None:
        self.world, self.movers, self.rate_hz, self.start_ns = world, movers, rate_hz, start_ns
        self.poses = PoseHistory(max_gap_ns=10**12)
        for i, T in enumerate(world.poses):
            self.poses.add(start_ns + round(i * 1e9 / rate_hz), T)
        if len(world.poses) > 1:   # one frame on, at the last step's motion: the last sweep ends there
            last, before = world.poses[-1], world.poses[-2]
            self.poses.add(start_ns + round(len(world.poses) * 1e9 / rate_hz), last @ np.linalg.inv(before) @ last)
        if movers:
            arrays = [world.prims] + [m.prims for m in movers]
            self._static_n = len(world.prims.kind)
            self._base = _concatenate(arrays)
            self._owner = np.concatenate([np.full(len(m.prims.kind), j) for j, m in enumerate(movers)])

    def at(self, t_ns: int) -> World:
        """The world with every mover where it is at ``t_ns``."""
        if not self.movers:
            return self.world
        t = (t_ns - self.start_ns) * 1e-9
        shift = np.array([np.r_[m.start + m.velocity * t, 0.0] for m in self.movers])
        prims = _copy(self._base)
        prims.center[self._static_n:] += shift[self._owner]
        return replace(self.world, prims=prims)

    def pose(self, t_ns: int) -> np.ndarray:
        """T_world_base at ``t_ns`` (between frames: interpolated; beyond the last: the last)."""
        pose = self.poses.at(t_ns, 10**12)
        return pose if pose is not None else self.world.poses[-1]


_FIELDS = ("kind", "center", "half", "yaw", "material", "color", "seed", "radius")


def _concatenate(parts: list[Primitives]) -> Primitives:
    out = Primitives()
    for name in _FIELDS:
        setattr(out, name, np.concatenate([getattr(p, name) for p in parts]))
    out._rows = [None] * len(out.kind)
    return out


def _copy(prims: Primitives) -> Primitives:
    out = Primitives()
    for name in _FIELDS:
        setattr(out, name, getattr(prims, name) if name != "center" else prims.center.copy())
    out._rows = prims._rows
    return out
