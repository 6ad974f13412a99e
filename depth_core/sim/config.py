"""Configuration of the simulated sensor rig: camera, LiDAR, their mounting, and the motion."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..geometry import CameraIntrinsics

__all__ = ["SCENES", "CameraConfig", "LidarConfig", "RigConfig", "SimConfig", "default_config"]

SCENES = ("street", "indoor", "yard")


@dataclass(frozen=True)
class CameraConfig:
    width: int = 640
    height: int = 192
    hfov_deg: float = 81.0          # horizontal field of view; fx = fy from it
    noise_std: float = 0.01         # additive Gaussian pixel noise, in [0, 1] intensity units

    def intrinsics(self) -> CameraIntrinsics:
        f = 0.5 * self.width / np.tan(np.radians(self.hfov_deg) / 2)
        return CameraIntrinsics(f, f, (self.width - 1) / 2, (self.height - 1) / 2, self.width, self.height)


@dataclass(frozen=True)
class LidarConfig:
    beams: int = 64                  # rows of the scan; ring 0 is the lowest beam
    fov_up_deg: float = 2.0          # vertical field of view, beam elevations spread evenly
    fov_down_deg: float = -24.8
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

    @property
    def columns(self) -> int:
        return round(360.0 / self.azimuth_resolution_deg)

    def elevations(self) -> np.ndarray:
        """Beam elevation angles in radians, ring order (lowest first)."""
        if self.beams == 1:
            return np.radians(np.array([0.5 * (self.fov_up_deg + self.fov_down_deg)]))
        return np.radians(np.linspace(self.fov_down_deg, self.fov_up_deg, self.beams))


@dataclass(frozen=True)
class RigConfig:
    """Sensor mounting on the robot's ``base_link`` (x forward, y left, z up, on the ground)."""

    camera_xyz: tuple[float, float, float] = (0.27, 0.0, 1.65)
    camera_pitch_deg: float = 1.0            # positive looks down
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

    def __post_init__(self) -> None:
        if self.scene not in SCENES:
            raise ValueError(f"scene must be one of {', '.join(SCENES)}; got '{self.scene}'")
        if self.camera.width < 8 or self.camera.height < 8:
            raise ValueError(f"camera size must be at least 8x8, got {self.camera.width}x{self.camera.height}")
        if self.rate_hz <= 0:
            raise ValueError(f"rate_hz must be positive, got {self.rate_hz}")

    def to_dict(self) -> dict:
        return asdict(self)


def default_config(scene: str, *, width: int | None = None, height: int | None = None) -> SimConfig:
    """The rig of each scene family: a KITTI-like car, an NYU-like handheld/robot camera indoors,
    and a small ground robot in a yard. ``width``/``height`` override the camera size."""
    if scene == "street":
        cfg = SimConfig("street")
    elif scene == "indoor":
        cfg = SimConfig(
            "indoor",
            camera=CameraConfig(640, 480, hfov_deg=63.0),   # NYU Kinect: fx ~ 519 at 640x480
            lidar=LidarConfig(beams=32, fov_up_deg=22.5, fov_down_deg=-22.5,
                              azimuth_resolution_deg=0.35, max_range=30.0, min_range=0.3,
                              range_noise_std=0.01),
            rig=RigConfig(camera_xyz=(0.1, 0.0, 1.3), camera_pitch_deg=8.0,
                          lidar_xyz=(0.0, 0.0, 1.45), lidar_rpy_deg=(-0.4, 0.3, -0.8)),
            speed=0.5, max_depth=20.0,
        )
    elif scene == "yard":
        cfg = SimConfig(
            "yard",
            camera=CameraConfig(640, 360, hfov_deg=90.0),
            lidar=LidarConfig(beams=16, fov_up_deg=15.0, fov_down_deg=-15.0,
                              azimuth_resolution_deg=0.2, max_range=100.0, min_range=0.5,
                              range_noise_std=0.03),
            rig=RigConfig(camera_xyz=(0.2, 0.0, 0.9), camera_pitch_deg=4.0,
                          lidar_xyz=(0.0, 0.0, 1.1), lidar_rpy_deg=(0.5, 0.2, 1.0)),
            speed=1.5, max_depth=120.0,
        )
    else:
        raise ValueError(f"scene must be one of {', '.join(SCENES)}; got '{scene}'")
    if width is not None or height is not None:
        cam = replace(cfg.camera, width=width or cfg.camera.width, height=height or cfg.camera.height)
        cfg = replace(cfg, camera=cam)
    return cfg
