"""Frame sets on disk: what ``depth-core simulate`` and ``depth-ros-dataset`` (from a bag) write,
and what training reads.

Layout::

    ROOT/dataset.json                  format, version, source, ground_truth (rendered | depth_image |
                                       lidar | lidar_accumulated | none), sequences [{name, label, frames}]
    ROOT/<seq>/calib.json              K and image size, T_cam_lidar and lidar_extrinsic, LiDAR model,
                                       T_base_cam (the camera's mounting, when the bag's /tf_static had it)
    ROOT/<seq>/poses.json              per frame: stamp (ns) and T_world_base (null when unknown)
    ROOT/<seq>/image/000000.png        RGB
    ROOT/<seq>/depth/000000.png        ground truth, KITTI 16-bit PNG (value/256 m, 0 = invalid)
    ROOT/<seq>/sparse/000000.png       LiDAR projected into the camera, same encoding
    ROOT/<seq>/ring/000000.png         8-bit: LiDAR ring + 1 of each sparse pixel, 0 = none

A video frame set (``ground_truth: none``: a camera and its odometry, no LiDAR or depth topic) has
no ``depth/`` or ``sparse/`` maps; they read as zeros. Its frames' camera poses
(``T_world_base @ T_base_cam``) are what self-supervised training learns from
(:mod:`depth_core.data.video`).

``dataset.json`` is written last. Writers work in a staging folder renamed into place only when
complete (:func:`depth_core.utils.atomic_output_dir`); the simulator renames each sequence into
place when it is complete, so that an interrupted generation resumes (see
:mod:`depth_core.data.simulated`). Simulated sequences' ``calib.json`` also records the ``rig``.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from ..geometry import CameraIntrinsics, project_lidar, ring_image, transform_to_xyzquat
from .io import DataFileError, read_depth_png, read_rgb, write_depth_png, write_rgb_png

__all__ = ["FORMAT", "FrameDataset", "FrameSetWriter", "SequenceWriter", "frame_set_summary", "project_with_rings"]

FORMAT = "depth_ros-frames"
VERSION = 1
SUPPORTED_VERSIONS = (1,)


def project_with_rings(points: np.ndarray, ring: np.ndarray | None, T_cam_lidar: np.ndarray,
                       cam: CameraIntrinsics) -> tuple[np.ndarray, np.ndarray | None]:
    """Sparse depth [H,W] and, when rings are known, the ring map [H,W] uint8 (ring + 1, 0 = none)."""
    depth, index = project_lidar(points, T_cam_lidar, cam.K, cam.height, cam.width, return_index=True)
    rings = ring_image(index, ring)
    if rings is None:
        return depth, None
    # On disk: ring + 1 in 8 bits, so that the PNG's 0 means no point.
    return depth, np.minimum(rings.astype(np.int64) + 1, 255).astype(np.uint8)


class SequenceWriter:
    """Writes the frames of one sequence; call :meth:`close` (or use ``with``) to write poses."""

    def __init__(self, folder: Path, cam: CameraIntrinsics, T_cam_lidar: np.ndarray | None,
                 label: str, extra_calib: dict | None = None) -> None:
        self.folder = folder
        for sub in ("image", "depth", "sparse", "ring"):
            (folder / sub).mkdir(parents=True)
        self.video_only = False
        calib = {"label": label, "camera": cam.to_dict(), "K": cam.K.tolist(), **(extra_calib or {})}
        if T_cam_lidar is not None:
            calib["T_cam_lidar"] = np.asarray(T_cam_lidar).tolist()
            calib["lidar_extrinsic"] = transform_to_xyzquat(T_cam_lidar).tolist()
        (folder / "calib.json").write_text(json.dumps(calib, indent=2))
        self.poses: list[dict] = []

    def add(self, rgb: np.ndarray, depth: np.ndarray | None, sparse: np.ndarray | None,
            ring_map: np.ndarray | None = None, stamp_ns: int = 0, T_world_base: np.ndarray | None = None) -> None:
        """One frame; ``depth`` and ``sparse`` None for a video frame set (camera and odometry only)."""
        stem = f"{len(self.poses):06d}.png"
        write_rgb_png(self.folder / "image" / stem, rgb)
        if depth is not None:
            write_depth_png(self.folder / "depth" / stem, depth)
        if sparse is not None:
            write_depth_png(self.folder / "sparse" / stem, sparse)
        if ring_map is not None and not cv2.imwrite(str(self.folder / "ring" / stem), ring_map):
            raise DataFileError(f"{self.folder / 'ring' / stem}: could not write PNG")
        self.poses.append({"stamp_ns": int(stamp_ns),
                           "T_world_base": None if T_world_base is None else np.asarray(T_world_base).tolist()})

    def close(self) -> int:
        (self.folder / "poses.json").write_text(json.dumps(self.poses))
        return len(self.poses)

    def __enter__(self) -> SequenceWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FrameSetWriter:
    """Creates sequences in ``root`` and finally ``dataset.json``."""

    def __init__(self, root: Path, source: str) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.source = source
        self.sequences: list[dict] = []

    def sequence(self, name: str, cam: CameraIntrinsics, T_cam_lidar: np.ndarray | None, label: str,
                 extra_calib: dict | None = None) -> SequenceWriter:
        writer = SequenceWriter(self.root / name, cam, T_cam_lidar, label, extra_calib)
        self.sequences.append({"name": name, "label": label, "writer": writer})
        return writer

    def finish(self, **meta) -> dict:
        sequences = [{"name": s["name"], "label": s["label"], "frames": len(s["writer"].poses)}
                     for s in self.sequences]
        summary = frame_set_summary(self.source, sequences, **meta)
        (self.root / "dataset.json").write_text(json.dumps(summary, indent=2))
        return summary


def frame_set_summary(source: str, sequences: list[dict], **meta) -> dict:
    """The ``dataset.json`` content of a frame set with ``sequences`` ([{name, label, frames}])."""
    return {"format": FORMAT, "version": VERSION, "source": source,
            "samples": sum(s["frames"] for s in sequences), **meta, "sequences": sequences}


class FrameDataset:
    """Reads a frame set. ``dataset[i]`` is a dict: ``rgb`` [H,W,3] uint8, ``depth`` and
    ``sparse_depth`` [H,W] float32 metres (0 = invalid / no point), ``ring`` [H,W] int16 (ring of
    each sparse pixel, -1 = none; None when the set has no rings), ``K`` [3,3], ``T_cam_lidar``
    [4,4] or None, ``T_world_base`` [4,4] or None, ``lidar`` (the LiDAR model: beams, fov_up_deg,
    fov_down_deg, max_range..., or None), ``rig`` (simulated sets: the camera, LiDAR, mounting
    and look of the sequence, or None), ``label``, ``sequence``, ``index``, ``id``.
    ``labels`` keeps only sequences with those labels (scene families). ``summary`` stands in for
    ``dataset.json`` (the completed sequences of a simulation still being generated)."""

    def __init__(self, root: str | Path, labels=None, *, summary: dict | None = None) -> None:
        self.root = Path(root)
        meta_path = self.root / "dataset.json"
        try:
            meta = summary if summary is not None else json.loads(meta_path.read_text())
        except FileNotFoundError:
            raise DataFileError(f"{meta_path}: not found; is {self.root} a frame set "
                                "(written by `depth-core simulate` or `depth-ros-dataset`)?") from None
        except json.JSONDecodeError as exc:
            raise DataFileError(f"{meta_path}: not valid JSON ({exc})") from None
        if meta.get("format") != FORMAT:
            raise DataFileError(f"{meta_path}: format is {meta.get('format')!r}, expected {FORMAT!r}")
        version = meta.get("version")
        if version not in SUPPORTED_VERSIONS:
            age = "an older" if not isinstance(version, int) or version < VERSION else "a newer"
            raise DataFileError(f"{meta_path}: frame set version {version!r} was written by {age} depth_ros; "
                                f"this one reads version {', '.join(map(str, SUPPORTED_VERSIONS))}: write it again "
                                "(depth-ros-dataset or depth-core simulate)")
        if not isinstance(meta.get("sequences"), list):
            raise DataFileError(f"{meta_path}: no 'sequences' list")
        self.meta = meta
        #: What the depth maps are: rendered | depth_image | lidar | lidar_accumulated (None: not recorded)
        self.ground_truth: str | None = meta.get("ground_truth")
        self._calib: dict[str, dict] = {}
        self._poses: dict[str, list] = {}
        self.samples = [(s["name"], i) for s in meta["sequences"] if labels is None or s["label"] in labels
                        for i in range(s["frames"])]
        if not self.samples:
            raise DataFileError(f"{self.root}: no frames" + (f" with labels {list(labels)}" if labels else ""))

    def __len__(self) -> int:
        return len(self.samples)

    def sequence_names(self) -> list[str]:
        """The sequence of each sample (frames are in time order within a sequence)."""
        return [sequence for sequence, _ in self.samples]

    def _depth(self, path: Path, rgb: np.ndarray) -> np.ndarray:
        """A depth map; a video frame set (no LiDAR, no depth topic) has none: zeros."""
        if self.ground_truth == "none" and not path.is_file():
            return np.zeros(rgb.shape[:2], np.float32)
        return read_depth_png(path)

    def camera_poses(self) -> list[tuple[float | None, np.ndarray | None, str]]:
        """Per sample ``(stamp_s, T_world_cam, id)``: the odometry pose of the base times the
        camera's mounting (``T_base_cam`` in calib.json); None where either is unknown."""
        out = []
        for sequence, index in self.samples:
            calib, poses = self._sequence(sequence)
            mount = calib.get("T_base_cam")
            if mount is None and any(p.get("T_world_base") is not None for p in poses):
                raise DataFileError(f"{self.root / sequence / 'calib.json'}: no T_base_cam (the camera's mounting on "
                                    "the robot), so its odometry poses do not give camera poses: write the frame set "
                                    "again with depth-ros-dataset from a bag whose /tf_static links the base frame to "
                                    "the camera")
            entry = poses[index] if index < len(poses) else {}
            pose = entry.get("T_world_base")
            stamp = entry.get("stamp_ns")
            T = None if pose is None or mount is None else np.asarray(pose, float) @ np.asarray(mount, float)
            out.append((None if not stamp else stamp * 1e-9, T, f"{sequence}/{index:06d}"))
        return out

    def _sequence(self, sequence: str) -> tuple[dict, list]:
        if sequence not in self._calib:
            folder = self.root / sequence
            try:
                self._calib[sequence] = json.loads((folder / "calib.json").read_text())
                self._poses[sequence] = json.loads((folder / "poses.json").read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise DataFileError(f"{folder}: unreadable calib.json or poses.json ({exc})") from None
        return self._calib[sequence], self._poses[sequence]

    def __getitem__(self, i: int) -> dict:
        sequence, index = self.samples[i]
        calib, poses = self._sequence(sequence)
        stem = f"{index:06d}.png"
        folder = self.root / sequence
        ring = None
        ring_path = folder / "ring" / stem
        if ring_path.is_file():
            raw = cv2.imread(str(ring_path), cv2.IMREAD_UNCHANGED)
            if raw is None or raw.dtype != np.uint8:
                raise DataFileError(f"{ring_path}: expected an 8-bit ring PNG")
            ring = raw.astype(np.int16) - 1
        pose = poses[index]["T_world_base"] if index < len(poses) else None
        rgb = read_rgb(folder / "image" / stem)
        return {
            "rgb": rgb,
            "depth": self._depth(folder / "depth" / stem, rgb),
            "sparse_depth": self._depth(folder / "sparse" / stem, rgb),
            "ring": ring,
            "K": np.array(calib["K"], dtype=np.float64),
            "T_cam_lidar": np.array(calib["T_cam_lidar"]) if "T_cam_lidar" in calib else None,
            "T_world_base": None if pose is None else np.array(pose),
            "lidar": calib.get("lidar"),
            "rig": calib.get("rig"),
            "label": calib.get("label", ""),
            "sequence": sequence,
            "index": index,
            "id": f"{sequence}/{index:06d}",
        }
