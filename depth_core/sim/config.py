"""Configuration of one simulated sequence: the world type, the camera, the LiDAR, their mounting
on the robot, the look, and the motion. :mod:`depth_core.sim.rigs` draws random rigs and holds the
named presets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..geometry import CameraIntrinsics
from .appearance import Appearance
from .scenes import BUILDERS, SCENE_INFO

__all__ = ["SCENES", "CameraConfig", "LidarConfig", "RigConfig", "SimConfig", "default_config"]

# World types, in a fixed order (data set seeds are derived from the index: append new ones).
SCENES = tuple(BUILDERS)


@dataclass(frozen=True)
class CameraConfig:
    width: int = 640
    height: int = 192
    hfov_deg: float = 81.0          # horizontal field of view; fx = fy from it
    noise_std: float = 0.01         # additive Gaussian pixel noise, in [0, 1] intensity units
    cx_offset: float = 0.0          # principal point off the image centre, as a fraction of width
    cy_offset: float = 0.0          # ... and of height
    # OpenCV lens distortion (k1, k2, p1, p2, k3) of the physical lens; () = an ideal pinhole. The
    # frames are rectified before use, so intrinsics() is the pinhole camera of the rectified image.
    distortion: tuple = ()

    def __post_init__(self) -> None:
        if not 1.0 <= self.hfov_deg <= 170.0:
            raise ValueError(f"camera hfov_deg must be in [1, 170], got {self.hfov_deg}")
        if abs(self.cx_offset) > 0.25 or abs(self.cy_offset) > 0.25:
            raise ValueError(f"camera principal point offsets must be within +-0.25, got "
                             f"{self.cx_offset}, {self.cy_offset}")
        if len(self.distortion) not in (0, 4, 5):
            raise ValueError(f"camera distortion must be () or (k1, k2, p1, p2[, k3]), got {self.distortion}")

    def intrinsics(self) -> CameraIntrinsics:
        f = 0.5 * self.width / np.tan(np.radians(self.hfov_deg) / 2)
        return CameraIntrinsics(f, f, (self.width - 1) / 2 + self.cx_offset * self.width,
                                (self.height - 1) / 2 + self.cy_offset * self.height, self.width, self.height)


@dataclass(frozen=True)
class LidarConfig:
    beams: int = 64                  # rows of the scan; ring 0 is the lowest beam
    fov_up_deg: float = 2.0          # vertical field of view, beam elevations spread evenly
    fov_down_deg: float = -24.8
    # Explicit beam elevations in degrees, lowest first (non-uniform sensors); () = evenly spread.
    elevations_deg: tuple = ()
    model: str = ""                  # the sensor this imitates (e.g. VLP-16), for the record
    azimuth_resolution_deg: float = 0.2
    max_range: float = 120.0         # metres; farther surfaces give no return
    min_range: float = 0.9
    range_noise_std: float = 0.02    # metres, Gaussian
    dropout: float = 0.05            # probability that a return is lost

    def __post_init__(self) -> None:
        if self.beams < 1:
            raise ValueError(f"lidar beams must be >= 1, got {self.beams}")
        if not self.fov_down_deg < self.fov_up_deg:
            raise ValueError(
                f"lidar fov_down_deg ({self.fov_down_deg}) must be below fov_up_deg ({self.fov_up_deg})")
        if not 0 < self.azimuth_resolution_deg <= 10:
            raise ValueError(f"lidar azimuth_resolution_deg must be in (0, 10], got {self.azimuth_resolution_deg}")
        if not 0 < self.min_range < self.max_range:
            raise ValueError(
                f"lidar ranges must satisfy 0 < min_range < max_range, got {self.min_range}, {self.max_range}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"lidar dropout must be in [0, 1), got {self.dropout}")
        if self.range_noise_std < 0:
            raise ValueError(f"lidar range_noise_std must be >= 0, got {self.range_noise_std}")
        if self.elevations_deg:
            el = np.asarray(self.elevations_deg, dtype=float)
            if len(el) != self.beams or (np.diff(el) <= 0).any():
                raise ValueError(f"lidar elevations_deg must hold {self.beams} increasing angles (lowest first), "
                                 f"got {len(el)}")
            if el[0] < self.fov_down_deg - 1e-6 or el[-1] > self.fov_up_deg + 1e-6:
                raise ValueError(f"lidar elevations_deg must lie within [fov_down_deg, fov_up_deg] = "
                                 f"[{self.fov_down_deg}, {self.fov_up_deg}]")

    @property
    def columns(self) -> int:
        return round(360.0 / self.azimuth_resolution_deg)

    def elevations(self) -> np.ndarray:
        """Beam elevation angles in radians, ring order (lowest first)."""
        if self.elevations_deg:
            return np.radians(np.asarray(self.elevations_deg, dtype=float))
        if self.beams == 1:
            return np.radians(np.array([0.5 * (self.fov_up_deg + self.fov_down_deg)]))
        return np.radians(np.linspace(self.fov_down_deg, self.fov_up_deg, self.beams))


@dataclass(frozen=True)
class RigConfig:
    """Sensor mounting on the robot's ``base_link`` (x forward, y left, z up, on the ground)."""

    camera_xyz: tuple[float, float, float] = (0.27, 0.0, 1.65)
    camera_pitch_deg: float = 1.0            # positive looks down
    camera_roll_deg: float = 0.0             # about the forward axis, positive lifts the left side (REP-103)
    lidar_xyz: tuple[float, float, float] = (0.0, 0.0, 1.73)
    lidar_rpy_deg: tuple[float, float, float] = (0.3, -0.4, 0.6)  # a realistic mounting error


@dataclass(frozen=True)
class SimConfig:
    scene: str = "street"
    camera: CameraConfig = field(default_factory=CameraConfig)
    lidar: LidarConfig = field(default_factory=LidarConfig)
    rig: RigConfig = field(default_factory=RigConfig)
    rate_hz: float = 10.0
    speed: float = 8.0               # m/s along the trajectory
    max_depth: float = 250.0         # rendered depth beyond this is invalid (NaN)
    appearance: Appearance | None = None   # randomised look (sky, shadows, camera effects); None = plain
    rig_name: str = ""               # the preset or random draw this rig came from, for the record
    moving_objects: int = 0          # cars that drive and people who walk along the robot's path
    sweep_motion: bool = False       # the LiDAR takes its sweep over one frame period, while everything moves
    lidar_lag_s: float = 0.0         # s by which the LiDAR capture (and its stamp) precedes the image (unsynchronised)

    def __post_init__(self) -> None:
        if self.scene not in SCENES:
            raise ValueError(f"scene must be one of {', '.join(SCENES)}; got '{self.scene}'")
        if self.camera.width < 8 or self.camera.height < 8:
            raise ValueError(f"camera size must be at least 8x8, got {self.camera.width}x{self.camera.height}")
        if self.rate_hz <= 0:
            raise ValueError(f"rate_hz must be positive, got {self.rate_hz}")
        if self.moving_objects < 0:
            raise ValueError(f"moving_objects must be >= 0, got {self.moving_objects}")
        if not 0 <= self.lidar_lag_s < 1 / self.rate_hz:
            raise ValueError(f"lidar_lag_s must be in [0, one frame period = {1 / self.rate_hz:g} s), "
                             f"got {self.lidar_lag_s}")

    def to_dict(self) -> dict:
        out = asdict(self)
        out["appearance"] = None if self.appearance is None else self.appearance.to_dict()
        return out

    def rig_record(self) -> dict:
        """What a frame set records of this sequence's rig: camera, LiDAR, mounting and look."""
        d = self.to_dict()
        return {"name": self.rig_name, "camera": d["camera"], "lidar": d["lidar"], "mount": d["rig"],
                "appearance": d["appearance"], "speed": self.speed}


def default_config(scene: str, *, width: int | None = None, height: int | None = None) -> SimConfig:
    """The fixed rig of each world type: a KITTI-like car in the street (and on the highway), an
    NYU-like robot camera indoors (rooms, warehouses, corridors), and a small ground robot in the
    yard and other outdoor worlds. ``width``/``height`` override the camera size. Random rigs and
    named presets are in :mod:`depth_core.sim.rigs`."""
    if scene not in SCENES:
        raise ValueError(f"scene must be one of {', '.join(SCENES)}; got '{scene}'")
    info = SCENE_INFO[scene]
    if scene in ("street", "highway"):
        cfg = SimConfig(scene)
    elif info.indoor:
        cfg = SimConfig(
            scene,
            camera=CameraConfig(640, 480, hfov_deg=63.0),   # NYU Kinect: fx ~ 519 at 640x480
            lidar=LidarConfig(beams=32, fov_up_deg=22.5, fov_down_deg=-22.5,
                              azimuth_resolution_deg=0.35, max_range=30.0, min_range=0.3,
                              range_noise_std=0.01),
            rig=RigConfig(camera_xyz=(0.1, 0.0, 1.3), camera_pitch_deg=8.0,
                          lidar_xyz=(0.0, 0.0, 1.45), lidar_rpy_deg=(-0.4, 0.3, -0.8)),
        )
    else:
        cfg = SimConfig(
            scene,
            camera=CameraConfig(640, 360, hfov_deg=90.0),
            lidar=LidarConfig(beams=16, fov_up_deg=15.0, fov_down_deg=-15.0,
                              azimuth_resolution_deg=0.2, max_range=100.0, min_range=0.5,
                              range_noise_std=0.03),
            rig=RigConfig(camera_xyz=(0.2, 0.0, 0.9), camera_pitch_deg=4.0,
                          lidar_xyz=(0.0, 0.0, 1.1), lidar_rpy_deg=(0.5, 0.2, 1.0)),
        )
    cfg = replace(cfg, speed=info.speed, max_depth=info.max_depth, rig_name=f"{scene}_default")
    if width is not None or height is not None:
        cam = replace(cfg.camera, width=width or cfg.camera.width, height=height or cfg.camera.height)
        cfg = replace(cfg, camera=cam)
    return cfg
