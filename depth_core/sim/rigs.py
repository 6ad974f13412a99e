"""Sensor rigs: the LiDAR models robots carry, a distribution that draws a new camera, LiDAR and
mounting for every sequence, and named presets that make held-out rigs reproducible.

A rig is the camera (size, field of view, principal point, lens distortion), its mounting on the
robot (height, pitch, roll), and the LiDAR (a real sensor's beam pattern, noise and dropout) with
its mounting relative to the camera. :func:`sample_rig` turns a :class:`RigDistribution` and a
random generator into a concrete :class:`~depth_core.sim.config.SimConfig` for one world type;
:func:`preset_config` does the same for a named preset.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import numpy as np

from .config import SCENES, CameraConfig, LidarConfig, RigConfig, SimConfig, default_config
from .scenes import SCENE_INFO

__all__ = ["HELD_OUT_RIGS", "LIDAR_MODELS", "RIG_PRESETS", "RigDistribution", "RigPreset", "lidar_model",
           "preset_config", "rig_distribution", "sample_rig"]


def _blocks(*blocks: tuple[float, float, int]) -> tuple[float, ...]:
    """Beam elevations (degrees, lowest first) from ``(lowest, highest, count)`` evenly spaced blocks."""
    return tuple(float(e) for lo, hi, n in blocks for e in np.linspace(lo, hi, n))


# Real sensors' vertical layouts (published data sheets), as LidarConfig keyword arguments. Azimuth
# steps are at the coarse end of each sensor's settings: the ray caster's cost grows with the rays.
LIDAR_MODELS: dict[str, dict] = {
    "VLP-16": dict(beams=16, fov_down_deg=-15.0, fov_up_deg=15.0, azimuth_resolution_deg=0.2,
                   max_range=100.0, min_range=0.5, range_noise_std=0.03),
    "HDL-32E": dict(beams=32, fov_down_deg=-30.67, fov_up_deg=10.67, azimuth_resolution_deg=0.2,
                    max_range=100.0, min_range=0.5, range_noise_std=0.02),
    # Two lasers blocks: 32 beams 2.0..-8.33 deg (1/3 deg apart), 32 beams -8.83..-24.8 deg (1/2 deg).
    "HDL-64E": dict(beams=64, fov_down_deg=-24.8, fov_up_deg=2.0, azimuth_resolution_deg=0.2,
                    elevations_deg=_blocks((-24.8, -8.83, 32), (-8.33, 2.0, 32)),
                    max_range=120.0, min_range=0.9, range_noise_std=0.02),
    "OS1-64": dict(beams=64, fov_down_deg=-22.5, fov_up_deg=22.5, azimuth_resolution_deg=0.35,
                   max_range=120.0, min_range=0.3, range_noise_std=0.03),
    "OS0-128": dict(beams=128, fov_down_deg=-45.0, fov_up_deg=45.0, azimuth_resolution_deg=0.35,
                    max_range=50.0, min_range=0.3, range_noise_std=0.03),
    "OS1-128": dict(beams=128, fov_down_deg=-22.5, fov_up_deg=22.5, azimuth_resolution_deg=0.35,
                    max_range=120.0, min_range=0.3, range_noise_std=0.03),
    # Most beams within a few degrees of the horizon (0.11 deg apart), coarser above and below.
    "VLS-128": dict(beams=128, fov_down_deg=-25.0, fov_up_deg=15.0, azimuth_resolution_deg=0.35,
                    elevations_deg=_blocks((-25.0, -6.0, 24), (-5.7, 2.9, 80), (3.3, 15.0, 24)),
                    max_range=200.0, min_range=0.5, range_noise_std=0.02),
}


def lidar_model(name: str, **overrides) -> LidarConfig:
    """The LidarConfig of a sensor in :data:`LIDAR_MODELS`, with field overrides."""
    if name not in LIDAR_MODELS:
        raise ValueError(f"unknown LiDAR model '{name}' (known: {', '.join(LIDAR_MODELS)})")
    return LidarConfig(**{**LIDAR_MODELS[name], "model": name, **overrides})


ASPECTS = {"4:3": 4 / 3, "16:9": 16 / 9, "2:1": 2.0, "3.3:1": 3.3}


@dataclass(frozen=True)
class RigDistribution:
    """Where every random rig is drawn from. Ranges are ``[low, high]`` (uniform); choices come
    with weights. Angles in degrees, lengths in metres. The defaults cover what robots carry."""

    hfov_deg: tuple = (40.0, 110.0)                       # camera horizontal field of view
    widths: tuple = (320, 416, 512, 640, 800, 960, 1280)  # camera image widths ...
    width_weights: tuple = (1.0, 1.0, 1.5, 2.0, 1.5, 1.0, 0.5)  # ... large ones rarer: render time
    aspects: tuple = ("4:3", "16:9", "2:1", "3.3:1")      # width:height
    aspect_weights: tuple = (1.0, 1.0, 0.7, 0.7)
    principal_offset: float = 0.05                        # principal point up to +-5 % off centre
    distortion_p: float = 0.3                             # probability of a distorted (rectified) lens
    k1: tuple = (-0.3, -0.02)                             # barrel distortion, OpenCV k1
    k2: tuple = (0.0, 0.08)
    tangential: float = 0.001                             # p1, p2 within +-this
    camera_height: tuple = (0.2, 3.0)                     # above the ground (capped by the world's ceiling)
    camera_forward: tuple = (0.0, 0.5)                    # camera ahead of base_link
    pitch_deg: tuple = (-10.0, 20.0)                      # positive looks down: 20 deg down .. 10 deg up
    roll_deg: tuple = (-5.0, 5.0)
    lidar_models: tuple = tuple(LIDAR_MODELS)             # drawn uniformly
    lidar_above_camera: tuple = (0.05, 0.35)              # LiDAR mount offset from the camera (up) ...
    lidar_behind_camera: tuple = (-0.1, 0.4)              # ... back ...
    lidar_side: tuple = (-0.15, 0.15)                     # ... and sideways
    lidar_mount_error_deg: float = 3.0                    # LiDAR roll/pitch/yaw off the camera's, +-
    range_noise_std: tuple = (0.005, 0.04)
    dropout: tuple = (0.0, 0.2)
    camera_noise_std: tuple = (0.003, 0.015)
    speed_scale: tuple = (0.6, 1.4)                       # robot speed relative to the world's typical one

    def __post_init__(self) -> None:
        for name in _RANGES:
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"rig distribution {name}: low {low} is above high {high}")
        unknown = [a for a in self.aspects if a not in ASPECTS]
        if unknown:
            raise ValueError(f"rig distribution aspects: unknown {unknown} (known: {', '.join(ASPECTS)})")
        missing = [m for m in self.lidar_models if m not in LIDAR_MODELS]
        if missing:
            raise ValueError(f"rig distribution lidar_models: unknown {missing} (known: {', '.join(LIDAR_MODELS)})")
        if len(self.widths) != len(self.width_weights) or len(self.aspects) != len(self.aspect_weights):
            raise ValueError("rig distribution: widths/aspects and their weights must have the same length")
        if self.camera_height[0] < 0.1:
            raise ValueError(f"rig distribution camera_height must start at >= 0.1 m, got {self.camera_height}")

    @classmethod
    def from_dict(cls, d: dict) -> RigDistribution:
        known = {f.name for f in fields(cls)}
        bad = sorted(set(d) - known)
        if bad:
            raise ValueError(f"rig distribution: unknown keys {bad} (known: {', '.join(sorted(known))})")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


# The [low, high] fields of RigDistribution.
_RANGES = ("hfov_deg", "k1", "k2", "camera_height", "camera_forward", "pitch_deg", "roll_deg", "lidar_above_camera",
           "lidar_behind_camera", "lidar_side", "range_noise_std", "dropout", "camera_noise_std", "speed_scale")


def _uniform(rng: np.random.Generator, bounds) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def _choice(rng: np.random.Generator, options, weights):
    p = np.asarray(weights, dtype=float)
    return options[int(rng.choice(len(options), p=p / p.sum()))]


def sample_rig(scene: str, rng: np.random.Generator, dist: RigDistribution | None = None,
               name: str = "random") -> SimConfig:
    """A random rig for world type ``scene``: a concrete SimConfig. Mounts are capped below the
    world's ceiling (``SCENE_INFO[scene].max_mount_height``)."""
    dist = dist or RigDistribution()
    base = default_config(scene)
    info = SCENE_INFO[scene]
    width = int(_choice(rng, dist.widths, dist.width_weights))
    aspect = ASPECTS[_choice(rng, dist.aspects, dist.aspect_weights)]
    height = max(8, 2 * round(width / aspect / 2))
    distortion = ()
    if rng.uniform() < dist.distortion_p:
        t = dist.tangential
        distortion = (round(_uniform(rng, dist.k1), 4), round(_uniform(rng, dist.k2), 4),
                      round(_uniform(rng, (-t, t)), 5), round(_uniform(rng, (-t, t)), 5), 0.0)
    camera = CameraConfig(width, height, hfov_deg=round(_uniform(rng, dist.hfov_deg), 2),
                          noise_std=_uniform(rng, dist.camera_noise_std),
                          cx_offset=round(_uniform(rng, (-dist.principal_offset, dist.principal_offset)), 4),
                          cy_offset=round(_uniform(rng, (-dist.principal_offset, dist.principal_offset)), 4),
                          distortion=distortion)
    lidar = lidar_model(str(rng.choice(dist.lidar_models)),
                        range_noise_std=round(_uniform(rng, dist.range_noise_std), 4),
                        dropout=round(_uniform(rng, dist.dropout), 3))
    # Heights: the LiDAR sits above the camera when there is room under the ceiling, else below it.
    ceiling = info.max_mount_height
    top = min(dist.camera_height[1], ceiling)
    cam_z = _uniform(rng, (min(dist.camera_height[0], top), top))
    up = _uniform(rng, dist.lidar_above_camera)
    lidar_z = cam_z + up if cam_z + up <= ceiling else max(0.1, cam_z - up)
    cam_x = _uniform(rng, dist.camera_forward)
    err = dist.lidar_mount_error_deg
    mount = RigConfig(
        camera_xyz=(round(cam_x, 3), 0.0, round(cam_z, 3)),
        camera_pitch_deg=round(_uniform(rng, dist.pitch_deg), 2),
        camera_roll_deg=round(_uniform(rng, dist.roll_deg), 2),
        lidar_xyz=(round(cam_x - _uniform(rng, dist.lidar_behind_camera), 3),
                   round(_uniform(rng, dist.lidar_side), 3), round(lidar_z, 3)),
        lidar_rpy_deg=tuple(round(_uniform(rng, (-err, err)), 2) for _ in range(3)),
    )
    return replace(base, camera=camera, lidar=lidar, rig=mount, rig_name=name,
                   speed=base.speed * _uniform(rng, dist.speed_scale))


@dataclass(frozen=True)
class RigPreset:
    """A fixed rig: camera, LiDAR and mounting, applied to any world type."""

    camera: CameraConfig
    lidar: LidarConfig
    mount: RigConfig
    description: str = ""
    worlds: tuple = field(default_factory=tuple)    # world types it suits (empty: any)


def _legacy(scene: str, description: str) -> RigPreset:
    cfg = default_config(scene)
    return RigPreset(cfg.camera, cfg.lidar, cfg.rig, description)


RIG_PRESETS: dict[str, RigPreset] = {
    # The three rigs of the first simulator, one per world (training rigs, not held out).
    "street_car": _legacy("street", "KITTI-like car: 640x192 at 81 deg, 1.65 m, 64 beams"),
    "indoor_robot": _legacy("indoor", "NYU-like: 640x480 at 63 deg, 1.3 m, 32 beams"),
    "yard_robot": _legacy("yard", "small ground robot: 640x360 at 90 deg, 0.9 m, 16 beams"),
    # Held-out rigs of the generalisation benchmark: never drawn in training (training draws
    # continuous random rigs; none of these exact cameras, mounts and LiDARs).
    "vga60": RigPreset(
        CameraConfig(640, 480, hfov_deg=60.0, cx_offset=0.01, cy_offset=-0.015),
        lidar_model("HDL-32E", range_noise_std=0.015, dropout=0.05),
        RigConfig(camera_xyz=(0.2, 0.0, 1.0), camera_pitch_deg=6.0, lidar_xyz=(0.1, 0.0, 1.2),
                  lidar_rpy_deg=(0.8, -0.5, 1.5)),
        "4:3 VGA camera at 60 deg on a 1 m mast, HDL-32E above it"),
    "wide100": RigPreset(
        CameraConfig(960, 540, hfov_deg=100.0, cx_offset=-0.02, cy_offset=0.01,
                     distortion=(-0.22, 0.04, 0.0005, -0.0003, 0.0)),
        lidar_model("OS1-64", range_noise_std=0.03, dropout=0.08),
        RigConfig(camera_xyz=(0.3, 0.0, 1.2), camera_pitch_deg=4.0, lidar_xyz=(0.15, 0.05, 1.45),
                  lidar_rpy_deg=(-1.0, 1.2, -2.5)),
        "16:9 wide camera at 100 deg (rectified barrel lens), OS1-64"),
    "kitti_like": RigPreset(
        CameraConfig(1242, 376, hfov_deg=81.3, cy_offset=-0.02),
        lidar_model("HDL-64E", range_noise_std=0.02, dropout=0.04),
        RigConfig(camera_xyz=(0.27, 0.0, 1.65), camera_pitch_deg=0.0, lidar_xyz=(0.0, 0.0, 1.73),
                  lidar_rpy_deg=(0.0, 0.0, 0.0)),
        "KITTI-like 3.3:1 camera at 81 deg, 1.65 m, HDL-64E at 1.73 m"),
    "low_robot": RigPreset(
        CameraConfig(640, 360, hfov_deg=87.0, cx_offset=0.015),
        lidar_model("VLP-16", range_noise_std=0.03, dropout=0.1),
        RigConfig(camera_xyz=(0.15, 0.0, 0.3), camera_pitch_deg=-4.0, lidar_xyz=(0.0, 0.0, 0.45),
                  lidar_rpy_deg=(1.5, -1.0, 2.0)),
        "low robot: 16:9 camera at 0.3 m looking slightly up, VLP-16 at 0.45 m"),
    "high_mount": RigPreset(
        CameraConfig(800, 600, hfov_deg=75.0, cy_offset=0.02),
        lidar_model("OS1-128", range_noise_std=0.025, dropout=0.05),
        RigConfig(camera_xyz=(0.1, 0.0, 2.5), camera_pitch_deg=18.0, camera_roll_deg=1.5,
                  lidar_xyz=(0.0, 0.0, 2.7), lidar_rpy_deg=(-1.0, 2.0, -3.0)),
        "high mount: 4:3 camera at 2.5 m pitched 18 deg down, OS1-128 above it"),
    "street720": RigPreset(
        CameraConfig(720, 400, hfov_deg=70.0),
        lidar_model("VLP-16", range_noise_std=0.03, dropout=0.05),
        RigConfig(camera_xyz=(0.3, 0.0, 1.5), camera_pitch_deg=2.0, lidar_xyz=(0.0, 0.0, 1.8),
                  lidar_rpy_deg=(0.5, -0.5, 5.0)),
        "720x400 camera at 70 deg with a 16-beam LiDAR yawed 5 deg"),
}

HELD_OUT_RIGS = ("vga60", "wide100", "kitti_like", "low_robot", "high_mount", "street720")


def preset_config(name: str, scene: str) -> SimConfig:
    """The SimConfig of rig preset ``name`` in world type ``scene`` (the world's speed and depth
    range; the mount capped below its ceiling)."""
    if name not in RIG_PRESETS:
        raise ValueError(f"unknown rig preset '{name}' (known: {', '.join(RIG_PRESETS)})")
    if scene not in SCENES:
        raise ValueError(f"scene must be one of {', '.join(SCENES)}; got '{scene}'")
    preset = RIG_PRESETS[name]
    ceiling = SCENE_INFO[scene].max_mount_height
    top = max(preset.mount.camera_xyz[2], preset.mount.lidar_xyz[2])
    if top > ceiling:
        raise ValueError(f"rig preset '{name}' mounts sensors at {top:.2f} m, above what '{scene}' allows "
                         f"({ceiling:.2f} m under its ceiling)")
    return replace(default_config(scene), camera=preset.camera, lidar=preset.lidar, rig=preset.mount,
                   rig_name=name)


def rig_distribution(spec) -> RigDistribution:
    """A RigDistribution from a config value: ``"random"``, True, or a dict of overrides."""
    if spec in ("random", True, None):
        return RigDistribution()
    if isinstance(spec, dict):
        return RigDistribution.from_dict(spec)
    raise ValueError(f"rigs: expected 'random' or a dict of distribution overrides, got {spec!r}")
