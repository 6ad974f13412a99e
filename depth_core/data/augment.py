"""Training augmentation, applied consistently to image, ground truth, sparse input, ring map and
intrinsics, and the sparse-input sampling policies of the papers behind the models (listed in :mod:`depth_core`).

Photometric: colour jitter, channel swap (DenseDepth, p = 0.25), rectangular window dropping.
Geometric: rotation (+-5 deg, BTS/SAN), random crop, horizontal flip (all maps and K together;
a video sample's context frames and relative poses with them, and no rotation).
Sparse input: all LiDAR points, N random points (200 or 500, SAN on NYUv2; or a range), a fraction
(20 % or a range), beam subsampling by ring, SIFT-keypoint guiding points (FuSaNet), a Livox-style
rosette, or none (prediction); then, each with its probability, a blocked azimuth sector, a
miscalibrated extrinsic and motion between scan and image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ..geometry import (
    CameraIntrinsics,
    backproject,
    make_transform,
    project_points,
    resize_sparse_depth,
    scatter_nearest,
    transform_points,
)
from .sparse_patterns import lidar_pattern_sparse

__all__ = ["AugmentConfig", "SparseConfig", "augment_sample", "block_sector", "camera_scan", "livox_pattern_sparse",
           "move_sparse", "precise_scan", "sample_sparse"]


@dataclass
class AugmentConfig:
    crop: tuple[int, int] | None = (192, 320)   # (height, width) of training crops; None = whole image
    hflip: float = 0.5                           # probability
    rotate_deg: float = 5.0                      # uniform in +-rotate_deg
    rotate_p: float = 0.5
    brightness: float = 0.2                      # jitter ranges (multiplicative, +-)
    contrast: float = 0.2
    saturation: float = 0.2
    channel_swap: float = 0.25                   # probability of a random RGB permutation
    window_drop: float = 0.0                     # probability of blanking one random rectangle
    window_max: float = 0.3                      # its largest side, as a fraction of the crop
    # Probability that the network is shown a real-looking image that does not match the depth
    # (the crop rolled sideways by a quarter to three quarters of its width, and mirrored half the
    # time), with the ground truth and the LiDAR unchanged: what a completion meets when the
    # camera-only depth is wrong, as on images unlike its training ones. It must learn to follow
    # its LiDAR then. Not applied to video samples.
    image_mismatch: float = 0.0
    # Focal-length augmentation (canonical-camera models): every sample is resized, intrinsics and
    # sparse depth with it, by a zoom drawn log-uniformly in ``rescale`` (low, high), relative to
    # the size that gives ``rescale_pixels`` pixels when set (what the estimator resizes to).
    rescale: tuple[float, float] | None = None
    rescale_pixels: int | None = None


@dataclass
class SparseConfig:
    """Probabilities of each way to build the sparse input (normalised to sum to 1), and the
    corruptions a real scan adds to any of them (each with its own probability)."""

    modes: dict = field(default_factory=lambda: {"all": 0.35, "points": 0.15, "fraction": 0.2, "beams": 0.1,
                                                 "sift": 0.0, "livox": 0.0, "none": 0.2})
    points: tuple[int, ...] = (200, 500)
    points_range: tuple[int, int] | None = None      # (low, high): a count drawn log-uniformly instead
    points_from_scan: float = 0.0                     # probability: ``points`` drawn from the scan (its noise
    #                                                   with it), not from the denser ground truth
    fraction: float = 0.2
    fraction_range: tuple[float, float] | None = None   # (low, high): a fraction drawn uniformly instead
    beam_keep_every: tuple[int, ...] = (2, 4)
    sift_points: int = 500
    livox_points: tuple[int, int] = (2000, 20000)     # points of a non-repetitive scan, drawn log-uniformly
    blocked_sector: float = 0.0                       # probability: an azimuth band of 10-40 % of the width blocked
    miscalibration: float = 0.0                       # probability: the extrinsic rotated by up to
    miscalibration_deg: float = 1.0                   # this much about a random axis
    motion: float = 0.0                               # probability: the scan taken up to
    motion_s: float = 0.05                            # this long before the image,
    motion_speed: float = 15.0                        # by a robot at up to this speed (m/s)
    motion_yaw_rate_deg: float = 30.0                 # turning at up to this rate (deg/s)
    precise: float = 0.0                              # probability: the whole scan (input and held-out points)
    #                                                   takes the rendered depth at its pixels, with up to
    precise_noise: float = 0.005                      # this much relative Gaussian noise (drawn per frame)
    camera_scan: float = 0.0                          # probability: the scan is a spinning LiDAR at the camera
    camera_scan_beams: tuple[int, int] = (8, 40)      # centre with this many beams across the image (log-uniform),
    camera_scan_azimuth_deg: tuple[float, float] = (0.1, 0.4)   # this azimuth step, sampled from the rendered
    #                                                   depth with up to precise_noise of noise (camera_scan)

    def __post_init__(self) -> None:
        for name in ("blocked_sector", "miscalibration", "motion", "precise", "points_from_scan", "camera_scan"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"sparse.{name} is a probability, in [0, 1]; got {value}")
        if not 0.0 <= self.precise_noise <= 0.1:
            raise ValueError(f"sparse.precise_noise is a relative noise in [0, 0.1] (a precise sensor); "
                             f"got {self.precise_noise}")
        low, high = self.camera_scan_beams
        if not 1 <= low <= high:
            raise ValueError(f"sparse.camera_scan_beams is (low, high) with 1 <= low <= high; "
                             f"got {self.camera_scan_beams}")
        low, high = self.camera_scan_azimuth_deg
        if not 0 < low <= high:
            raise ValueError(f"sparse.camera_scan_azimuth_deg is (low, high) with 0 < low <= high; "
                             f"got {self.camera_scan_azimuth_deg}")


SPARSE_TRUTH = 0.5   # ground truth valid at fewer pixels than this is points (a LiDAR's), not an image


def _rescale(sample: dict, scale: float) -> dict:
    """Resize every map by ``scale``: the image anti-aliased, each sparse point moved to the pixel
    its centre falls in (never interpolated; the nearest wins) with its ring, dense ground truth by
    nearest neighbour and sparse ground truth (a LiDAR's points, valid at fewer than
    :data:`SPARSE_TRUTH` of the pixels) as points too, and K with the image (so metric depth stays
    true to the new focal length). Nearest-neighbour resizing of points keeps one pixel in
    ``1/scale²``: shrunk to the pixel budget, a 640x480 scan as ground truth kept 28 % of its points."""
    h, w = sample["depth"].shape
    nh, nw = max(8, round(h * scale)), max(8, round(w * scale))
    if (nh, nw) == (h, w):
        return sample
    out = dict(sample)
    out["rgb"] = cv2.resize(sample["rgb"], (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    gt = sample["depth"]
    out["depth"] = (cv2.resize(gt, (nw, nh), interpolation=cv2.INTER_NEAREST) if _dense(gt)
                    else resize_sparse_depth(gt, nh, nw))
    if sample.get("ring") is not None:
        out["sparse_depth"], out["ring"] = resize_sparse_depth(sample["sparse_depth"], nh, nw,
                                                               carry=sample["ring"].astype(np.int16), fill=-1)
    else:
        out["sparse_depth"] = resize_sparse_depth(sample["sparse_depth"], nh, nw)
    if sample.get("context") is not None:
        out["context"] = [cv2.resize(c, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
                          for c in sample["context"]]
    out["K"] = CameraIntrinsics.from_matrix(sample["K"], w, h).resized(nw, nh).K
    return out


def _rotate(sample: dict, angle: float) -> dict:
    """Roll the camera about its optical axis: rotate every map about the principal point.
    Depth (z) is unchanged by a roll, so only the pixels move."""
    K = sample["K"]
    h, w = sample["depth"].shape
    M = cv2.getRotationMatrix2D((float(K[0, 2]), float(K[1, 2])), angle, 1.0)
    out = dict(sample)
    out["rgb"] = cv2.warpAffine(sample["rgb"], M, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    # Points move (each to the pixel its rotated centre falls in, the nearest winning), as in
    # _rescale: warping them by nearest neighbour would drop some and copy others.
    out["depth"] = (cv2.warpAffine(sample["depth"], M, (w, h), flags=cv2.INTER_NEAREST, borderValue=0)
                    if _dense(sample["depth"]) else _move_points(sample["depth"], M)[0])
    out["sparse_depth"], ring = _move_points(sample["sparse_depth"], M, sample.get("ring"))
    if ring is not None:
        out["ring"] = ring
    return out


def _dense(gt: np.ndarray) -> bool:
    with np.errstate(invalid="ignore"):
        return np.count_nonzero(np.isfinite(gt) & (gt > 0)) >= SPARSE_TRUTH * gt.size


def _move_points(sparse: np.ndarray, M: np.ndarray, ring: np.ndarray | None = None):
    """The points of ``sparse`` [H,W] moved by the 2x3 affine ``M`` (pixel centres), each to the
    pixel it lands in, the nearest winning; those that leave the image are dropped. With ``ring``,
    also each kept point's ring (-1 elsewhere). Returns ``(sparse, ring or None)``."""
    h, w = sparse.shape
    with np.errstate(invalid="ignore"):
        rows, cols = np.nonzero(np.isfinite(sparse) & (sparse > 0))
    c = np.rint(M[0, 0] * cols + M[0, 1] * rows + M[0, 2]).astype(np.int64)
    r = np.rint(M[1, 0] * cols + M[1, 1] * rows + M[1, 2]).astype(np.int64)
    inside = (c >= 0) & (c < w) & (r >= 0) & (r < h)
    z = sparse[rows[inside], cols[inside]]
    if ring is None:
        return scatter_nearest(r[inside], c[inside], z, h, w), None
    return scatter_nearest(r[inside], c[inside], z, h, w, ring[rows[inside], cols[inside]].astype(np.int16), -1)


def _crop(sample: dict, size: tuple[int, int], rng: np.random.Generator) -> dict:
    ch, cw = size
    h, w = sample["depth"].shape
    if h < ch or w < cw:  # pad small images; padded pixels are invalid
        ph, pw = max(ch - h, 0), max(cw - w, 0)
        sample = dict(sample)
        sample["rgb"] = np.pad(sample["rgb"], ((0, ph), (0, pw), (0, 0)), mode="edge")
        if sample.get("context") is not None:
            sample["context"] = [np.pad(c, ((0, ph), (0, pw), (0, 0)), mode="edge") for c in sample["context"]]
        for key in ("depth", "sparse_depth"):
            sample[key] = np.pad(sample[key], ((0, ph), (0, pw)))
        if sample.get("ring") is not None:
            sample["ring"] = np.pad(sample["ring"], ((0, ph), (0, pw)), constant_values=-1)
        h, w = h + ph, w + pw
    y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    out = dict(sample)
    for key in ("rgb", "depth", "sparse_depth", "ring"):
        if out.get(key) is not None:
            out[key] = np.ascontiguousarray(out[key][y0:y0 + ch, x0:x0 + cw])
    if out.get("context") is not None:   # the same window: the context frames keep the frame's K
        out["context"] = [np.ascontiguousarray(c[y0:y0 + ch, x0:x0 + cw]) for c in out["context"]]
    K = sample["K"].copy()
    K[0, 2] -= x0
    K[1, 2] -= y0
    out["K"] = K
    return out


def _hflip(sample: dict) -> dict:
    out = dict(sample)
    for key in ("rgb", "depth", "sparse_depth", "ring"):
        if out.get(key) is not None:
            out[key] = np.ascontiguousarray(out[key][:, ::-1])
    if out.get("context") is not None:
        # A mirrored video is a mirrored world: every camera motion is conjugated by the mirror.
        out["context"] = [np.ascontiguousarray(c[:, ::-1]) for c in out["context"]]
        mirror = np.diag([-1.0, 1.0, 1.0, 1.0])
        out["T_ctx_cam"] = [mirror @ T @ mirror for T in out["T_ctx_cam"]]
    K = sample["K"].copy()
    K[0, 2] = sample["depth"].shape[1] - 1 - K[0, 2]
    out["K"] = K
    return out


def _photometric(rgb: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    img = rgb.astype(np.float32) / 255.0
    img *= rng.uniform(1 - cfg.brightness, 1 + cfg.brightness)
    mean = img.mean()
    img = (img - mean) * rng.uniform(1 - cfg.contrast, 1 + cfg.contrast) + mean
    grey = img.mean(axis=2, keepdims=True)
    img = (img - grey) * rng.uniform(1 - cfg.saturation, 1 + cfg.saturation) + grey
    if rng.uniform() < cfg.channel_swap:
        img = img[..., rng.permutation(3)]
    if rng.uniform() < cfg.window_drop:
        h, w = img.shape[:2]
        wh, ww = (max(1, int(rng.uniform(0.05, cfg.window_max) * s)) for s in (h, w))
        y, x = int(rng.integers(0, h - wh + 1)), int(rng.integers(0, w - ww + 1))
        img[y:y + wh, x:x + ww] = rng.uniform(0, 1, 3)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def augment_sample(sample: dict, cfg: AugmentConfig, rng: np.random.Generator) -> dict:
    """Geometric then photometric augmentation of a sample dict (see :class:`FrameDataset`)."""
    if cfg.rescale is not None:
        low, high = cfg.rescale
        h, w = sample["depth"].shape
        base = (cfg.rescale_pixels / (h * w)) ** 0.5 if cfg.rescale_pixels else 1.0
        sample = _rescale(sample, base * float(np.exp(rng.uniform(np.log(low), np.log(high)))))
    video = sample.get("context") is not None
    # A video sample is not rolled: its context frames would need the roll too (monodepth2 neither).
    if cfg.rotate_deg and rng.uniform() < cfg.rotate_p and not video:
        sample = _rotate(sample, float(rng.uniform(-cfg.rotate_deg, cfg.rotate_deg)))
    if cfg.crop is not None:
        sample = _crop(sample, tuple(cfg.crop), rng)
    if rng.uniform() < cfg.hflip:
        sample = _hflip(sample)
    sample = dict(sample)
    if video:   # the photometric loss compares the frames as recorded; only the network's input is jittered
        sample["rgb_clean"] = sample["rgb"]
    sample["rgb"] = _photometric(sample["rgb"], cfg, rng)
    if cfg.image_mismatch and not video and rng.uniform() < cfg.image_mismatch:
        sample["rgb"] = _mismatch(sample["rgb"], rng)
    return sample


def _mismatch(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The image rolled sideways by 1/4 to 3/4 of its width, mirrored half the time."""
    w = rgb.shape[1]
    out = np.roll(rgb, int(rng.integers(w // 4, 3 * w // 4 + 1)), axis=1)
    return np.ascontiguousarray(out[:, ::-1] if rng.uniform() < 0.5 else out)


def _relative_noise(values: np.ndarray, max_noise: float, rng: np.random.Generator) -> np.ndarray:
    """``values`` times ``1 + sigma * N(0, 1)`` per pixel, ``sigma`` drawn once from [0, max_noise]
    (a precise sensor's noise level, per frame)."""
    sigma = rng.uniform(0.0, max_noise)
    return values * (1.0 + sigma * rng.standard_normal(values.shape))


def precise_scan(sample: dict, cfg: SparseConfig, rng: np.random.Generator) -> dict:
    """With probability ``cfg.precise``, the sample's scan as a precise sensor measures it (a depth
    camera, a short-range solid-state LiDAR): each point takes the rendered depth at its pixel,
    with a relative Gaussian noise of up to ``cfg.precise_noise``, instead of the simulated
    LiDAR's range noise (0.5-4 cm, which on a surface 2 m away is 1-2 %). Where neighbouring
    measurements agree to within a few millimetres the nearest one is the best guess, where a
    noisy scan is better averaged; the completion learns both. Points with no rendered depth
    keep their value. No random number is drawn when ``cfg.precise`` is 0.

    Meant for simulated data, whose ``depth`` is rendered: on a recorded frame set the ground
    truth is itself measured (accumulated LiDAR, a depth camera), and this would only swap one
    measurement for another."""
    if not cfg.precise or rng.uniform() >= cfg.precise:
        return sample
    sparse, gt = sample["sparse_depth"], sample["depth"]
    with np.errstate(invalid="ignore"):
        use = (sparse > 0) & np.isfinite(gt) & (gt > 0)
    noisy = _relative_noise(gt, cfg.precise_noise, rng)
    out = dict(sample)
    out["sparse_depth"] = np.where(use, noisy, sparse).astype(np.float32)
    return out


def camera_scan(sample: dict, cfg: SparseConfig, rng: np.random.Generator) -> dict:
    """With probability ``cfg.camera_scan``, the sample's scan (and its ring map) replaced by a
    spinning LiDAR at the camera's centre, sampled from the rendered depth
    (:func:`~depth_core.data.sparse_patterns.lidar_pattern_sparse`): ``camera_scan_beams`` beams
    spread over the image's height (drawn log-uniformly), an azimuth step drawn from
    ``camera_scan_azimuth_deg``, a random firing phase, and a relative Gaussian noise of up to
    ``cfg.precise_noise`` (drawn per frame).

    Such a scan has no parallax and no range noise to speak of, and its rings are dense along the
    row: what a depth camera subsampled, or a LiDAR mounted at the camera, gives, and how the
    real kitchen's protocol makes its inputs. There the nearest measurement along a ring is
    nearly exact and a smooth blend across rings is not; the simulated rigs' LiDARs, offset from
    the camera and noisier, never show that. No random number is drawn when ``cfg.camera_scan``
    is 0. Meant for simulated data, whose ``depth`` is rendered."""
    if not cfg.camera_scan or rng.uniform() >= cfg.camera_scan:
        return sample
    low, high = cfg.camera_scan_beams
    beams = round(np.exp(rng.uniform(np.log(low), np.log(high))))
    step = float(rng.uniform(*cfg.camera_scan_azimuth_deg))
    # The pattern places a point only where the depth is finite and positive.
    sparse, ring = lidar_pattern_sparse(sample["depth"], sample["K"], beams, azimuth_step_deg=step,
                                        azimuth_offset_deg=float(rng.uniform(0, step)))
    noisy = _relative_noise(sparse, cfg.precise_noise, rng)
    out = dict(sample)
    out["sparse_depth"] = np.where(sparse > 0, noisy, 0).astype(np.float32)
    out["ring"] = ring
    return out


def _keep(sparse: np.ndarray, keep: np.ndarray) -> np.ndarray:
    return np.where(keep, sparse, 0).astype(np.float32)


def sample_sparse(sample: dict, cfg: SparseConfig, rng: np.random.Generator,
                  mode: str | None = None) -> tuple[np.ndarray, str]:
    """The sparse input of one training sample and the policy used, with the corruptions of
    ``cfg`` applied (a blocked azimuth sector, a miscalibrated extrinsic, motion between scan
    and image). ``beams`` without a ring map falls back to ``fraction``: the full scan would leave a
    model trained against that scan nothing to do but copy it."""
    sparse, mode = _pattern(sample, cfg, rng, mode)
    if mode == "none":
        return sparse, mode
    if cfg.blocked_sector and rng.uniform() < cfg.blocked_sector:
        sparse = block_sector(sparse, rng)
    rotation, translation = np.eye(3), np.zeros(3)
    if cfg.miscalibration and rng.uniform() < cfg.miscalibration:
        rotation = _rotation(rng.normal(size=3), np.radians(rng.uniform(-1, 1) * cfg.miscalibration_deg))
    if cfg.motion and rng.uniform() < cfg.motion:
        dt = rng.uniform(0, cfg.motion_s)
        # Forward (the optical axis) at the robot's speed, a little sideways; yaw about the camera's y axis.
        direction = np.array([rng.normal(0, 0.2), 0.0, 1.0])
        translation = translation + direction / np.linalg.norm(direction) * rng.uniform(-1, 1) * cfg.motion_speed * dt
        yaw = np.radians(rng.uniform(-1, 1) * cfg.motion_yaw_rate_deg * dt)
        rotation = _rotation(np.array([0.0, 1.0, 0.0]), yaw) @ rotation
    if not np.array_equal(rotation, np.eye(3)) or translation.any():
        sparse = move_sparse(sparse, sample["K"], rotation, translation)
    return sparse, mode


def _pattern(sample: dict, cfg: SparseConfig, rng: np.random.Generator,
             mode: str | None = None) -> tuple[np.ndarray, str]:
    modes = {k: v for k, v in cfg.modes.items() if v > 0}
    if mode is None:
        names, p = list(modes), np.array(list(modes.values()), dtype=np.float64)
        mode = str(rng.choice(names, p=p / p.sum()))
    sparse, gt = sample["sparse_depth"], sample["depth"]
    valid = sparse > 0
    if mode == "none":
        return np.zeros_like(sparse), mode
    if mode == "all":
        return sparse.astype(np.float32), mode
    if mode == "points":
        # N points drawn from the ground truth (SAN's NYUv2 protocol), else from the LiDAR; with
        # ``points_from_scan``, from the LiDAR as a sparse sensor gives them (its noise with them)
        from_scan = bool(cfg.points_from_scan) and rng.uniform() < cfg.points_from_scan
        source = gt if (gt > 0).sum() > valid.sum() and not from_scan else sparse
        idx = np.flatnonzero(source > 0)
        wanted = int(rng.choice(cfg.points)) if cfg.points_range is None else \
            round(np.exp(rng.uniform(np.log(cfg.points_range[0]), np.log(cfg.points_range[1]))))
        n = min(wanted, idx.size)
        chosen = rng.choice(idx, n, replace=False) if n else idx[:0]
        out = np.zeros(source.size, np.float32)
        out[chosen] = source.ravel()[chosen]
        return out.reshape(source.shape), mode
    if mode == "fraction":
        fraction = cfg.fraction if cfg.fraction_range is None else float(rng.uniform(*cfg.fraction_range))
        return _keep(sparse, valid & (rng.uniform(size=sparse.shape) < fraction)), mode
    if mode == "beams":
        ring = sample.get("ring")
        if ring is None:   # a cloud without a ring field (Livox, converted KITTI): part of it all the same
            return _pattern(sample, cfg, rng, "fraction")
        every = int(rng.choice(cfg.beam_keep_every))
        offset = int(rng.integers(0, every))
        return _keep(sparse, valid & (ring >= 0) & ((ring + offset) % every == 0)), mode
    if mode == "livox":
        return livox_pattern_sparse(sample, cfg, rng), mode
    if mode == "sift":
        grey = cv2.cvtColor(sample["rgb"], cv2.COLOR_RGB2GRAY)
        keypoints = cv2.SIFT_create(nfeatures=cfg.sift_points).detect(grey, None)
        out = np.zeros_like(gt, dtype=np.float32)
        for kp in keypoints:  # at most sift_points keypoints
            x, y = round(kp.pt[0]), round(kp.pt[1])
            if 0 <= y < gt.shape[0] and 0 <= x < gt.shape[1] and gt[y, x] > 0:
                out[y, x] = gt[y, x]
        return out, mode
    raise ValueError(f"sparse mode must be one of all, points, fraction, beams, sift, livox, none; got '{mode}'")


def livox_pattern_sparse(sample: dict, cfg: SparseConfig, rng: np.random.Generator) -> np.ndarray:
    """A Livox-style rosette scan: two counter-rotating Risley prisms deflect the beam by
    ``A (cos w1 t, sin w1 t) + A (cos w2 t, sin w2 t)``, sampled at random times over one period
    of the pattern (its phase random), in a circular field of view about twice the image's height
    across (``2 A``, clipped by the image), centred near the principal point; a real sensor's
    rosette drifts between sweeps, which the random phase and point count stand in for. Values
    from the ground truth where it is denser than the LiDAR, else the LiDAR's (a pattern point
    keeps the LiDAR points within a pixel of it)."""
    gt, lidar, K = sample["depth"], sample["sparse_depth"], sample["K"]
    h, w = gt.shape
    source = gt if (gt > 0).sum() > (lidar > 0).sum() else lidar
    n = round(np.exp(rng.uniform(np.log(cfg.livox_points[0]), np.log(cfg.livox_points[1]))))
    t = rng.uniform(0, 1, n) + rng.uniform()
    w1, w2 = 2 * np.pi * 17.0, -2 * np.pi * 11.0        # prism rates: 28 petals in one period
    radius = rng.uniform(0.45, 0.6) * h / K[1, 1]          # each prism's deflection (tangent units)
    x = radius * (np.cos(w1 * t) + np.cos(w2 * t)) + rng.normal(0, 0.1) * w / K[0, 0]
    y = radius * (np.sin(w1 * t) + np.sin(w2 * t))
    cols = np.floor(K[0, 2] + K[0, 0] * x + 0.5).astype(np.int64)
    rows = np.floor(K[1, 2] + K[1, 1] * y + 0.5).astype(np.int64)
    inside = (cols >= 0) & (cols < w) & (rows >= 0) & (rows < h)
    hit = np.zeros((h, w), np.uint8)
    hit[rows[inside], cols[inside]] = 1
    if source is lidar:   # the LiDAR's own points within a pixel of the pattern
        hit = cv2.dilate(hit, np.ones((3, 3), np.uint8))
    return np.where((hit > 0) & (source > 0), source, 0).astype(np.float32)


def block_sector(sparse: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The points of an azimuth sector (a band of 10-40 % of the image's columns) removed, as
    the robot's own body or a mast hides it from the LiDAR."""
    w = sparse.shape[1]
    band = round(rng.uniform(0.1, 0.4) * w)
    start = int(rng.integers(-band // 2, w - band // 2))
    out = sparse.copy()
    out[:, max(start, 0):max(start + band, 0)] = 0
    return out


def move_sparse(sparse: np.ndarray, K: np.ndarray, rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """Sparse depth [H,W] whose points were measured from a slightly different pose: each point
    ``X`` moved to ``R X + t`` in the camera frame and projected again (nearest wins)."""
    points = backproject(sparse.astype(np.float64), K)[sparse > 0]
    return project_points(transform_points(make_transform(rotation, translation), points), K, *sparse.shape)


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """The rotation by ``angle`` radians about ``axis`` (OpenCV's Rodrigues)."""
    return cv2.Rodrigues(axis / max(np.linalg.norm(axis), 1e-12) * angle)[0]
