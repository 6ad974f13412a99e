"""NYU Depth v2: the labelled ``nyu_depth_v2_labeled.mat`` (MATLAB v7.3 = HDF5, read with h5py)
with the official 795/654 split from ``splits.mat``, and extracted folders as distributed with
BTS/DenseDepth (``rgb_00000.jpg`` + ``sync_depth_00000.png`` in millimetres)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .io import DataFileError, read_rgb

__all__ = ["NYU_K", "NyuFolderDataset", "NyuMatDataset"]

# The Kinect colour camera's intrinsics for the 640x480 NYUv2 images.
NYU_K = np.array([[518.8579, 0.0, 325.5824], [0.0, 519.4696, 253.7362], [0.0, 0.0, 1.0]])


def _sample(rgb: np.ndarray, depth: np.ndarray, sample_id: str) -> dict:
    return {"rgb": rgb, "depth": depth.astype(np.float32), "sparse_depth": np.zeros(depth.shape, np.float32),
            "ring": None, "K": NYU_K.copy(), "T_cam_lidar": None, "T_world_base": None, "label": "nyu",
            "id": sample_id}


class NyuMatDataset:
    """``split`` is ``None`` (all 1449 frames), ``'train'`` or ``'test'`` (needs ``splits``: the
    path of ``splits.mat`` with 1-based ``trainNdxs`` / ``testNdxs``)."""

    def __init__(self, mat_path: str | Path, split: str | None = None, splits: str | Path | None = None) -> None:
        import h5py

        self.path = Path(mat_path)
        try:
            self.file = h5py.File(self.path, "r")
        except (OSError, ValueError) as exc:
            raise DataFileError(f"{self.path}: cannot open as a MATLAB v7.3 (HDF5) file ({exc})") from None
        for key in ("images", "depths"):
            if key not in self.file:
                raise DataFileError(f"{self.path}: no '{key}' dataset (is this nyu_depth_v2_labeled.mat?)")
        n = self.file["images"].shape[0]
        if split is None:
            self.indices = list(range(n))
        else:
            if split not in ("train", "test") or splits is None:
                raise DataFileError(f"{self.path}: split '{split}' needs splits='path/to/splits.mat' and "
                                    "split 'train' or 'test'")
            self.indices = _split_indices(Path(splits), "trainNdxs" if split == "train" else "testNdxs")
        if not self.indices:
            raise DataFileError(f"{self.path}: empty split '{split}'")

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict:
        k = self.indices[i]
        rgb = np.ascontiguousarray(np.transpose(self.file["images"][k], (2, 1, 0)))   # stored [3,W,H]
        depth = np.ascontiguousarray(np.transpose(self.file["depths"][k], (1, 0)))
        return _sample(rgb, depth, f"nyu_labeled/{k:04d}")


def _split_indices(path: Path, key: str) -> list[int]:
    """0-based indices from an NYU ``splits.mat`` (MATLAB v5 via SciPy, or v7.3 via h5py)."""
    try:
        head = path.read_bytes()[:8]
        if head == b"\x89HDF\r\n\x1a\n":
            import h5py

            with h5py.File(path, "r") as f:
                values = np.asarray(f[key])
        else:
            from scipy.io import loadmat

            values = loadmat(path)[key]
    except KeyError:
        raise DataFileError(f"{path}: no '{key}' in the splits file") from None
    except Exception as exc:
        raise DataFileError(f"{path}: cannot read the splits file ({exc})") from None
    return [int(i) - 1 for i in np.asarray(values).ravel()]


class NyuFolderDataset:
    """Every ``rgb_*.jpg`` below ``root`` with its ``sync_depth_*.png`` (uint16 millimetres)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataFileError(f"{self.root}: NYU folder not found")
        self.samples = []
        for rgb in sorted(self.root.rglob("rgb_*.jpg")):
            depth = rgb.with_name(rgb.name.replace("rgb_", "sync_depth_").replace(".jpg", ".png"))
            if depth.is_file():
                self.samples.append((rgb, depth))
        if not self.samples:
            raise DataFileError(f"{self.root}: no rgb_*.jpg with a matching sync_depth_*.png")

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict:
        rgb_path, depth_path = self.samples[i]
        raw = cv2.imread(str(depth_path), cv2.IMREAD_UNCHANGED)
        if raw is None or raw.dtype != np.uint16:
            raise DataFileError(f"{depth_path}: expected a 16-bit depth PNG in millimetres")
        return _sample(read_rgb(rgb_path), raw.astype(np.float32) / 1000.0,
                       str(rgb_path.relative_to(self.root).with_suffix("")))
