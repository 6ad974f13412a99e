"""Several LiDAR sweeps as one: past sweeps moved into the newest one's frame by the robot's
odometry, each point de-skewed by the odometry at its own time, and past points that the newest
sweep contradicts dropped (something moved). The node, the replay and ``depth-ros-dataset
--accumulate`` share this one implementation.

Frames: a sweep's points are in the LiDAR frame; ``T_base_lidar`` mounts the LiDAR on the robot's
base; :class:`~depth_core.geometry.PoseHistory` gives ``T_odom_base`` at any stamp.

**De-skewing.** A spinning LiDAR takes ~100 ms per sweep; a robot at 10 m/s moves 1 m meanwhile.
A point measured at time ``t`` is moved by ``T_lidar(ref)^-1 T_lidar(t)`` with
``T_lidar(t) = T_odom_base(t) T_base_lidar``, into the LiDAR frame at the reference stamp (the
sweep's header stamp).

**Moving objects: the free-space rule.** Each ray of a sweep measured free space up to its range.
A past point lies in space that a later sweep measured as free when, seen from that sweep's own
origin, the rays next to it on both sides (the nearest returns in the rows strictly above and
strictly below its own, within about 2.5 deg, in its 0.5 deg azimuth column, on a 0.25 deg
elevation grid), and the ray of its own cell where its row has returns, went past
it by more than ``margin`` (absolute plus relative to the range): whatever was there moved away (a
car that drove off, a person who walked on), or the odometry is wrong. It is dropped. Every later
sweep is asked, not only the newest: each sweep, as it arrives, tests the points of all the past
ones once, so a point stays dropped once any later sweep saw through it. Once a camera is known
(the last :meth:`SweepAccumulator.cloud` call's), only the past points in its view are tested,
against the returns ahead of it: a 360-degree sweep is mostly outside any camera's view. Rays
on both sides, and not a cell's nearest return alone (the own cell's can only keep a point),
because a cell spans a range of elevations: on the ground the ray just below a point meets the
ground nearer than the point, and a single-ray rule (the first release's) dropped good ground
points there. Past points behind the newest surface are not
in free space; cells with no return on one side say nothing.

**Hidden from the camera: the occlusion rule.** A past sweep was taken from somewhere else, so it
saw surfaces that the camera, now, cannot: the ground behind a post, the wall behind a car that
has since stopped in front of it. Projected into the image, such a point lands on the nearer
object's pixels with the far surface's depth, between the nearer object's own points, and the
completion spreads it. A past point is dropped when the projected cloud has nearer points (by
more than ``margin_rel``) on both sides of it: left and right within ``reach_deg[0]`` on its own
row (+-``thickness_deg``), or above and below within ``reach_deg[1]`` in its own column. One
side alone is an edge, and a point beside an edge is kept; a thin band keeps the ground, whose
depth falls row by row, from reading as hidden. The same image catches what the free-space
rule's grid misses of a moving object's old places: a past point is gone when the newest sweep
has returns around it (within the same reach) and all of them lie farther by more than
``gone_margin_rel``, so that nothing near its depth is seen there now. The windows are angles,
made pixels by the camera's focal lengths. :func:`hidden_keep`'s defaults (1 deg left and right,
30 %) are the first release's, which a cloud seen from elsewhere keeps (:func:`visible_keep`);
merged sweeps use 2 deg and 15 % (``SweepAccumulator.occlusion_reach_deg``, ``gone_margin_rel``),
which keep more of the gain where things move on simulated drives for a little of it where
nothing does (docs/benchmarks.md). The same test runs in the newest sweep's own
spherical grid too (:meth:`FreeSpace.visible`): a past point that the rays on both sides of it,
from the newest sweep's origin, found a nearer surface in front of is hidden from the LiDAR now,
and so from the camera beside it (the background behind a car that has since moved in front of
it). On a simulated street drive the rules remove two
thirds of the past points more than 3 % off the rendered depth, and 2.6 % of the others
(docs/benchmarks.md, "Several LiDAR sweeps as one").

**What the camera sees: the photometric rule.** Where a sweep comes with its camera image, each
of its points keeps its brightness there. A static surface looks the same from a little further
on; where a car was, the road shows now, and where the road was, the car that pulled in. So each
later image is asked, as each later sweep is: a past point is dropped when, at the pixel where it
lands now, its brightness lies outside the range of the pixels within one of it by more than a
tolerance (log brightness), once the exposure change between the two images (the median over the
sweep's points) is taken out (:meth:`CameraShades.keep`). The tolerance is three times the robust
spread of the two images' differences, within 0.04-0.3: sharp where the images agree closely,
lenient where noise, blur and misalignment make them differ everywhere. Points hidden from the
newest sweep's origin are not asked (they would show what hides them); a point hidden from the
camera alone (behind something the LiDAR did not see in front of it) is, and dropped for good. The rule needs no return
of the newest sweep near the point, which is where the rules above have no evidence: a 16-line
LiDAR's rings are far apart, the camera's pixels are not. It cannot see a car that moved less than
its own length and looks the same where it is now, and it drops a few good points where a texture
edge and a small misalignment meet (3.4 % of them on the real 7-Scenes kitchen, a static scene;
docs/benchmarks.md).

**The odometry corrected by the images.** A LiDAR odometry drifts by a few centimetres and tenths
of a degree a second, which puts past sweeps a little off their surfaces. The same brightness
that tests past points also says where the camera is: each new image is aligned to the past
sweeps' points (:meth:`CameraShades.align`, direct photometric alignment of points whose depth
is known), and the motion it finds corrects the new sweep's pose; the correction is carried on
to the sweeps after it (``image_alignment``, off by default in this class; san_node's
``lidar_align_images`` and ``depth-ros-eval --accumulate`` turn it on unless told not to). On the
simulator's drives it takes the drift out; on the real 7-Scenes kitchen the pose it finds from
the recorded pose lies 1.3 cm and 0.4 deg away, yet the past depth moved by either agrees with
the current depth about as well (0.42 % against 0.38 %), and from a pose knocked off by 3 cm and
0.5 deg it brings that from 1.26 % to 0.62 % (docs/benchmarks.md). A
sparse LiDAR gives too few points to register sweeps to each other (a point-to-plane ICP on 30 %
of a 16-line scan was tried and made things worse); the camera's pixels do not run out.
"""

from __future__ import annotations

import functools
import logging
from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np

from .camera import CameraIntrinsics
from .kernels import align_camera, free_space_grid, free_space_test, occlusion_verdicts, occlusion_zbuffer, shades_keep
from .odometry import PoseHistory
from .transforms import invert_transform, transform_points

__all__ = ["CameraShades", "FreeSpace", "Sweep", "SweepAccumulator", "deskew", "free_space_keep", "hidden_keep",
           "log_grey", "motion_between", "move_sweep", "visible_keep"]

log = logging.getLogger("depth_core.geometry")


@dataclass
class Sweep:
    """One LiDAR sweep: ``points`` [N,3] in the LiDAR frame at ``stamp_ns``; ``rings`` [N] or None;
    ``times_ns`` [N] each point's own stamp (absolute ns) or None (an instantaneous sweep)."""

    stamp_ns: int
    points: np.ndarray
    rings: np.ndarray | None = None
    times_ns: np.ndarray | None = None
    shade: np.ndarray | None = None     # [N] each point's log brightness in its own image (NaN: not seen)


def deskew(sweep: Sweep, odometry: PoseHistory, T_base_lidar: np.ndarray, tolerance_ns: int) -> np.ndarray | None:
    """The sweep's points moved into the LiDAR frame at ``sweep.stamp_ns``, each by the odometry
    at its own time; the points unchanged without per-point times; None when the odometry does
    not cover the sweep."""
    if sweep.times_ns is None or not len(sweep.points):
        return sweep.points
    ref = odometry.at(sweep.stamp_ns, tolerance_ns)
    if ref is None:
        return None
    T_lidar_ref_inv = invert_transform(ref @ T_base_lidar)
    times = np.asarray(sweep.times_ns, np.int64)
    # Poses at a few instants across the sweep, each point taking the nearest (1 ms apart: 1 cm at 10 m/s).
    lo, hi = int(times.min()), int(times.max())
    steps = max(2, min(201, (hi - lo) // 1_000_000 + 2))
    instants = np.linspace(lo, hi, steps).round().astype(np.int64)
    which = np.clip(np.rint((times - lo) / max(hi - lo, 1) * (steps - 1)).astype(np.int64), 0, steps - 1)
    out = np.empty_like(sweep.points, dtype=np.float64)
    for k, t in enumerate(instants):
        sel = which == k
        if not sel.any():
            continue
        pose = odometry.at(int(t), tolerance_ns)
        if pose is None:
            return None
        out[sel] = transform_points(T_lidar_ref_inv @ pose @ T_base_lidar, sweep.points[sel])
    return out.astype(sweep.points.dtype, copy=False)


def motion_between(odometry: PoseHistory, then_ns: int, now_ns: int, T_base_lidar: np.ndarray,
                   ahead_ns: int = 0) -> np.ndarray | None:
    """The LiDAR frame at ``then_ns`` -> the LiDAR frame at ``now_ns``, by the odometry at both
    stamps exactly (:meth:`PoseHistory.exactly_at`, carried on up to ``ahead_ns`` past its newest
    pose); None where it does not reach one of them: never the pose of another time."""
    then, now = odometry.exactly_at(then_ns, ahead_ns), odometry.exactly_at(now_ns, ahead_ns)
    if then is None or now is None:
        return None
    return invert_transform(now @ T_base_lidar) @ then @ T_base_lidar


def move_sweep(points: np.ndarray, T_odom_base_then: np.ndarray, T_odom_base_now: np.ndarray,
               T_base_lidar: np.ndarray, T_target_lidar: np.ndarray | None = None) -> np.ndarray:
    """Points of a sweep taken when the base was at ``T_odom_base_then``, in the frame of the
    LiDAR when the base is at ``T_odom_base_now`` (or, with ``T_target_lidar``, in that frame
    fixed to the LiDAR, e.g. a camera's ``T_cam_lidar``)."""
    T = invert_transform(T_odom_base_now @ T_base_lidar) @ T_odom_base_then @ T_base_lidar
    if T_target_lidar is not None:
        T = T_target_lidar @ T
    return transform_points(T, points)


class FreeSpace:
    """The space one sweep measured as free, from its own origin (the free-space rule of the
    module's doc), on a spherical grid of ``az_step_deg`` x ``el_step_deg`` cells holding the
    nearest return of each. For a point, the rays next to it are the nearest occupied cells
    strictly above and strictly below it in its azimuth column, each within ``max_gap_deg``. It
    lies in free space when both rays returned farther than it by the margin (``margin`` metres
    plus ``margin_rel`` of its range), and so did its own cell's where that holds one (a ring that
    meets a thin or small surface the rings beside it miss), and hidden when both returned nearer. One
    side alone says nothing, which keeps the ground: the ray below a ground point meets the ground
    nearer, the ray above it farther. Built once per sweep; :meth:`keep` and :meth:`visible` test
    any points given in that sweep's LiDAR frame."""

    def __init__(self, points: np.ndarray, *, az_step_deg: float = 0.5, el_step_deg: float = 0.25,
                 max_gap_deg: float = 2.5, margin: float = 0.1, margin_rel: float = 0.02) -> None:
        self.az, self.el = np.radians(az_step_deg), np.radians(el_step_deg)
        self.margin, self.margin_rel = margin, margin_rel
        self.n_az = int(np.ceil(2 * np.pi / self.az))
        self.gap = max(1, round(max_gap_deg / el_step_deg))
        # The grid holds only the elevation rows with a return (a 16-line LiDAR's 16 of the 121 rows
        # its 30 deg span: the nearest ray above or below a point is in one of them), and only the
        # azimuths it covers (from the column after its widest empty arc round to the column before
        # it: half the columns for the returns ahead of a camera); the nearest return per (row,
        # column); and per (row, column) the slot (index into ``rows``) of the nearest row at or
        # below / at or above it with a return in that column (-1 / k where none). A point's rays
        # are read from the rows strictly below and strictly above its own, not its own row: its
        # rays may be a fraction of a cell above or below the point, which on ground seen at a
        # grazing angle is a difference in range larger than any margin. (The own row's return can
        # only keep a point, never stand for a side: a ray that stopped at or before it.) Points
        # whose range is not finite are left out. One compiled pass (kernels.free_space_grid).
        azimuth, elevation, rng = self._angles(points)
        f32 = np.float32
        self.lo, self.rows, self.start, self.near, self.below, self.above = free_space_grid(
            azimuth, elevation, rng, self.n_az, f32(1 / self.az), f32(1 / self.el))

    @staticmethod
    def _angles(points: np.ndarray):
        """Azimuth and elevation (float32, 0..2pi) and range of each point. The cells are made from
        them in the compiled loops: centred on multiples of the steps, as a LiDAR's rings and
        firing angles sit at such multiples (a VLP-16's every 2 deg, every 0.2 deg), so a ring
        falls in one row, not split between two by rounding as on a grid whose edges are there."""
        # Float32 throughout (a tenth of a millimetre at 100 m). cv2.cartToPolar's angles are within
        # 0.01 deg of arctan2's (a twenty-fifth of the finest cell) at a fiftieth of numpy's cost.
        points = np.asarray(points, np.float32)
        if points.ndim != 2 or points.shape[1] != 3:
            raise ValueError(f"points must be [N,3], got shape {points.shape}")
        x, y, z = (np.ascontiguousarray(c) for c in points.T)
        flat, azimuth = cv2.cartToPolar(x, y)
        rng, elevation = cv2.cartToPolar(flat, z)
        return azimuth.ravel(), elevation.ravel(), rng.ravel()

    def test(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(keep, visible)``, boolean [len(points)] each: the points not in this sweep's free
        space, and those not hidden behind its returns (one lookup for both)."""
        azimuth, elevation, rng = self._angles(points)
        # In free space when every ray around the point passed it: those above and below it, and
        # its own cell's where that holds one. The cells as the grid's, the margins in
        # float32, as the ranges are; one compiled pass.
        f32 = np.float32
        return free_space_test(azimuth, elevation, rng, self.n_az, f32(1 / self.az), f32(1 / self.el), self.lo,
                               self.start, self.rows, self.below, self.above, self.near, int(self.gap),
                               f32(1 + self.margin_rel), f32(self.margin), f32(1 - self.margin_rel), f32(self.margin))

    def keep(self, points: np.ndarray) -> np.ndarray:
        """Boolean [len(points)]: the points not in this sweep's free space."""
        return self.test(points)[0]

    def visible(self, points: np.ndarray) -> np.ndarray:
        """Boolean [len(points)]: the points not hidden behind this sweep's returns."""
        return self.test(points)[1]


def free_space_keep(past: np.ndarray, newest: np.ndarray, **grid) -> np.ndarray:
    """Boolean [len(past)]: the past points (in the newest sweep's LiDAR frame) that the newest
    sweep does not contradict (see the module's doc); ``grid``: :class:`FreeSpace`'s options."""
    return FreeSpace(newest, **grid).keep(past)


def _same_view(a, b) -> bool:
    """Whether two ``(T_cam_lidar, intrinsics)`` describe the same camera."""
    return a is b or (a is not None and b is not None and a[1] == b[1] and np.array_equal(a[0], b[0]))


def _in_view(points: np.ndarray, T_cam_lidar: np.ndarray, camera: CameraIntrinsics) -> np.ndarray:
    """Boolean [N]: the points (LiDAR frame) within the camera's view cone, a pixel of margin
    around the image."""
    cam = transform_points(T_cam_lidar, points)
    x, y, z = cam[:, 0], cam[:, 1], cam[:, 2]
    # |u - centre| within half the image plus a pixel, in metres at depth z.
    off_x, off_y = ((camera.width - 1) / 2 - camera.cx) / camera.fx, ((camera.height - 1) / 2 - camera.cy) / camera.fy
    half_x, half_y = (camera.width + 2) / (2 * camera.fx), (camera.height + 2) / (2 * camera.fy)
    return (z > 0.1) & (np.abs(x - z * off_x) <= z * half_x) & (np.abs(y - z * off_y) <= z * half_y)


def visible_keep(points: np.ndarray, camera: CameraIntrinsics) -> np.ndarray:
    """Boolean [N]: False for the points [N,3] (camera optical frame) that nearer ones of the same
    cloud surround in the image: the occlusion rule with every point a candidate, for a cloud seen
    from somewhere its LiDAR never was (moved to an image's stamp, or held)."""
    return hidden_keep(points, np.ones(len(points), bool), camera)


@functools.lru_cache(maxsize=8)
def _occlusion_grid(camera: CameraIntrinsics, cell_deg: float) -> CameraIntrinsics:
    """The camera shrunk to pixels of about ``cell_deg`` (never enlarged): :func:`hidden_keep`'s
    grid, made once per camera (its checks cost a tenth of a millisecond a frame)."""
    scale = min(1.0, 1.0 / (camera.fx * np.tan(np.radians(cell_deg))))
    return camera.resized(max(1, round(camera.width * scale)), max(1, round(camera.height * scale)))


def hidden_keep(points: np.ndarray, candidates: np.ndarray, camera: CameraIntrinsics, *,
                reach_deg: tuple[float, float] = (1.0, 3.0), thickness_deg: float = 0.25,
                margin_rel: float = 0.1, gone_margin_rel: float = 0.3, cell_deg: float = 0.15) -> np.ndarray:
    """Boolean [N]: False for the ``candidates`` (bool [N]) among ``points`` [N,3] (camera optical
    frame) that the camera cannot see, because nearer points of the cloud surround them, or that
    are gone, because the other points (the newest sweep's) around them all lie farther (the
    occlusion rule of the module's doc). Points outside the image are kept, and so are those that
    lose their pixel to a nearer point: any projection keeps that one.

    The rule runs on the image shrunk to pixels of about ``cell_deg`` (never enlarged): finer than
    any LiDAR's spacing, and a quarter of the pixels of a 1242x375 image."""
    keep = np.ones(len(points), bool)
    candidates = np.require(candidates, bool, "CW")
    if not (candidates & (points[:, 2] > 0.1)).any():     # no candidate ahead (a 360-degree cloud is mostly not)
        return keep
    grid = _occlusion_grid(camera, cell_deg)
    K, h, w = grid.K, grid.height, grid.width
    # In the types the compiled loop was made for (warm_up; any other is compiled anew, seconds).
    if points.dtype not in (np.float32, np.float64):
        points = points.astype(np.float32)
    # Nothing there (no point, or beyond the image) is inf throughout: the tests compare with
    # nearer depths only. The pixels the candidates won (and by which point), and the newest
    # sweep's: the tests below look only at the former.
    near, newest, px, owner = occlusion_zbuffer(np.require(points, requirements="CW"),
                                                candidates, np.require(K, None, "CW"), h, w)
    near, newest = near.reshape(h, w), newest.reshape(h, w)

    def pixels(fx: float, degrees: float) -> int:
        return int(np.ceil(fx * np.tan(np.radians(degrees))))

    rx, ry = max(1, pixels(K[0, 0], reach_deg[0])), max(1, pixels(K[1, 1], reach_deg[1]))
    tx, ty = pixels(K[0, 0], thickness_deg), pixels(K[1, 1], thickness_deg)
    # The four half-windows: columns u-rx..u-1 and u+1..u+rx on rows v-ty..v+ty (one minimum
    # filter of rx columns ending at its pixel, on the grid widened by rx columns of nothing on
    # the right, read at u-1 and at u+rx); rows v-ry..v-1 and v+1..v+ry on columns u-tx..u+tx
    # (the same down the columns).
    inf = float(np.inf)
    across = cv2.erode(cv2.copyMakeBorder(near, 0, 0, 0, rx, cv2.BORDER_CONSTANT, value=inf),
                       np.ones((2 * ty + 1, rx), np.uint8), anchor=(rx - 1, ty),
                       borderType=cv2.BORDER_CONSTANT, borderValue=inf)
    down = cv2.erode(cv2.copyMakeBorder(near, 0, ry, 0, 0, cv2.BORDER_CONSTANT, value=inf),
                     np.ones((ry, 2 * tx + 1), np.uint8), anchor=(tx, ry - 1),
                     borderType=cv2.BORDER_CONSTANT, borderValue=inf)
    # Gone: the newest sweep has returns within the reach, and every one is farther by more than
    # gone_margin_rel. Had the thing still been there, the newest sweep would have hit it too.
    around = cv2.erode(newest, np.ones((2 * ry + 1, 2 * rx + 1), np.uint8),
                       borderType=cv2.BORDER_CONSTANT, borderValue=inf)
    occlusion_verdicts(keep, near, around.ravel(), across, down, px, owner, rx, ry, float(margin_rel),
                       float(gone_margin_rel))
    return keep


ALIGN_POINTS = 2000       # past points that align an image to them (SweepAccumulator._aligned)
_LOG_GREY = np.log(np.arange(256, dtype=np.float32) + np.float32(8.0))


def log_grey(image: np.ndarray) -> np.ndarray:
    """The image as the photometric rule reads it: uint8 [H,W] grey, lightly blurred (3x3), whose
    log brightness (+8 grey levels, so that the noise of dark pixels does not read as a change) is
    a table lookup. In log, an exposure change is nearly one offset (exactly so above about 30 grey
    levels). 16-bit images are scaled by their bit depth: 12 bits (4095 is white), or 16 where a
    pixel is brighter than that; float images by 255 where they lie in 0-1 (NaN and inf read as 0)."""
    img = np.asarray(image)
    if img.ndim == 3:
        img = img[..., :3] if img.shape[2] >= 3 else img[..., 0]
    if img.dtype == np.uint16:
        bits = 12 if int(img.max(initial=0)) < 4096 else 16
        img = cv2.convertScaleAbs(img, alpha=255.0 / ((1 << bits) - 1))
    elif img.dtype != np.uint8:
        img = np.nan_to_num(img.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        img = np.clip(img * np.float32(255.0 if img.max(initial=0) <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if img.ndim == 3:
        img = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY)
    return cv2.blur(np.ascontiguousarray(img), (3, 3))


class CameraShades:
    """One camera image as the photometric rule reads it (the module's doc), with where a LiDAR
    frame's points land in it: ``T_cam_lidar`` from that frame to the camera, and its intrinsics.
    :meth:`sample` gives points their brightness here; :meth:`keep` tests past points' brightness
    against it."""

    def __init__(self, image: np.ndarray, T_cam_lidar: np.ndarray, camera: CameraIntrinsics, *, reach: int = 1):
        self.T_cam_lidar, self.camera = np.asarray(T_cam_lidar, np.float64), camera
        self.grey = log_grey(image)
        if self.grey.shape != (camera.height, camera.width):
            raise ValueError(f"image {self.grey.shape[1]}x{self.grey.shape[0]} does not match its camera "
                             f"({camera.width}x{camera.height})")
        # keep() reads the darkest and brightest pixels within ``reach`` of each point, one grey
        # level wider each way (a whole level is more than the tolerance's floor in the dark), at
        # the points only: a few thousand of them, not the image's half million pixels.
        if reach < 0:
            raise ValueError(f"reach must be 0 or more pixels, got {reach}")
        self.reach = int(reach)
        self._level = None          # align()'s log image at the level it aligns on, made once

    def _pixels(self, points: np.ndarray):
        """(indices of the points that land in the image, their pixels' flat indices)."""
        cam = transform_points(self.T_cam_lidar, points)
        z, c = cam[:, 2], self.camera
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1 / z
            u = np.rint(c.fx * cam[:, 0] * inv + c.cx)
            v = np.rint(c.fy * cam[:, 1] * inv + c.cy)
        ok = np.flatnonzero((z > 0.1) & (u >= 0) & (u < c.width) & (v >= 0) & (v < c.height))
        # Flat indices: np.take is several times faster than 2-D fancy indexing.
        return ok, v[ok].astype(np.intp) * c.width + u[ok].astype(np.intp)

    def sample(self, points: np.ndarray) -> np.ndarray:
        """float32 [N]: each point's log brightness here, NaN where it does not land in the image."""
        shade = np.full(len(points), np.nan, np.float32)
        ok, pix = self._pixels(points)
        shade[ok] = _LOG_GREY.take(self.grey.ravel().take(pix))
        return shade

    def keep(self, points: np.ndarray, shade: np.ndarray, tolerance: float | tuple[float, float] = (0.04, 0.3),
             spread: float = 3.0) -> np.ndarray:
        """Boolean [N]: False for the points whose brightness in their own image (``shade``) this
        image contradicts: once the exposure change between the two images (the median difference
        over the points) is taken out, it lies more than the tolerance (log) below the darkest or
        above the brightest pixel within ``reach`` of where the point lands now (widened by one
        grey level each way). A static surface
        looks the same from nearby; where a car was, the road shows now.

        The tolerance is ``spread`` times the robust spread of the differences (1.4826 x their
        median absolute deviation) within the range ``tolerance``, or ``tolerance`` itself when
        one number: sharp where the two images agree closely (a simulator, a good camera, a small
        step), lenient where noise, blur and misalignment make them differ everywhere. Points
        without a shade (NaN: not in their own image) or outside this one are kept; so are all
        of them where fewer than 10 can be compared (too few to measure the exposure change by)."""
        adaptive = not np.isscalar(tolerance)
        low, high = (float(tolerance), float(tolerance)) if not adaptive else map(float, tolerance)
        c = self.camera
        return shades_keep(transform_points(self.T_cam_lidar, points), np.asarray(shade), c.fx, c.fy, c.cx, c.cy,
                           self.grey, self.reach, _LOG_GREY, adaptive, low, high, float(spread))

    def align(self, points: np.ndarray, shade: np.ndarray, groups: np.ndarray | None = None, *,
              iterations: int = 8, max_points: int | None = None,
              max_shift: tuple[float, float] = (0.3, 1.5),
              converged: tuple[float, float] = (1e-4, 1e-3)) -> np.ndarray | None:
        """The camera motion ``T`` [4x4] that best explains this image from points whose brightness
        is known (direct photometric alignment): ``points`` [N,3] in this camera's frame as the
        odometry puts them, ``shade`` their log brightness in their own images (:meth:`sample`),
        ``groups`` [N] which image each came from (each has its own exposure: the median
        difference per group is taken out). Gauss-Newton on the brightness differences (at most
        ``iterations``, fewer once a step is under ``converged``: radians, metres), at
        half the image's resolution for images 1000 px wide or more (its Gaussian pyramid's next
        level: a wider basin; smaller ones at theirs, smoothed alike), with Huber
        weights (1.5 x the robust spread; beyond 5 x, none: what moved); ``T @ p`` is where a point
        really lies in this camera's frame. None where too few points land in the image (200), the
        motion found does not lower the robust cost (a featureless image, a diverging solve), or
        it exceeds ``max_shift`` (m, deg): then the odometry is left as it is."""
        # Images 1000 px wide or more at half their resolution (a quarter of the work; the Gaussian
        # pyramid's smoothing is the wider basin), smaller ones at theirs, smoothed alike: the log
        # image, made once; the passes sample it and its Sobel gradients at the points only.
        half = self.camera.width >= 1000
        if self._level is None:
            self._level = cv2.LUT(cv2.pyrDown(self.grey) if half else cv2.GaussianBlur(self.grey, (5, 5), 0),
                                  _LOG_GREY)
        k = 0.5 if half else 1.0
        usable = np.flatnonzero(np.isfinite(shade))
        max_points = ALIGN_POINTS if max_points is None else max_points
        if len(usable) > max_points:    # evenly, not at random: the same points give the same answer
            usable = usable[np.linspace(0, len(usable) - 1, max_points).astype(np.intp)]
        P, s = np.asarray(points, np.float64).take(usable, 0), np.asarray(shade, np.float64)[usable]
        g = np.zeros(len(usable), np.int64) if groups is None else np.unique(groups[usable], return_inverse=True)[1]
        if np.any(np.diff(g) < 0):      # each image's points together, for its median (the order is immaterial)
            order = np.argsort(g, kind="stable")
            P, s, g = P.take(order, 0), s[order], g[order]
        if len(P) < 200:
            return None
        # The camera at the pyramid level's pixels: pyrDown's pixel i is the full image's 2i.
        c = self.camera
        T, enough, first, cost = align_camera(
            np.ascontiguousarray(P), np.ascontiguousarray(s), np.ascontiguousarray(g, np.int64), self._level,
            c.fx * k, c.fy * k, c.cx * k, c.cy * k, int(iterations), float(converged[0]), float(converged[1]))
        if not enough:
            return None
        angle = float(np.degrees(np.linalg.norm(cv2.Rodrigues(T[:3, :3])[0])))
        if np.linalg.norm(T[:3, 3]) > max_shift[0] or angle > max_shift[1] or not cost < first:
            return None
        return T


@dataclass
class SweepAccumulator:
    """The ``keep`` previous sweeps, moved by odometry into the newest sweep's LiDAR frame.

    ``add(sweep)`` takes sweeps in time order; :meth:`cloud` gives the newest sweep's points plus
    the past points that survive the free-space rule (``moving_rule``) and, given the camera, the
    occlusion rule (``occlusion_rule``), all in the newest sweep's LiDAR frame, and :attr:`counts`
    what happened. Given the images (:meth:`add`), the photometric rule (``photometric_rule``)
    drops past points whose brightness a later image contradicts. Time running backwards (a looping bag)
    and an odometry jump (faster than ``max_speed``: a reset) clear the history; a sweep whose
    time has no odometry is used alone, counted once per sweep and warned about once."""

    keep: int
    odometry: PoseHistory
    T_base_lidar: np.ndarray
    tolerance_ns: int = 100_000_000
    moving_rule: bool = True
    occlusion_rule: bool = True
    photometric_rule: bool = True
    image_alignment: bool = False
    shade_tolerance: float | tuple[float, float] = (0.04, 0.3)
    # The occlusion rule's reach (deg, left-right and up-down) and "gone" margin for merged sweeps:
    # wider and tighter than hidden_keep's own defaults, which the other callers keep (docs/benchmarks.md).
    occlusion_reach_deg: tuple[float, float] = (2.0, 3.0)
    gone_margin_rel: float = 0.15
    max_speed: float = 40.0
    deskew: bool = True
    history: deque = field(default_factory=deque)
    counts: dict = field(default_factory=lambda: {"sweeps": 0, "no_odometry": 0, "cleared_jump": 0,
                                                  "cleared_time": 0, "dropped_moving": 0,
                                                  "dropped_hidden": 0, "dropped_photometric": 0, "aligned": 0,
                                                  "not_aligned": 0})
    _warned: bool = False
    _space: FreeSpace | None = None
    _view: tuple | None = None         # the camera of the last cloud(camera=...)
    _moved: dict = field(default_factory=dict)   # add()'s past sweeps moved into the newest's frame,
    _moved_view: tuple | None = None             # with what of them this camera saw
    _tested: int | None = None          # the stamp of the newest sweep whose image tested the past ones
    # The odometry's correction by the images (image_alignment), in the odometry's fixed frame (where
    # its drift builds up): the base's pose is this times the odometry's, carried from sweep to
    # sweep, so the odometry's own motion between sweeps is kept exactly; identity until an image
    # says otherwise.
    _correction: np.ndarray = field(default_factory=lambda: np.eye(4))

    def reset(self) -> None:
        self.history.clear()
        self._space, self._moved, self._correction = None, {}, np.eye(4)

    def add(self, sweep: Sweep, image: tuple[np.ndarray, np.ndarray, CameraIntrinsics] | None = None) -> None:
        """Append the sweep (de-skewed when it has per-point times and the odometry covers it). A
        sweep with the newest one's stamp replaces it: the same cloud again (paired with the next
        image of a camera faster than the LiDAR, or with another selection of its points in a
        replay) is not time running backwards.

        ``image``: the camera image taken with the sweep, as ``(image [H,W] or [H,W,3], T_cam_lidar
        from the sweep's LiDAR frame to that camera, its intrinsics)``. It lets the photometric rule
        run: each point keeps its brightness there, and the past sweeps' points that this image
        contradicts are dropped; with ``image_alignment`` it also corrects the odometry (the
        module's doc). Without it neither runs for this sweep's pairs."""
        replaced = None
        if self.history and sweep.stamp_ns == self.history[-1][0].stamp_ns:
            replaced = self.history.pop()[0]   # its pairs were tested against an image if _tested says so
        else:
            self.counts["sweeps"] += 1
        if self.history and sweep.stamp_ns < self.history[-1][0].stamp_ns:
            self.counts["cleared_time"] += 1
            log.info("LiDAR time ran backwards (%d -> %d ns): sweep history cleared",
                     self.history[-1][0].stamp_ns, sweep.stamp_ns)
            self.history.clear()
            self._correction = np.eye(4)
        # The pose at the sweep's stamp exactly (carried on where the odometry lags), as cloud()'s
        # target is: a sweep filed under the pose of another time would be moved too far or too little;
        # corrected as the images have corrected the odometry so far.
        pose = self.odometry.exactly_at(sweep.stamp_ns, ahead_ns=self.tolerance_ns)
        raw = pose
        pose = None if raw is None else self._correction @ raw
        points = sweep.points
        if pose is not None and self.deskew and sweep.times_ns is not None:
            moved = deskew(sweep, self.odometry, self.T_base_lidar, self.tolerance_ns)
            points = sweep.points if moved is None else moved
        if pose is None:
            self.counts["no_odometry"] += 1
            if not self._warned:   # the caller says so in its own words (the node, with the fix); counted here
                self._warned = True
                log.debug("no odometry at a LiDAR sweep's stamp: accumulation is off for such sweeps (counted)")
        elif self.history and self.history[-1][1] is not None:
            last_stamp, last_pose = self.history[-1][0].stamp_ns, self.history[-1][1]
            dt = max((sweep.stamp_ns - last_stamp) * 1e-9, 1e-3)
            if np.linalg.norm(pose[:3, 3] - last_pose[:3, 3]) > self.max_speed * dt:
                self.counts["cleared_jump"] += 1
                log.warning("odometry jumped %.1f m in %.2f s (a reset?): sweep history cleared",
                            float(np.linalg.norm(pose[:3, 3] - last_pose[:3, 3])), dt)
                self.history.clear()
                self._correction = np.eye(4)
                pose = raw
        # The newest sweep's returns on its spherical grid: the free-space rule's and the
        # occlusion rule's test from its origin (none without a pose to move past points by).
        # Once a camera has been given (cloud(camera=...)), only what lies ahead of it is tested:
        # the grid holds the returns in front of the camera, and a past point is tested when it is
        # in the camera's view from here. A point outside it now is tested by the sweeps after the
        # one that brings it into view; a 360-degree sweep is mostly outside a camera's view.
        self._space, self._moved, self._moved_view = None, {}, self._view
        # The photometric rule asks one image per sweep: the same cloud again (with a camera's next
        # image) tests nothing anew, and keeps its shades where its points are the same (a replay's
        # other selection of them takes its shades from this image).
        tested = replaced is not None and self._tested == sweep.stamp_ns
        shades = CameraShades(*image) if image is not None and (self.photometric_rule or self.image_alignment) \
            else None
        keep_shade = tested and replaced.shade is not None and replaced.points.shape == points.shape \
            and np.array_equal(replaced.points, points)
        if pose is not None and (self.moving_rule or self.occlusion_rule or self.photometric_rule):
            # In front of the camera: only the depth of each point there (one row of the transform).
            dtype = points.dtype if np.issubdtype(points.dtype, np.floating) else np.float64   # as transform_points
            T_view = None if self._view is None else np.asarray(self._view[0], dtype)
            ahead = points if T_view is None else np.compress(points @ T_view[2, :3] + T_view[2, 3] > 0, points, 0)
            self._space = FreeSpace(ahead)
        while len(self.history) > self.keep:     # room for this one: no work on a sweep about to go
            self.history.popleft()
        if shades is not None and self.image_alignment and pose is not None and not tested and self.history:
            pose = self._aligned(pose, raw, shades)
        if pose is not None:
            # Each past sweep moved into this one's frame, with what of it the camera sees: the
            # free-space rule's input here, and cloud()'s for this sweep (kept until the next).
            for past, past_pose, keep in self.history:
                if past_pose is None:
                    continue
                moved = move_sweep(past.points, past_pose, pose, self.T_base_lidar).astype(np.float32, copy=False)
                seen = None if self._view is None else _in_view(moved, *self._view)
                hidden = np.zeros(len(moved), bool)
                self._moved[id(past)] = (moved, seen, hidden)
                if self._space is not None and keep.any():
                    idx = np.flatnonzero(keep if seen is None else keep & seen)
                    free, visible = self._space.test(moved.take(idx, 0))   # rows: take, not [idx]
                    if self.moving_rule:
                        # The free-space rule, once per pair: every past sweep against this one, from
                        # this one's own origin. A point stays dropped once any later sweep saw through
                        # it, and is counted once, here.
                        keep[idx] = free
                        self.counts["dropped_moving"] += int(len(idx) - free.sum())
                    # The occlusion rule's test from this sweep's origin, for cloud() (not kept beyond).
                    hidden[idx] = ~visible
                if self.photometric_rule and shades is not None and not tested and past.shade is not None \
                        and keep.any():
                    # The photometric rule, once per pair as well: every past sweep's points against
                    # this sweep's image, less those hidden from here (they show what hides them) and
                    # those outside the camera's view. A point stays dropped once any later image
                    # contradicts it.
                    idx = np.flatnonzero(keep & ~hidden if seen is None else keep & ~hidden & seen)
                    same = shades.keep(moved.take(idx, 0), past.shade[idx], self.shade_tolerance)
                    keep[idx[~same]] = False
                    self.counts["dropped_photometric"] += int((~same).sum())
        if shades is not None and pose is not None and not tested:
            self._tested = sweep.stamp_ns
        shade = replaced.shade if keep_shade else None if shades is None else shades.sample(points)
        self.history.append((Sweep(sweep.stamp_ns, points, sweep.rings, None, shade), pose,
                             np.ones(len(points), bool)))

    def _aligned(self, pose: np.ndarray, raw: np.ndarray, shades: CameraShades) -> np.ndarray:
        """The new sweep's pose corrected by its image: the past sweeps' points, moved by ``pose``
        into its camera, aligned to it by their brightness (:meth:`CameraShades.align`). The
        correction is kept for the sweeps after it (odometry drift is slow)."""
        points, shade, groups = [], [], []
        T_cam_newest = shades.T_cam_lidar
        for k, (past, past_pose, keep) in enumerate(self.history):
            if past_pose is None or past.shade is None:
                continue
            # At most ALIGN_POINTS of them in all, evenly from each sweep's points with a shade.
            idx = np.flatnonzero(keep & np.isfinite(past.shade))
            most = ALIGN_POINTS // len(self.history)
            if len(idx) > most:
                idx = idx[np.linspace(0, len(idx) - 1, most).astype(np.intp)]
            points.append(move_sweep(past.points.take(idx, 0), past_pose, pose, self.T_base_lidar, T_cam_newest))
            shade.append(past.shade[idx])
            groups.append(np.full(len(idx), k))
        T = None if not points else shades.align(np.concatenate(points), np.concatenate(shade), np.concatenate(groups))
        if T is None:
            self.counts["not_aligned"] += 1
            return pose
        # The camera really is where T says (T p: a point's true place in its frame): the base too.
        T_base_cam = self.T_base_lidar @ invert_transform(T_cam_newest)
        pose = pose @ T_base_cam @ invert_transform(T) @ invert_transform(T_base_cam)
        self._correction = pose @ invert_transform(raw)
        self.counts["aligned"] += 1
        return pose

    def cloud(self, stamp_ns: int | None = None, camera: tuple[np.ndarray, CameraIntrinsics] | None = None
              ) -> tuple[np.ndarray, np.ndarray | None, int]:
        """(points [N,3] in the LiDAR frame of the newest sweep, or of the robot at ``stamp_ns``
        when given (a held history), rings or None, how many past sweeps went in). With ``camera``
        (``T_cam_lidar``, the camera's intrinsics) only the past points in its view are kept, and of
        those the ones it cannot see are dropped (``occlusion_rule``). The newest sweep comes first
        and whole."""
        if camera is not None:
            self._view = camera
        if not self.history:
            return np.zeros((0, 3), np.float32), None, 0
        newest, newest_pose, _ = self.history[-1]
        target_pose = newest_pose
        if stamp_ns is not None and stamp_ns != newest.stamp_ns:
            # The robot's pose then exactly (carried on at its last velocity where the odometry lags),
            # not the nearest pose of another time.
            target_pose = self.odometry.exactly_at(stamp_ns, ahead_ns=self.tolerance_ns)
            if target_pose is not None:
                target_pose = self._correction @ target_pose
            if target_pose is None or newest_pose is None:
                return np.zeros((0, 3), np.float32), None, 0
        parts, used = [], 0
        for sweep, pose, free in self.history:
            is_newest, cached = sweep is newest, None
            if is_newest and target_pose is newest_pose:
                pts = sweep.points
            elif pose is None or target_pose is None:
                continue    # no odometry at its time: it cannot be moved
            else:
                cached = self._moved.get(id(sweep)) if target_pose is newest_pose else None
                pts = cached[0] if cached is not None else \
                    move_sweep(sweep.points, pose, target_pose, self.T_base_lidar).astype(np.float32)
                used += 0 if is_newest else 1
            rings = sweep.rings
            if not is_newest:
                # Past points outside the camera's view never reach it; the free-space rule (see
                # add) has dropped those that a later sweep saw through.
                if camera is None:
                    seen = np.ones(len(pts), bool)
                elif cached is not None and cached[1] is not None and _same_view(self._moved_view, camera):
                    seen = cached[1].copy()
                else:
                    seen = _in_view(pts, *camera)
                seen &= free
                if self.occlusion_rule and cached is not None:
                    # Hidden from the newest sweep's origin: rays on both sides stopped nearer (add
                    # tested the points in its camera's view).
                    hidden = seen & cached[2]
                    self.counts["dropped_hidden"] += int(hidden.sum())
                    seen &= ~hidden
                pts, rings = np.compress(seen, pts, 0), None if rings is None else rings[seen]
            parts.append((is_newest, pts, rings))
        if not parts:
            return np.zeros((0, 3), np.float32), None, 0
        # The newest first, then the past sweeps as one block, which the occlusion rule filters at once.
        parts.sort(key=lambda part: not part[0])
        points = np.concatenate([p for _, p, _ in parts])
        have_rings = all(r is not None for _, _, r in parts)
        ring_all = np.concatenate([r for _, _, r in parts]) if have_rings else None
        newest_n = len(parts[0][1]) if parts[0][0] else 0
        if self.occlusion_rule and camera is not None and len(points) > newest_n:
            T_cam_lidar, intrinsics = camera
            keep = hidden_keep(transform_points(T_cam_lidar, points), np.arange(len(points)) >= newest_n, intrinsics,
                               reach_deg=self.occlusion_reach_deg, gone_margin_rel=self.gone_margin_rel)
            self.counts["dropped_hidden"] += int((~keep).sum())
            points = np.compress(keep, points, 0)   # (rows by a mask: four times faster than points[keep])
            ring_all = None if ring_all is None else ring_all[keep]
        return points, ring_all, used
