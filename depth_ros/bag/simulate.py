"""``depth-ros-sim``: render a simulated drive into a rosbag2 (MCAP) as a robot would record it.

Topics (stamps from the simulated clock, 10 Hz by default):

- ``/camera/image_raw``   sensor_msgs/Image rgb8, frame ``camera_optical_frame``
- ``/camera/camera_info`` sensor_msgs/CameraInfo (no distortion)
- ``/camera/depth_gt``    sensor_msgs/Image 32FC1 metres, NaN = no surface
- ``/lidar/points``       sensor_msgs/PointCloud2 x, y, z, intensity (float32), ring (uint16), frame ``lidar_link``
- ``/tf_static``          base_link -> camera_link -> camera_optical_frame, base_link -> lidar_link
- ``/tf``                 odom -> base_link, the ground-truth motion
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from depth_core.data.simulated import SimulationRequest
from depth_core.geometry import make_transform, rotation_from_euler
from depth_core.sim import FRAME_IDS, SCENES, Simulator
from depth_core.sim.rigs import RIG_PRESETS
from depth_core.utils import ArgumentParser, atomic_output_dir, positive_int
from depth_core.utils.files import OutputError

from ..conversions import (
    camera_info_to_msg,
    depth_to_msg,
    image_to_msg,
    make_header,
    pointcloud_to_msg,
    transform_to_msg,
)
from .reader import bag_topics
from .writer import BagWriter

__all__ = ["TOPICS", "main", "write_sim_bag"]

TOPICS = {"image": "/camera/image_raw", "camera_info": "/camera/camera_info", "depth_gt": "/camera/depth_gt",
          "lidar": "/lidar/points", "tf_static": "/tf_static", "tf": "/tf"}


def write_sim_bag(out: str | Path, scene: str, frames: int, *, seed: int = 0, width: int | None = None,
                  height: int | None = None, rig: str = "scene", appearance: bool = False, storage: str = "mcap",
                  overwrite: bool = False, progress: bool = True, moving_objects: int = 0,
                  sweep_motion: bool = False, speed: float | None = None,
                  odometry_drift: tuple[float, float] = (0.0, 0.0), lidar_lag: float = 0.0) -> Path:
    """Render ``frames`` frames of ``scene`` into a new bag folder ``out``; returns its path.
    ``rig``: the world's fixed rig (``scene``), a ``random`` one drawn from ``seed``, or a preset.
    ``moving_objects``: cars and people moving along the path; ``sweep_motion``: the LiDAR sweep
    taken over the frame period (its clouds get a per-point ``time`` field, seconds from the
    stamp, as Velodyne drivers write it); ``speed``: the robot's, m/s (default: the world's);
    ``odometry_drift``: (m/s, deg/s) of drift in the ``/tf`` odometry, as a LiDAR odometry has (a
    constant rate in a direction drawn from the seed); the sensors still see the true motion.
    ``lidar_lag``: s by which each LiDAR capture precedes its image (unsynchronised sensors; the
    cloud carries its own stamp, and ``/tf`` has the odometry at it too)."""
    request = SimulationRequest((scene,), frames, seed, frames, width, height, rig, appearance)
    config = replace(request.plan()[0]["config"], moving_objects=moving_objects, sweep_motion=sweep_motion,
                     lidar_lag_s=lidar_lag)
    if speed is not None:
        config = replace(config, speed=speed)
    sim = Simulator(config, seed=seed, frames=frames)
    out = Path(out)
    with atomic_output_dir(out, overwrite=overwrite) as staging:
        with BagWriter(staging, storage=storage) as bag:
            _write_frames(bag, sim, progress, odometry_drift)
    return out


def _drift(sim: Simulator, t_s: float, rate: tuple[float, float]) -> np.ndarray:
    """The odometry's error after ``t_s`` seconds: ``rate`` (m/s, deg/s) in a direction drawn from the seed."""
    if not any(rate):
        return np.eye(4)
    rng = np.random.default_rng([sim.seed, 4])
    heading = rng.uniform(0, 2 * np.pi)
    yaw_sign = rng.choice([-1.0, 1.0])
    shift = rate[0] * t_s * np.array([np.cos(heading), np.sin(heading), 0.0])
    return make_transform(rotation_from_euler(0.0, 0.0, yaw_sign * np.radians(rate[1]) * t_s), shift)


def _write_frames(bag: BagWriter, sim: Simulator, progress: bool, drift: tuple[float, float] = (0.0, 0.0)) -> None:
    types = bag.types
    cam_frame, lidar_frame = FRAME_IDS["camera"], FRAME_IDS["lidar"]
    t0 = sim.stamp_ns(0)
    static = [transform_to_msg(types, parent, child, T, t0) for parent, child, T in sim.rig.static_transforms()]
    bag.write(TOPICS["tf_static"], types.TFMessage(transforms=static), t0)
    bar = tqdm(sim, total=len(sim), desc=f"simulating {sim.config.scene}", unit="frame",
               disable=None if progress else True)
    def odometry(stamp: int, T_world_base: np.ndarray) -> None:
        bag.write(TOPICS["tf"], types.TFMessage(transforms=[
            transform_to_msg(types, "odom", FRAME_IDS["base"],
                             _drift(sim, (stamp - t0) * 1e-9, drift) @ T_world_base, stamp)]), stamp)

    for frame in bar:
        stamp, lidar_stamp = frame.stamp_ns, frame.cloud_stamp_ns
        cam_header = make_header(types, stamp, cam_frame)
        if lidar_stamp != stamp:   # an unsynchronised LiDAR: its cloud (and the odometry then) come first
            odometry(lidar_stamp, sim.moving.pose(lidar_stamp))
        cloud = {"x": frame.lidar_points[:, 0], "y": frame.lidar_points[:, 1], "z": frame.lidar_points[:, 2],
                 "intensity": frame.lidar_intensity, "ring": frame.lidar_ring}
        if frame.lidar_times is not None:
            cloud["time"] = ((frame.lidar_times - lidar_stamp) * 1e-9).astype(np.float32)
        cloud_msg = pointcloud_to_msg(types, make_header(types, lidar_stamp, lidar_frame), cloud, is_dense=True)
        if lidar_stamp != stamp:
            bag.write(TOPICS["lidar"], cloud_msg, lidar_stamp)
        odometry(stamp, frame.T_world_base)
        bag.write(TOPICS["image"], image_to_msg(types, frame.rgb, "rgb8", cam_header), stamp)
        bag.write(TOPICS["camera_info"], camera_info_to_msg(types, sim.intrinsics, cam_header), stamp)
        bag.write(TOPICS["depth_gt"], depth_to_msg(types, frame.depth, cam_header), stamp)
        if lidar_stamp == stamp:
            bag.write(TOPICS["lidar"], cloud_msg, stamp)


def _size(path: Path) -> str:
    total = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return f"{total / 2**20:.1f} MiB"


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="depth-ros-sim", description=__doc__.split("\n\n")[0].split(": ", 1)[1],
                            epilog="Topics: " + ", ".join(TOPICS.values()))
    parser.add_argument("--out", required=True, help="bag folder to create (must not exist unless --overwrite)")
    parser.add_argument("--frames", type=positive_int, required=True, help="number of camera frames")
    parser.add_argument("--scene", choices=SCENES, default="street", help="scene family (default street)")
    parser.add_argument("--seed", type=int, default=0, help="world seed; the bag is a pure function of it")
    parser.add_argument("--rig", default="scene", choices=("scene", "random", *RIG_PRESETS),
                        help="the world's fixed rig (default), a random one drawn from --seed, or a preset")
    parser.add_argument("--appearance", default="plain", choices=("plain", "random"),
                        help="random: a sky, sun with shadows and camera effects drawn from --seed")
    parser.add_argument("--width", type=positive_int, help="camera width (default: per scene)")
    parser.add_argument("--height", type=positive_int, help="camera height (default: per scene)")
    parser.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap", help="rosbag2 storage (default mcap)")
    parser.add_argument("--moving-objects", type=int, default=0, metavar="N",
                        help="N cars and people moving along the robot's path (default none)")
    parser.add_argument("--sweep-motion", action="store_true",
                        help="the LiDAR sweeps over the frame period while everything moves (a per-point time field)")
    parser.add_argument("--speed", type=float, help="the robot's speed, m/s (default: the world's)")
    parser.add_argument("--odometry-drift", type=float, nargs=2, default=(0.0, 0.0), metavar=("M_PER_S", "DEG_PER_S"),
                        help="drift of the /tf odometry, as a LiDAR odometry has (e.g. 0.03 0.3)")
    parser.add_argument("--lidar-lag", type=float, default=0.0, metavar="S",
                        help="each LiDAR capture precedes its image by S seconds, stamped at its own time "
                             "(unsynchronised sensors; default 0)")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    t0 = time.perf_counter()
    try:
        out = write_sim_bag(args.out, args.scene, args.frames, seed=args.seed, width=args.width,
                            height=args.height, rig=args.rig, appearance=args.appearance == "random",
                            storage=args.storage, overwrite=args.overwrite, progress=not args.quiet,
                            moving_objects=args.moving_objects, sweep_motion=args.sweep_motion, speed=args.speed,
                            odometry_drift=tuple(args.odometry_drift), lidar_lag=args.lidar_lag)
    except OutputError as exc:
        print(f"depth-ros-sim: error: --out: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"depth-ros-sim: error: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - t0
    print(f"wrote {out} ({args.storage}, {_size(out)}): {args.frames} frames of '{args.scene}' "
          f"(seed {args.seed}, rig {args.rig}, {args.appearance} look) in {elapsed:.1f} s")
    for topic, info in sorted(bag_topics(out).items()):
        print(f"  {topic:22s} {info.msgtype:28s} {info.count:6d} msgs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
