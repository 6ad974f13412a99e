"""The simulated training set on disk (``depth-core simulate``) and its reader.

Layout::

    OUT/dataset.json                 format, version, seed, scenes, sequences, sample count
    OUT/<scene>_<NNNN>/calib.json    intrinsics (K, size), T_cam_lidar and lidar_extrinsic, LiDAR model
    OUT/<scene>_<NNNN>/poses.json    per frame: stamp (ns) and T_world_base
    OUT/<scene>_<NNNN>/image/000000.png   RGB
    OUT/<scene>_<NNNN>/depth/000000.png   dense ground truth, KITTI 16-bit PNG (value/256 m, 0 = invalid)
    OUT/<scene>_<NNNN>/sparse/000000.png  LiDAR projected into the camera, same encoding

Each sequence is one generated world; ``dataset.json`` is written last and the whole folder is
renamed into place only when complete.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..geometry import project_lidar, transform_to_xyzquat
from ..sim import SCENES, Simulator, default_config
from ..utils import atomic_output_dir
from .io import DataFileError, read_depth_png, read_rgb, write_depth_png, write_rgb_png

__all__ = ["FORMAT", "SimulatedDataset", "sequence_seed", "write_simulated_dataset"]

FORMAT = "depth_ros-simulated"
VERSION = 1


def sequence_seed(seed: int, scene: str, sequence: int) -> int:
    """The world seed of one sequence: independent streams per (seed, scene, sequence)."""
    return int(np.random.SeedSequence([seed, SCENES.index(scene), sequence]).generate_state(1)[0])


def write_simulated_dataset(out: str | Path, scenes: Sequence[str], frames: int, *, seed: int = 0,
                            sequence_length: int = 50, width: int | None = None, height: int | None = None,
                            overwrite: bool = False, progress: bool = True) -> dict:
    """Render ``frames`` frames of each scene into ``out`` and return the ``dataset.json`` summary."""
    for scene in scenes:
        if scene not in SCENES:
            raise ValueError(f"scene must be one of {', '.join(SCENES)}; got '{scene}'")
    if frames < 1 or sequence_length < 1:
        raise ValueError(f"frames and sequence_length must be >= 1, got {frames} and {sequence_length}")
    total = frames * len(scenes)
    sequences = []
    with atomic_output_dir(out, overwrite=overwrite) as staging:
        staging.mkdir()
        bar = tqdm(total=total, desc="simulating", unit="frame", disable=None if progress else True)
        for scene in scenes:
            for s in range(math.ceil(frames / sequence_length)):
                n = min(sequence_length, frames - s * sequence_length)
                name = f"{scene}_{s:04d}"
                _write_sequence(staging / name, scene, sequence_seed(seed, scene, s), n, width, height, bar)
                sequences.append({"name": name, "scene": scene, "frames": n})
        bar.close()
        summary = {"format": FORMAT, "version": VERSION, "seed": seed, "scenes": list(scenes),
                   "frames_per_scene": frames, "samples": total, "sequences": sequences}
        (staging / "dataset.json").write_text(json.dumps(summary, indent=2))
    return summary


def _write_sequence(folder: Path, scene: str, seed: int, frames: int, width, height, bar) -> None:
    sim = Simulator(default_config(scene, width=width, height=height), seed=seed, frames=frames)
    K, cam, rig = sim.intrinsics.K, sim.intrinsics, sim.rig
    for sub in ("image", "depth", "sparse"):
        (folder / sub).mkdir(parents=True)
    calib = {
        "scene": scene, "seed": seed,
        "camera": cam.to_dict(), "K": K.tolist(),
        "T_cam_lidar": rig.T_cam_lidar.tolist(),
        "lidar_extrinsic": transform_to_xyzquat(rig.T_cam_lidar).tolist(),
        "lidar": sim.config.to_dict()["lidar"],
        "rate_hz": sim.config.rate_hz,
    }
    (folder / "calib.json").write_text(json.dumps(calib, indent=2))
    poses = []
    for frame in sim:
        stem = f"{frame.index:06d}.png"
        write_rgb_png(folder / "image" / stem, frame.rgb)
        write_depth_png(folder / "depth" / stem, frame.depth)
        sparse = project_lidar(frame.lidar_points, rig.T_cam_lidar, K, cam.height, cam.width)
        write_depth_png(folder / "sparse" / stem, sparse)
        poses.append({"stamp_ns": frame.stamp_ns, "T_world_base": frame.T_world_base.tolist()})
        bar.update()
    (folder / "poses.json").write_text(json.dumps(poses))


class SimulatedDataset:
    """Reads a folder written by :func:`write_simulated_dataset`.

    ``dataset[i]`` is a dict with ``rgb`` [H,W,3] uint8, ``depth`` and ``sparse_depth`` [H,W]
    float32 metres (0 = invalid / no LiDAR point), ``K`` [3,3], ``T_cam_lidar`` [4,4],
    ``T_world_base`` [4,4], ``scene``, ``sequence`` and ``index``.
    """

    def __init__(self, root: str | Path, scenes: Sequence[str] | None = None) -> None:
        self.root = Path(root)
        meta_path = self.root / "dataset.json"
        try:
            meta = json.loads(meta_path.read_text())
        except FileNotFoundError:
            raise DataFileError(f"{meta_path}: not found; is {self.root} a simulated data set "
                                "(written by `depth-core simulate`)?") from None
        except json.JSONDecodeError as exc:
            raise DataFileError(f"{meta_path}: not valid JSON ({exc})") from None
        if meta.get("format") != FORMAT:
            raise DataFileError(f"{meta_path}: format is {meta.get('format')!r}, expected {FORMAT!r}")
        self.meta = meta
        self._calib: dict[str, dict] = {}
        self._poses: dict[str, list] = {}
        self.samples: list[tuple[str, int]] = []
        for seq in meta["sequences"]:
            if scenes is None or seq["scene"] in scenes:
                self.samples += [(seq["name"], i) for i in range(seq["frames"])]

    def __len__(self) -> int:
        return len(self.samples)

    def calib(self, sequence: str) -> dict:
        if sequence not in self._calib:
            path = self.root / sequence / "calib.json"
            try:
                self._calib[sequence] = json.loads(path.read_text())
                self._poses[sequence] = json.loads((self.root / sequence / "poses.json").read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise DataFileError(f"{path.parent}: unreadable calibration or poses ({exc})") from None
        return self._calib[sequence]

    def __getitem__(self, i: int) -> dict:
        sequence, index = self.samples[i]
        calib = self.calib(sequence)
        stem = f"{index:06d}.png"
        folder = self.root / sequence
        return {
            "rgb": read_rgb(folder / "image" / stem),
            "depth": read_depth_png(folder / "depth" / stem),
            "sparse_depth": read_depth_png(folder / "sparse" / stem),
            "K": np.array(calib["K"]),
            "T_cam_lidar": np.array(calib["T_cam_lidar"]),
            "T_world_base": np.array(self._poses[sequence][index]["T_world_base"]),
            "scene": calib["scene"],
            "sequence": sequence,
            "index": index,
        }
