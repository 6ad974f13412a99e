"""The simulator facade: a world, a sensor rig on a moving robot, and rendered frames."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..geometry import CameraIntrinsics, compose, invert_transform, make_transform, rotation_from_euler
from .config import SimConfig, default_config
from .materials import NoiseTexture
from .motion import MovingWorld, make_movers
from .render import CameraRenderer, LidarScanner
from .scenes import BUILDERS

__all__ = ["FRAME_IDS", "Rig", "SimFrame", "Simulator"]

# Frame names, as a ROS driver would publish them.
FRAME_IDS = {"base": "base_link", "camera_link": "camera_link", "camera": "camera_optical_frame",
             "lidar": "lidar_link"}

# Optical frame (x right, y down, z forward) expressed in a REP-103 body frame (x fwd, y left, z up).
R_LINK_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])

START_TIME_NS = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z: fixed, so bags are reproducible
SWEEP_SLICES = 20   # sweep_motion: the sweep is cast in this many azimuth slices, each at its own time


@dataclass(frozen=True)
class Rig:
    """Static transforms of the sensor rig (``T_parent_child``), as published on ``/tf_static``."""

    T_base_camera_link: np.ndarray
    T_camera_link_optical: np.ndarray
    T_base_lidar: np.ndarray

    @property
    def T_base_camera(self) -> np.ndarray:
        return compose(self.T_base_camera_link, self.T_camera_link_optical)

    @property
    def T_cam_lidar(self) -> np.ndarray:
        """The LiDAR's pose in the camera optical frame (the ``lidar_extrinsic``)."""
        return compose(invert_transform(self.T_base_camera), self.T_base_lidar)

    def static_transforms(self) -> list[tuple[str, str, np.ndarray]]:
        """``(parent, child, T_parent_child)`` edges of the rig's transform tree."""
        f = FRAME_IDS
        return [(f["base"], f["camera_link"], self.T_base_camera_link),
                (f["camera_link"], f["camera"], self.T_camera_link_optical),
                (f["base"], f["lidar"], self.T_base_lidar)]


@dataclass
class SimFrame:
    """One synchronised camera + LiDAR capture. Depth is the optical-frame z in metres (NaN where
    no surface is within ``max_depth``); LiDAR points are in the LiDAR frame."""

    index: int
    stamp_ns: int
    rgb: np.ndarray              # [H,W,3] uint8
    depth: np.ndarray            # [H,W] float32
    lidar_points: np.ndarray     # [N,3] float32
    lidar_intensity: np.ndarray  # [N] float32, 0..255
    lidar_ring: np.ndarray       # [N] uint16, 0 = lowest beam
    T_world_base: np.ndarray     # [4,4] ground-truth pose
    lidar_times: np.ndarray | None = None   # [N] int64 ns: each point's own time (sweep_motion), else None
    lidar_stamp_ns: int | None = None       # the LiDAR's stamp where it is not the image's (``lidar_lag_s``)

    @property
    def cloud_stamp_ns(self) -> int:
        """The stamp of the LiDAR capture: the image's unless the sensors are unsynchronised."""
        return self.stamp_ns if self.lidar_stamp_ns is None else self.lidar_stamp_ns


class Simulator:
    """Renders ``frames`` consecutive captures of one procedurally generated world.

    Everything is a pure function of ``(config, seed, frames)``: the same arguments give the same
    world and bit-identical frames.
    """

    def __init__(self, config: SimConfig | str = "street", *, seed: int = 0, frames: int = 100,
                 start_time_ns: int = START_TIME_NS) -> None:
        if isinstance(config, str):
            config = default_config(config)
        if frames < 1:
            raise ValueError(f"frames must be >= 1, got {frames}")
        self.config, self.seed, self.frames, self.start_time_ns = config, seed, frames, start_time_ns
        rng = np.random.default_rng([seed, 0])
        step = config.speed / config.rate_hz
        self.world = BUILDERS[config.scene](rng, frames, step)
        self.noise = NoiseTexture(np.random.default_rng([seed, 1]))
        rig = config.rig
        self.rig = Rig(
            make_transform(rotation_from_euler(np.radians(rig.camera_roll_deg), np.radians(rig.camera_pitch_deg), 0.0),
                           rig.camera_xyz),
            make_transform(R_LINK_OPTICAL),
            make_transform(rotation_from_euler(*np.radians(rig.lidar_rpy_deg)), rig.lidar_xyz),
        )
        self.camera = CameraRenderer(config.camera.intrinsics(), config.max_depth, config.camera.noise_std,
                                     distortion=config.camera.distortion, appearance=config.appearance)
        self.lidar = LidarScanner(config.lidar)
        # Movers come from their own random stream: a world without them is the same world.
        movers = make_movers(np.random.default_rng([seed, 3]), self.world.poses, config.moving_objects,
                             config.rate_hz) if config.moving_objects else []
        self.moving = MovingWorld(self.world, movers, config.rate_hz, start_time_ns)

    @property
    def intrinsics(self) -> CameraIntrinsics:
        return self.camera.intrinsics

    def stamp_ns(self, index: int) -> int:
        return self.start_time_ns + round(index * 1e9 / self.config.rate_hz)

    def render(self, index: int) -> SimFrame:
        if not 0 <= index < self.frames:
            raise IndexError(f"frame {index} outside 0..{self.frames - 1}")
        rng = np.random.default_rng([self.seed, 2, index])
        T_world_base = self.world.poses[index]
        stamp = self.stamp_ns(index)
        world = self.moving.at(stamp)
        rgb, depth = self.camera.render(world, T_world_base @ self.rig.T_base_camera, self.noise, rng)
        lag = round(self.config.lidar_lag_s * 1e9)
        lidar_stamp = stamp - lag
        if not self.config.sweep_motion:
            if lag:   # the scan from where the robot was, against where everything was, then
                world, T_world_base_then = self.moving.at(lidar_stamp), self.moving.pose(lidar_stamp)
            else:
                T_world_base_then = T_world_base
            points, intensity, ring = self.lidar.scan(world, T_world_base_then @ self.rig.T_base_lidar, rng)
            return SimFrame(index, stamp, rgb, depth, points, intensity, ring, T_world_base,
                            lidar_stamp_ns=lidar_stamp if lag else None)
        points, intensity, ring, times = self._sweep(lidar_stamp, rng)
        return SimFrame(index, stamp, rgb, depth, points, intensity, ring, T_world_base, times,
                        lidar_stamp if lag else None)

    def _sweep(self, stamp: int, rng: np.random.Generator, slices: int = SWEEP_SLICES):
        """A sweep taken over one frame period from ``stamp`` (the LiDAR's stamp), in ``slices``
        azimuth slices, each cast from the robot's pose and against the movers at its own time;
        each point in the LiDAR frame at its time, as a spinning LiDAR reports it."""
        columns, period = self.config.lidar.columns, round(1e9 / self.config.rate_hz)
        parts = []
        for s in range(slices):
            cols = range(s * columns // slices, (s + 1) * columns // slices)
            t = stamp + round((s + 0.5) / slices * period)
            T = self.moving.pose(t) @ self.rig.T_base_lidar
            pts, inten, ring = self.lidar.scan(self.moving.at(t), T, rng, columns=cols)
            parts.append((pts, inten, ring, np.full(len(pts), t, np.int64)))
        return tuple(np.concatenate([p[i] for p in parts]) for i in range(4))

    def __iter__(self) -> Iterator[SimFrame]:
        return (self.render(i) for i in range(self.frames))

    def __len__(self) -> int:
        return self.frames
