"""KITTI raw + depth completion (Uhrig et al.) data, and the Eigen split.

Expected trees (as downloaded and unzipped):

- raw: ``RAW/2011_09_26/calib_cam_to_cam.txt`` and
  ``RAW/2011_09_26/2011_09_26_drive_0001_sync/image_02/data/0000000005.png``
- depth completion (``data_depth_annotated`` and ``data_depth_velodyne``):
  ``DEPTH/{train,val}/2011_09_26_drive_0001_sync/proj_depth/{groundtruth,velodyne_raw}/image_02/0000000005.png``

Split files list one frame per line, either monodepth2 style (``2011_09_26/2011_09_26_drive_0002_sync
69 l``) or BTS style (``2011_09_26/2011_09_26_drive_0002_sync/image_02/data/0000000069.png ...``).
Frames without ground truth are left out of the index (and counted in ``skipped``).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from .io import DataFileError, read_depth_png, read_rgb

__all__ = ["KittiDepthDataset", "parse_split_file", "read_kitti_calibration"]

log = logging.getLogger("depth_core.data")

_SIDES = {"l": "image_02", "r": "image_03", "2": "image_02", "3": "image_03"}


def read_kitti_calibration(path: str | Path) -> dict[str, np.ndarray]:
    """The ``key: numbers`` lines of a KITTI calibration file as arrays."""
    path = Path(path)
    out = {}
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read calibration ({exc.strerror})") from None
    for line in lines:
        key, _, value = line.partition(":")
        try:
            out[key.strip()] = np.array([float(v) for v in value.split()])
        except ValueError:
            continue  # e.g. calib_time
    return out


def parse_split_file(path: str | Path) -> list[tuple[str, int, str]]:
    """``(date/drive, frame, side)`` for each line of a monodepth2- or BTS-style split file."""
    path = Path(path)
    try:
        lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read split file ({exc.strerror})") from None
    entries = []
    for n, parts in enumerate(lines, 1):
        m = re.match(r"(\d{4}_\d\d_\d\d/\d{4}_\d\d_\d\d_drive_\d{4}_sync)/(image_0[23])/data/(\d+)\.png", parts[0])
        if m:
            entries.append((m.group(1), int(m.group(3)), "l" if m.group(2) == "image_02" else "r"))
        elif len(parts) >= 2 and parts[1].isdigit():
            entries.append((parts[0], int(parts[1]), parts[2] if len(parts) > 2 else "l"))
        else:
            raise DataFileError(f"{path}:{n}: cannot parse split line {' '.join(parts)!r}")
    if not entries:
        raise DataFileError(f"{path}: empty split")
    return entries


class KittiDepthDataset:
    """KITTI frames with projected-LiDAR ground truth and ``velodyne_raw`` sparse input."""

    def __init__(self, raw_root: str | Path, depth_root: str | Path, split: str | Path | None = None,
                 velodyne_root: str | Path | None = None) -> None:
        self.raw_root, self.depth_root = Path(raw_root), Path(depth_root)
        self.velodyne_root = Path(velodyne_root) if velodyne_root else self.depth_root
        roots = [("raw_root", self.raw_root), ("depth_root", self.depth_root)]
        if velodyne_root:
            roots.append(("velodyne_root", self.velodyne_root))
        for name, root in roots:
            if not root.is_dir():
                raise DataFileError(f"{root}: KITTI {name} folder not found")
        if split is not None:
            entries = parse_split_file(split)
        else:
            entries = []
            for gt in sorted(self.depth_root.glob("*/*_sync/proj_depth/groundtruth/image_0[23]/*.png")):
                drive = gt.parents[3].name
                entries.append((f"{drive[:10]}/{drive}", int(gt.stem), "l" if gt.parent.name == "image_02" else "r"))
        self.samples, self.skipped = [], 0
        for drive, frame, side in entries:
            gt = self._find(self.depth_root, drive, "groundtruth", side, frame)
            if gt is None:
                self.skipped += 1
            else:
                self.samples.append((drive, frame, side, gt))
        if not self.samples:
            raise DataFileError(f"{self.depth_root}: no KITTI frames with ground truth"
                                + (f" for split {split}" if split else ""))
        # Said up front: a frame without its scan has no completion, and the completion rows
        # would silently average over fewer frames than prediction.
        self.without_lidar = sum(self._find(self.velodyne_root, drive, "velodyne_raw", side, frame) is None
                                 for drive, frame, side, _ in self.samples)
        if self.without_lidar:
            log.warning("%s: %d of %d KITTI frames have no velodyne_raw scan (data_depth_velodyne) there: they "
                        "get no LiDAR input, and completion is scored without them%s", self.velodyne_root,
                        self.without_lidar, len(self.samples),
                        "" if velodyne_root else "; pass its folder as the velodyne root (--velodyne-root)")
        self._K: dict[tuple[str, str], np.ndarray] = {}

    @staticmethod
    def _find(root: Path, drive: str, kind: str, side: str, frame: int) -> Path | None:
        name = drive.split("/")[-1]
        for part in ("train", "val", ""):
            p = root / part / name / "proj_depth" / kind / _SIDES[side] / f"{frame:010d}.png"
            if p.is_file():
                return p
        return None

    def _intrinsics(self, date: str, side: str) -> np.ndarray:
        if (date, side) not in self._K:
            path = self.raw_root / date / "calib_cam_to_cam.txt"
            key = "P_rect_02" if _SIDES[side] == "image_02" else "P_rect_03"
            calib = read_kitti_calibration(path)
            if key not in calib or calib[key].size != 12:
                raise DataFileError(f"{path}: no {key} (3x4 projection matrix)")
            self._K[(date, side)] = calib[key].reshape(3, 4)[:, :3]
        return self._K[(date, side)]

    def __len__(self) -> int:
        return len(self.samples)

    def sequence_names(self) -> list[str]:
        """The drive and camera of each sample: a time hold-out takes the last frames of both
        cameras of a drive, so that no stereo twin of a held-out frame is trained on."""
        return [f"{drive}/{side}" for drive, _, side, _ in self.samples]

    def __getitem__(self, i: int) -> dict:
        drive, frame, side, gt_path = self.samples[i]
        date = drive.split("/")[0]
        rgb = read_rgb(self.raw_root / drive / _SIDES[side] / "data" / f"{frame:010d}.png")
        depth = read_depth_png(gt_path)
        sparse_path = self._find(self.velodyne_root, drive, "velodyne_raw", side, frame)
        sparse = read_depth_png(sparse_path) if sparse_path else np.zeros_like(depth)
        if rgb.shape[:2] != depth.shape:
            raise DataFileError(f"{gt_path}: ground truth is {depth.shape[::-1]} but the image is {rgb.shape[1::-1]}")
        return {"rgb": rgb, "depth": depth, "sparse_depth": sparse, "ring": None, "K": self._intrinsics(date, side),
                "T_cam_lidar": None, "T_world_base": None, "label": "kitti",
                "id": f"{drive}/{_SIDES[side]}/{frame:010d}"}
