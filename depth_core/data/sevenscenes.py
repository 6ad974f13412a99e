"""Microsoft 7-Scenes (and 3DMatch-style RGB-D sequences in the same layout) with LiDAR-like
sparse inputs sampled from the depth.

Layout (one sequence per folder; ``root`` may be that folder or hold several, e.g. ``seq-01``,
``seq-02`` or ``chess/seq-01``)::

    SEQ/frame-000000.color.jpg|png   colour, 640x480
    SEQ/frame-000000.depth.png       16-bit millimetres; 0 and 65535 = invalid
    SEQ/frame-000000.pose.txt        4x4 camera-to-world (optional; non-finite = unknown)
    camera-intrinsics.txt            3x3 K, in SEQ or a folder above it up to ``root``
                                     (the original 7-Scenes release has none: pass ``K``)

The data are non-commercial (Microsoft Research licence): keep them out of the repository (the
``data/`` folder is git-ignored). See docs/datasets.md, and :func:`export_from_git` for the
redkitchen sequence kept in the tsdf-fusion-python git repository.

The depth is the Kinect depth camera's raw image, not registered to the colour camera (different
focal length and a ~3 cm baseline): see :class:`DepthToColor`, off by default.
"""

from __future__ import annotations

import re
import struct
import subprocess
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..geometry import validate_intrinsic_matrix
from .io import DataFileError, read_rgb
from .sparse_patterns import T_CAM_LIDAR_AT_CAMERA, camera_vertical_fov_deg, lidar_pattern_sparse, random_points_sparse

__all__ = ["REDKITCHEN_DEPTH_TO_COLOR", "DepthToColor", "SevenScenesDataset", "depth_edge_points",
           "export_from_git", "measure_depth_alignment", "parse_sparse_pattern"]

INTRINSICS_FILE = "camera-intrinsics.txt"
_FRAME = re.compile(r"^frame-(\d+)\.depth\.png$")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: The largest depth a millimetre PNG can hold; also what the ``lidar`` model reports as range.
MAX_DEPTH_M = 65.534


def parse_sparse_pattern(spec: str) -> tuple[str, int]:
    """``"beams32"`` -> ``("beams", 32)``, ``"random500"`` -> ``("random", 500)``,
    ``"none"`` -> ``("none", 0)``."""
    if spec == "none":
        return "none", 0
    m = re.fullmatch(r"(beams|random)(\d+)", str(spec))
    if not m or int(m.group(2)) < 1:
        raise ValueError(f"sparse pattern must be 'beams<N>' (e.g. beams32), 'random<N>' (e.g. random500) or "
                         f"'none'; got {spec!r}")
    return m.group(1), int(m.group(2))


FRAME_RATE_HZ = 30.0   # 7-Scenes' Kinect


@dataclass(frozen=True)
class DepthToColor:
    """Where a depth pixel lands in the colour image: the depth camera (intrinsics ``K``, the
    7-Scenes file's 585/320/240) and the colour camera share orientation; the colour camera's
    focal lengths are ``scale`` times the depth camera's, its principal point is ``shift_px``
    away, and it sits ``baseline_m`` (x, y) from the depth camera. A depth pixel (u, v, Z) maps to
    ``u' = cx + shift_x + scale_x * (u - cx + fx * baseline_x / Z)`` (and likewise v').

    :meth:`apply` re-renders the depth map in the colour camera (nearest surface wins, pixels no
    depth pixel lands on are invalid) and :meth:`color_K` gives that camera's intrinsics."""

    scale: tuple[float, float] = (1.0, 1.0)
    shift_px: tuple[float, float] = (0.0, 0.0)
    baseline_m: tuple[float, float] = (0.0, 0.0)

    def color_K(self, K) -> np.ndarray:
        K = np.array(K, dtype=np.float64)
        out = K.copy()
        out[0, 0], out[1, 1] = K[0, 0] * self.scale[0], K[1, 1] * self.scale[1]
        out[0, 2], out[1, 2] = K[0, 2] + self.shift_px[0], K[1, 2] + self.shift_px[1]
        return out

    def project(self, u, v, z, K) -> tuple[np.ndarray, np.ndarray]:
        """Continuous colour-image coordinates of depth pixels ``(u, v)`` at depth ``z`` metres."""
        fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
        uc = cx + self.shift_px[0] + self.scale[0] * (u - cx + fx * self.baseline_m[0] / z)
        vc = cy + self.shift_px[1] + self.scale[1] * (v - cy + fy * self.baseline_m[1] / z)
        return uc, vc

    def apply(self, depth: np.ndarray, K) -> np.ndarray:
        """``depth`` [H,W] metres (0 = invalid) of the depth camera, re-rendered in the colour camera."""
        K = np.asarray(K, dtype=np.float64)
        h, w = depth.shape
        v, u = np.nonzero(depth > 0)
        z = depth[v, u].astype(np.float64)
        uc, vc = self.project(u.astype(np.float64), v.astype(np.float64), z, K)
        ui, vi = np.rint(uc).astype(np.int64), np.rint(vc).astype(np.int64)
        inside = (ui >= 0) & (ui < w) & (vi >= 0) & (vi < h)
        out = np.full(h * w, np.inf, np.float32)
        np.minimum.at(out, vi[inside] * w + ui[inside], depth[v, u][inside])   # nearest surface wins
        out[np.isinf(out)] = 0
        return out.reshape(h, w)


#: Measured on redkitchen (every 10th of its 1000 frames; docs/datasets.md,
#: :func:`measure_depth_alignment`): colour focal lengths ~525 / 529 px against the depth
#: camera's 585, principal point (323, 239), the colour camera 3.3 cm to the depth camera's left.
REDKITCHEN_DEPTH_TO_COLOR = DepthToColor(scale=(0.8975, 0.905), shift_px=(2.9, -1.2), baseline_m=(-0.033, 0.0))


def _png_header(path: Path) -> tuple[int, int, int, int]:
    """Width, height, bit depth and colour type from a PNG's IHDR, or DataFileError."""
    try:
        with open(path, "rb") as f:
            head = f.read(33)
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(head) < 33 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise DataFileError(f"{path}: not a PNG file (corrupt or truncated depth image)")
    width, height, bits, colour = struct.unpack(">IIBB", head[16:26])
    return width, height, bits, colour


def _read_K(path: Path) -> np.ndarray:
    try:
        values = np.array(path.read_text().split(), dtype=np.float64)
    except (OSError, ValueError) as exc:
        raise DataFileError(f"{path}: cannot read a 3x3 intrinsic matrix ({exc})") from None
    if values.size != 9:
        raise DataFileError(f"{path}: expected 9 numbers (a 3x3 intrinsic matrix), got {values.size}")
    try:
        return validate_intrinsic_matrix(values.reshape(3, 3), str(path))
    except ValueError as exc:
        raise DataFileError(str(exc)) from None


def _read_pose(path: Path) -> np.ndarray | None:
    try:
        values = np.array(path.read_text().split(), dtype=np.float64)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise DataFileError(f"{path}: cannot read a 4x4 pose ({exc})") from None
    if values.size != 16:
        raise DataFileError(f"{path}: expected 16 numbers (a 4x4 camera-to-world pose), got {values.size}")
    if not np.all(np.isfinite(values)):
        return None  # 7-Scenes / 3DMatch mark frames without tracking this way
    return values.reshape(4, 4)


def read_depth_mm_png(path: str | Path) -> np.ndarray:
    """A 7-Scenes depth PNG (uint16 millimetres, 0 and 65535 invalid) as float32 metres, 0 = invalid."""
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise DataFileError(f"{path}: missing or not a readable PNG")
    if raw.dtype != np.uint16 or raw.ndim != 2:
        raise DataFileError(f"{path}: expected a single-channel 16-bit depth PNG in millimetres, "
                            f"got {raw.dtype} with shape {raw.shape}")
    return np.where((raw == 0) | (raw == 65535), 0, raw).astype(np.float32) / 1000.0


class SevenScenesDataset:
    """7-Scenes-layout RGB-D frames (see the module's docstring) as sample dicts like
    :class:`~depth_core.data.FrameDataset`'s: ``depth`` in metres, ``K`` from
    ``camera-intrinsics.txt`` (or the ``K`` argument), ``T_world_base`` the camera-to-world pose,
    ``label`` ``"sevenscenes"``, ``sequence`` the folder (``redkitchen``, ``seq-01``), ``index``
    the frame number, ``id`` ``f"{sequence}/{index:06d}"``.

    ``sparse``: ``"beams32"`` (any ``beams<N>``) a spinning LiDAR at the camera centre sampled from
    the depth (:func:`~depth_core.data.sparse_patterns.lidar_pattern_sparse`; ``ring`` set, and
    ``lidar`` / ``T_cam_lidar`` describe it), ``"random500"`` (``random<N>``) N random valid
    pixels, ``"none"`` zeros. Each frame's pattern is a pure function of ``seed``, the sequence
    and the frame number (the LiDAR's firing phase, the random points), whatever ``stride``.
    ``fov_deg`` (down, up) and ``azimuth_step_deg`` shape the LiDAR.

    ``stride`` keeps every stride-th frame of each sequence, ``max_frames`` the first that many
    overall. ``depth_to_color`` (a :class:`DepthToColor`, or ``True`` for the one measured on
    redkitchen) re-renders the depth in the colour camera and returns that camera's K; off by
    default (the depth and K are the depth camera's, the colour image is not aligned with them).

    Everything that can be checked cheaply is checked here (frames found, colour images present,
    depth PNG headers 16-bit single-channel of one size, intrinsics readable); a frame whose
    files fail later raises :class:`DataFileError` naming the file.
    """

    def __init__(self, root: str | Path, sparse: str = "beams32", *, stride: int = 1, max_frames: int | None = None,
                 seed: int = 0, K=None, fov_deg: tuple[float, float] | None = None, azimuth_step_deg: float = 0.2,
                 depth_to_color: DepthToColor | bool | None = None, label: str = "sevenscenes") -> None:
        self.root = Path(root)
        self.pattern, self.pattern_n = parse_sparse_pattern(sparse)
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"max_frames must be >= 1 or None, got {max_frames}")
        self.seed, self.label = int(seed), label
        self.ground_truth = "depth_image"
        self.fov_deg, self.azimuth_step_deg = fov_deg, float(azimuth_step_deg)
        self.depth_to_color = REDKITCHEN_DEPTH_TO_COLOR if depth_to_color is True else (depth_to_color or None)
        if not self.root.is_dir():
            raise DataFileError(f"{self.root}: 7-Scenes folder not found")
        explicit_K = None if K is None else validate_intrinsic_matrix(K, "K")

        by_folder: dict[Path, list[tuple[int, Path]]] = {}
        for path in self.root.rglob("frame-*.depth.png"):
            m = _FRAME.match(path.name)
            if m:
                by_folder.setdefault(path.parent, []).append((int(m.group(1)), path))
        if not by_folder:
            raise DataFileError(f"{self.root}: no 7-Scenes frames (frame-XXXXXX.depth.png) in it or its subfolders")

        self.samples: list[tuple[str, int, Path, Path, Path]] = []  # sequence, frame, depth, colour, pose
        self._K: dict[str, np.ndarray] = {}
        self.image_size: dict[str, tuple[int, int]] = {}
        for folder in sorted(by_folder):
            sequence = self._sequence_name(folder)
            self._K[sequence] = explicit_K if explicit_K is not None else self._find_K(folder)
            frames = sorted(by_folder[folder])[::stride]
            size = None
            for number, depth_path in frames:
                stem = depth_path.name[: -len(".depth.png")]
                colour = next((folder / f"{stem}.color{s}" for s in (".png", ".jpg")
                               if (folder / f"{stem}.color{s}").is_file()), None)
                if colour is None:
                    raise DataFileError(f"{folder / (stem + '.color.png')}: missing (nor {stem}.color.jpg) for "
                                        f"{depth_path.name}")
                w, h, bits, kind = _png_header(depth_path)
                if bits != 16 or kind != 0:
                    raise DataFileError(f"{depth_path}: expected a single-channel 16-bit depth PNG in millimetres, "
                                        f"got {bits}-bit PNG colour type {kind}")
                if size is None:
                    size = (w, h)
                elif (w, h) != size:
                    raise DataFileError(f"{depth_path}: {w}x{h}, but the sequence's first depth image is "
                                        f"{size[0]}x{size[1]}")
                self.samples.append((sequence, number, depth_path, colour, folder / f"{stem}.pose.txt"))
            self.image_size[sequence] = size
        if max_frames is not None:
            self.samples = self.samples[:max_frames]

    def _sequence_name(self, folder: Path) -> str:
        if folder == self.root:
            return self.root.resolve().name
        return folder.relative_to(self.root).as_posix()

    def _find_K(self, folder: Path) -> np.ndarray:
        for candidate in (folder, *folder.parents):
            path = candidate / INTRINSICS_FILE
            if path.is_file():
                return _read_K(path)
            if candidate == self.root:
                break
        raise DataFileError(f"{folder / INTRINSICS_FILE}: missing (looked in {folder} and its parents up to "
                            f"{self.root}); the original 7-Scenes release has none: pass K (7-Scenes' depth camera: "
                            "fx = fy = 585, cx = 320, cy = 240)")

    def __len__(self) -> int:
        return len(self.samples)

    def sequence_names(self) -> list[str]:
        """The sequence of each sample (frames are in time order within a sequence)."""
        return [s[0] for s in self.samples]

    def camera_poses(self) -> list[tuple[float, np.ndarray | None, str]]:
        """Per sample ``(stamp_s, T_world_cam, id)``: the recording's 30 Hz frame clock, and the
        pose of the camera whose images it returns (the colour camera with ``depth_to_color``: the
        depth camera's pose moved by its baseline; the two share orientation)."""
        mount = np.eye(4)
        if self.depth_to_color is not None:
            mount[0, 3], mount[1, 3] = -self.depth_to_color.baseline_m[0], -self.depth_to_color.baseline_m[1]
        out = []
        for sequence, number, _, _, pose_path in self.samples:
            pose = _read_pose(pose_path)
            out.append((number / FRAME_RATE_HZ, None if pose is None else pose @ mount, f"{sequence}/{number:06d}"))
        return out

    def frame_rng(self, sequence: str, number: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, zlib.crc32(sequence.encode()), number])

    def __getitem__(self, i: int) -> dict:
        sequence, number, depth_path, colour_path, pose_path = self.samples[i]
        K = self._K[sequence]
        depth = read_depth_mm_png(depth_path)
        rgb = read_rgb(colour_path)
        if rgb.shape[:2] != depth.shape:
            raise DataFileError(f"{colour_path}: {rgb.shape[1]}x{rgb.shape[0]}, but {depth_path.name} is "
                                f"{depth.shape[1]}x{depth.shape[0]}")
        if self.depth_to_color is not None:
            depth = self.depth_to_color.apply(depth, K)
            K = self.depth_to_color.color_K(K)
        rng = self.frame_rng(sequence, number)
        ring = lidar = T_cam_lidar = None
        if self.pattern == "beams":
            fov = self.fov_deg if self.fov_deg is not None else camera_vertical_fov_deg(K, depth.shape)
            sparse, ring = lidar_pattern_sparse(depth, K, self.pattern_n, fov, self.azimuth_step_deg,
                                                azimuth_offset_deg=float(rng.uniform(0, self.azimuth_step_deg)))
            lidar = {"model": f"beams{self.pattern_n} sampled from depth", "beams": self.pattern_n,
                     "fov_down_deg": float(fov[0]), "fov_up_deg": float(fov[1]),
                     "azimuth_resolution_deg": self.azimuth_step_deg, "min_range": 0.0, "max_range": MAX_DEPTH_M}
            T_cam_lidar = T_CAM_LIDAR_AT_CAMERA.copy()
        elif self.pattern == "random":
            sparse = random_points_sparse(depth, self.pattern_n, rng)
        else:
            sparse = np.zeros_like(depth)
        return {
            "rgb": rgb,
            "depth": depth,
            "sparse_depth": sparse,
            "ring": ring,
            "K": K.copy(),
            "T_cam_lidar": T_cam_lidar,
            "T_world_base": _read_pose(pose_path),
            "lidar": lidar,
            "label": self.label,
            "sequence": sequence,
            "index": number,
            "id": f"{sequence}/{number:06d}",
        }


def export_from_git(git_dir: str | Path, out: str | Path, rev: str = "HEAD", path: str = "data") -> int:
    """Write the files under ``path`` of ``rev`` in the git repository ``git_dir`` (bare or not)
    into the folder ``out`` (created; existing files are replaced), e.g. the redkitchen frames of
    andyzeng/tsdf-fusion-python. Returns the number of depth frames written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cmd = ["git", "--git-dir", str(git_dir), "archive", "--format=tar", f"{rev}:{path}"]
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as exc:
        raise DataFileError(f"{git_dir}: cannot run git ({exc})") from None
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                if not member.isfile() or Path(member.name).is_absolute() or ".." in Path(member.name).parts:
                    continue
                target = out / member.name
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                target.write_bytes(source.read())
    except tarfile.TarError as exc:
        tar_error = exc
    else:
        tar_error = None
    finally:
        proc.stdout.close()
        err = proc.stderr.read().decode(errors="replace").strip()
        rc = proc.wait()
    if rc != 0:
        raise DataFileError(f"{git_dir}: git archive {rev}:{path} failed ({err or f'exit status {rc}'})")
    if tar_error is not None:
        raise DataFileError(f"{git_dir}: git archive {rev}:{path} gave an unreadable archive ({tar_error})")
    return sum(1 for _ in out.glob("frame-*.depth.png"))


# --- Measuring the depth / colour misalignment ------------------------------------------------

def depth_edge_points(depth: np.ndarray, threshold: float = 0.04) -> np.ndarray:
    """Depth discontinuities: [N,3] (u, v, z) half-way between 4-neighbours whose valid depths
    differ by more than ``threshold`` in log depth, z the nearer one (the occluding surface)."""
    valid = depth > 0
    log = np.log(np.where(valid, depth, 1.0))
    z = depth.astype(np.float64)
    out = []
    for axis in (1, 0):
        a = (slice(None), slice(None, -1)) if axis == 1 else (slice(None, -1), slice(None))
        b = (slice(None), slice(1, None)) if axis == 1 else (slice(1, None), slice(None))
        edge = valid[a] & valid[b] & (np.abs(log[a] - log[b]) > threshold)
        v, u = np.nonzero(edge)
        near = np.minimum(z[a][v, u], z[b][v, u])
        out.append(np.stack([u + 0.5 * axis, v + 0.5 * (1 - axis), near], 1))
    return np.concatenate(out)


def _gradient(rgb: np.ndarray) -> np.ndarray:
    grey = cv2.GaussianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 1.0)
    mag = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
    return mag / max(float(mag.mean()), 1e-6)


def _edge_score(frames, model: DepthToColor, K) -> float:
    """Mean (over frames) image gradient, in units of the frame's mean gradient, under the depth
    edges mapped into the colour image by ``model``: 1 = no better than chance."""
    scores = []
    for grad, points in frames:
        u, v = model.project(points[:, 0], points[:, 1], points[:, 2], K)
        val = cv2.remap(grad, u.astype(np.float32)[:, None], v.astype(np.float32)[:, None], cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_CONSTANT, borderValue=np.nan).ravel()
        if np.isfinite(val).any():
            scores.append(np.nanmean(val))
    return float(np.mean(scores)) if scores else float("nan")


def measure_depth_alignment(dataset: SevenScenesDataset, frames: int = 100, max_shift: int = 8,
                            fit: bool = True, vertical_baseline: bool = False) -> dict:
    """How well the depth lines up with the colour image over ``frames`` evenly spaced frames.

    Score: the mean colour-gradient magnitude (in units of each image's mean) sampled under the
    depth discontinuities; aligned edges score high, 1 is chance. Reports the score without any
    correction, the best integer shift of the depth in ``[-max_shift, max_shift]^2`` and, with
    ``fit``, a :class:`DepthToColor` (scale, principal-point shift, baseline) fitted by
    Nelder-Mead, and the shift left at several depths after that fit (parallax check). The
    baseline is horizontal (the Kinect's cameras side by side) unless ``vertical_baseline``: its
    vertical part trades off against the vertical scale and shift and the edges barely fix it."""
    if dataset.depth_to_color is not None:
        raise ValueError("measure_depth_alignment: use a data set without depth_to_color")
    picks = np.unique(np.linspace(0, len(dataset) - 1, min(frames, len(dataset))).round().astype(int))
    data, K = [], None
    for i in picks:
        sequence, _, depth_path, colour_path, _ = dataset.samples[i]
        K = dataset._K[sequence]
        data.append((_gradient(read_rgb(colour_path)), depth_edge_points(read_depth_mm_png(depth_path))))
    shifts = range(-max_shift, max_shift + 1)
    grid = np.array([[_edge_score(data, DepthToColor(shift_px=(dx, dy)), K) for dx in shifts] for dy in shifts])
    by, bx = np.unravel_index(np.nanargmax(grid), grid.shape)
    result = {"frames": len(picks), "edge_points_per_frame": float(np.mean([len(p) for _, p in data])),
              "score_unaligned": float(grid[max_shift, max_shift]),
              "best_shift_px": (int(bx) - max_shift, int(by) - max_shift), "best_shift_score": float(grid[by, bx]),
              "shift_scores": grid}
    if not fit:
        return result
    from scipy.optimize import minimize

    def model(x):
        return DepthToColor(scale=(x[0], x[1]), shift_px=(x[2], x[3]),
                            baseline_m=(x[4], x[5] if vertical_baseline else 0.0))

    start = max((_edge_score(data, DepthToColor(scale=(s, s), shift_px=(dx, dy)), K), s, dx, dy)
                 for s in np.arange(0.80, 1.001, 0.02) for dx in range(-12, 13, 3) for dy in range(-6, 7, 3))
    x0 = np.array([start[1], start[1], start[2], start[3], 0.0, 0.0][:6 if vertical_baseline else 5])
    steps = [0.01, 0.01, 1.0, 1.0, 0.005, 0.005][:x0.size]                           # 1 %, 1 px, 5 mm
    simplex = np.vstack([x0, x0 + np.diag(steps)])
    res = minimize(lambda x: -_edge_score(data, model(x), K), x0, method="Nelder-Mead",
                   options={"maxiter": 4000, "xatol": 1e-4, "fatol": 1e-6, "initial_simplex": simplex})
    fitted = model(res.x)
    result.update(fitted=fitted, fitted_score=-float(res.fun))
    residual = {}
    for lo, hi in ((0.0, 1.2), (1.2, 1.6), (1.6, 2.0), (2.0, 2.6), (2.6, 100.0)):
        band = [(g, p[(p[:, 2] >= lo) & (p[:, 2] < hi)]) for g, p in data]
        band = [(g, p) for g, p in band if len(p) >= 20]
        if not band:
            continue

        def shifted(t, band=band):
            return -_edge_score(band, DepthToColor(fitted.scale, (fitted.shift_px[0] + t[0], fitted.shift_px[1] + t[1]),
                                                   fitted.baseline_m), K)
        r = minimize(shifted, [0.0, 0.0], method="Nelder-Mead")
        residual[f"{lo:g}-{hi:g} m"] = (float(r.x[0]), float(r.x[1]))
    result["residual_shift_px_by_depth"] = residual
    return result


def main(argv=None) -> int:
    from ..utils import ArgumentParser

    parser = ArgumentParser(prog="python -m depth_core.data.sevenscenes",
                            description="7-Scenes helpers: export frames from a git repository, measure the "
                                        "depth / colour misalignment, time loading.")
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="write the frames under a path of a git repository into a folder")
    ex.add_argument("git_dir")
    ex.add_argument("out")
    ex.add_argument("--rev", default="HEAD")
    ex.add_argument("--path", default="data")
    me = sub.add_parser("measure", help="depth / colour misalignment of a 7-Scenes folder")
    me.add_argument("root")
    me.add_argument("--frames", type=int, default=100)
    me.add_argument("--max-shift", type=int, default=8)
    args = parser.parse_args(argv)
    if args.command == "export":
        n = export_from_git(args.git_dir, args.out, args.rev, args.path)
        print(f"wrote {n} frames to {args.out}")
        return 0
    r = measure_depth_alignment(SevenScenesDataset(args.root, "none"), args.frames, args.max_shift)
    print(f"{r['frames']} frames, {r['edge_points_per_frame']:.0f} depth-edge points each")
    print(f"score without correction: {r['score_unaligned']:.3f} (1 = chance)")
    print(f"best shift in +-{args.max_shift} px: {r['best_shift_px']} score {r['best_shift_score']:.3f}")
    f = r["fitted"]
    print(f"fitted: scale {np.round(f.scale, 4).tolist()} shift_px {np.round(f.shift_px, 2).tolist()} "
          f"baseline_m {np.round(f.baseline_m, 4).tolist()} score {r['fitted_score']:.3f}")
    for band, (dx, dy) in r["residual_shift_px_by_depth"].items():
        print(f"  residual shift at {band}: ({dx:+.2f}, {dy:+.2f}) px")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
