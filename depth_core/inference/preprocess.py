"""Pre- and post-processing shared by every backend: input checks, resizing with consistent
intrinsics, sparse-depth resampling, and mapping the result back to the input resolution."""

from __future__ import annotations

import functools

import cv2
import numpy as np

from ..geometry import CameraIntrinsics, project_points, resize_sparse_depth, validate_intrinsic_matrix
from ..geometry.kernels import area_to_tensor

__all__ = ["InputError", "canonical_size", "check_inputs", "fit_size", "guided_upsample", "network_inputs",
           "prepare_inputs", "resize_sparse_depth", "restore_depth", "used_region"]


class InputError(ValueError):
    """An argument of ``predict`` has the wrong type, shape or value."""


def check_inputs(rgb, K, sparse_depth):
    """Validate ``predict``'s arguments; returns ``(rgb, K, sparse_depth)`` as arrays."""
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        desc = f"{rgb.dtype} {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise InputError(f"rgb: expected an RGB image [H,W,3] uint8, got {desc}")
    h, w = rgb.shape[:2]
    if h < 8 or w < 8:
        raise InputError(f"rgb: image of {w}x{h} is too small")
    try:
        K = validate_intrinsic_matrix(K, "K")
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if sparse_depth is not None:
        sparse_depth = np.asarray(sparse_depth)
        if sparse_depth.ndim == 3 and sparse_depth.shape[2] == 1:
            sparse_depth = sparse_depth[..., 0]
        if sparse_depth.shape != (h, w) or not np.issubdtype(sparse_depth.dtype, np.floating):
            raise InputError(f"sparse_depth: expected [H,W] = ({h}, {w}) float32 metres matching rgb, "
                             f"got {sparse_depth.dtype} {sparse_depth.shape}")
    return rgb, K, sparse_depth


def prepare_inputs(rgb: np.ndarray, K: np.ndarray, sparse_depth: np.ndarray | None, height: int, width: int):
    """Network inputs at ``height`` x ``width``: image [1,3,h,w] float32 in [0,1], sparse depth
    [1,1,h,w] float32 metres (0 = missing), the resized intrinsics, and the number of valid points."""
    return network_inputs(rgb, K, sparse_depth, (height, width), (height, width), None)[:4]


def used_region(height: int, width: int, net_height: int, net_width: int) -> tuple[int, int]:
    """The part of a ``height`` x ``width`` image (from its top left) that is resized to the
    network's ``net_height`` x ``net_width``: all of it, unless it shrinks by a factor k >= 2 that
    does not divide its sides; then the last ``side % k`` (< k) rows and columns are left out, so
    that the first step of :func:`_shrink` is an exact k x k average. The depth there is the
    edge's (:func:`restore_depth`)."""
    k = min(width // net_width, height // net_height)
    if k < 2 or (height < net_height or width < net_width):
        return height, width
    return height - height % k, width - width % k


@functools.lru_cache(maxsize=32)
def area_table(source: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OpenCV's INTER_AREA weights for shrinking ``source`` pixels to ``size`` along one axis (as
    its ``computeResizeAreaTab`` makes them: each output pixel covers ``source / size`` input
    pixels, partial ones at its ends by their overlap, overlaps under 1e-3 left out, the last cell
    clipped to the image): ``(first, taps, weights)``, per output pixel its first input pixel, how
    many it takes and their weights [size, most taps] float32. Made once per size."""
    scale = source / size
    cells = []
    for d in range(size):
        f1 = d * scale
        f2 = f1 + scale
        cell = min(scale, source - f1)
        s2 = min(int(np.floor(f2)), source - 1)
        s1 = min(int(np.ceil(f1)), s2)
        row = [(s1 - 1, (s1 - f1) / cell)] if s1 - f1 > 1e-3 else []
        row += [(s, 1.0 / cell) for s in range(s1, s2)]
        if f2 - s2 > 1e-3:
            row.append((s2, min(f2 - s2, 1.0, cell) / cell))
        cells.append(row)
    taps = np.array([len(row) for row in cells], np.int64)
    weights = np.zeros((size, int(taps.max())), np.float32)
    for d, row in enumerate(cells):
        weights[d, :len(row)] = [w for _, w in row]
    return np.array([row[0][0] for row in cells], np.int64), taps, weights


def _average(rgb: np.ndarray, height: int, width: int):
    """The first step of shrinking ``rgb`` to ``height`` x ``width`` (both smaller): where it
    shrinks by a factor k >= 2, the exact k x k average of the region used (OpenCV's fast
    INTER_AREA path); the image as it is otherwise. Returns it and the region used."""
    H, W = rgb.shape[:2]
    k = min(W // width, H // height)
    if k < 2:
        return rgb, (H, W)
    Hu, Wu = used_region(H, W, height, width)
    return cv2.resize(rgb[:Hu, :Wu], (Wu // k, Hu // k), interpolation=cv2.INTER_AREA), (Hu, Wu)


def _shrink(rgb: np.ndarray, height: int, width: int):
    """``rgb`` resized to ``height`` x ``width`` and the region of it used (see :func:`used_region`).

    Shrinking is anti-aliased (INTER_AREA). By a non-integer factor OpenCV's INTER_AREA takes its
    general path (1.3 ms for 1242x375 -> 512x155 on one core); an exact k x k average first (its
    fast path, 0.1 ms), then INTER_AREA by the rest (a factor under 2, on k² fewer pixels) take
    0.65 ms. On the suite's 1242x375 and 1280x720 rigs the default's AbsRel is the same either way
    (prediction 0.2504 against 0.2502, dense completion 0.1024 against 0.1034); the bilinear
    remainder (0.2 ms) measured 1.2 % worse prediction, so it is not used."""
    H, W = rgb.shape[:2]
    if height >= H or width >= W:
        return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_LINEAR), (H, W)
    small, used = _average(rgb, height, width)
    if small.shape[:2] != (height, width):
        small = cv2.resize(small, (width, height), interpolation=cv2.INTER_AREA)
    return small, used


def _network_image(rgb: np.ndarray, height: int, width: int, padded: tuple[int, int]):
    """``(image [1,3,ph,pw] float32 in [0, 1], the region of rgb used)``: :func:`_shrink`'s image,
    its padding the edge repeated, planar. Where the shrink ends in INTER_AREA by a non-integer
    factor (OpenCV's general path, about 2 ms for 1242x375 -> 512x155 after the 2x2 average), that
    step, the padding and the conversion are one compiled pass with the same grey levels
    (:func:`~depth_core.geometry.kernels.area_to_tensor`)."""
    H, W = rgb.shape[:2]
    used = (H, W)
    if height < H and width < W:
        rgb, used = _average(rgb, height, width)
        if rgb.shape[:2] != (height, width):
            image = np.empty((1, 3, *padded), np.float32)
            sh, sw = rgb.shape[:2]
            # Writable and contiguous (numba types a read-only image, a bag's say, as another type).
            area_to_tensor(np.require(rgb, requirements="CW"), *area_table(sw, width), *area_table(sh, height), image)
            return image, used
    elif (H, W) != (height, width):
        rgb, used = _shrink(rgb, height, width)
    if padded != (height, width):
        # Edge repeated: no artificial border for the network to see.
        rgb = cv2.copyMakeBorder(rgb, 0, padded[0] - height, 0, padded[1] - width, cv2.BORDER_REPLICATE)
    image = rgb.transpose(2, 0, 1)[None].astype(np.float32)   # one contiguous copy, scaled in place
    image *= np.float32(1 / 255)
    return image, used


def restore_depth(depth: np.ndarray, height: int, width: int, max_depth: float | None = None,
                  used: tuple[int, int] | None = None, guide: np.ndarray | None = None,
                  guide_small: np.ndarray | None = None) -> np.ndarray:
    """A network's depth [h,w] back at the input size, float32 metres, NaN where invalid
    (non-finite, <= 0, or beyond ``max_depth``). ``used``: the region of the input the network
    saw (:func:`used_region`); the rows and columns beyond it repeat its edge. ``guide``: the
    input image [H,W,3] uint8; with it, depth edges are upsampled guided by the image
    (:func:`guided_upsample`; ``guide_small``: the network's input image, if at hand), elsewhere
    bilinearly."""
    depth = np.asarray(depth, dtype=np.float32)
    if depth.shape != (height, width):
        uh, uw = used or (height, width)
        small = depth
        # Resized straight into the used region of the output (a new array), whose last rows and
        # columns then repeat its edge: no second full-size copy to add them (copyMakeBorder's; at
        # 1242x375, whose odd height leaves one row out of the used region, depth and confidence
        # restore 0.18 ms faster, paired).
        depth = np.empty((height, width), np.float32)
        region = depth[:uh, :uw]
        resized = cv2.resize(small, (uw, uh), dst=region, interpolation=cv2.INTER_LINEAR)
        if resized is not region:       # OpenCV wrote elsewhere (a region it cannot write in place)
            region[...] = resized
        if guide is not None and uh > small.shape[0] and uw > small.shape[1]:
            guided_upsample(region, small, guide, guide_small)
        if uh < height:
            depth[uh:, :uw] = region[uh - 1]
        if uw < width:
            depth[:, uw:] = depth[:, uw - 1:uw]
    else:
        depth = depth.copy()   # never write into the backend's output buffer
    with np.errstate(invalid="ignore"):
        invalid = ~np.isfinite(depth) | (depth <= 0)
        if max_depth is not None:
            invalid |= depth > max_depth
    depth[invalid] = np.nan
    return depth


# Guided upsampling: a 2x2 cell of the network's grid whose depths span more than EDGE_LOG_RANGE
# in log depth (about 10 %) holds a depth edge; a full-resolution pixel there weighs its four
# neighbours by how alike their grey levels are to its own (a Gaussian of GUIDE_SIGMA grey levels).
EDGE_LOG_RANGE = 0.1
GUIDE_SIGMA = 12.0
# Floored: a pixel unlike all four (a highlight, a thin wire) falls back to the bilinear weights, never 0 / 0.
_GUIDE_WEIGHT = np.maximum(np.exp(-np.arange(256) ** 2 / (2 * GUIDE_SIGMA ** 2)), 1e-30).astype(np.float32)


@functools.lru_cache(maxsize=8)
def _bilinear_cells(h: int, w: int, uh: int, uw: int):
    """Per axis of OpenCV's bilinear resize of [h,w] to [uh,uw]: each output row's (column's)
    fractional offset from the grid row (column) above (left of) it, and for each grid row
    (column) the first output row (column) that lies below it and how many do."""
    def axis(n, un):
        x = np.clip((np.arange(un) + 0.5) * n / un - 0.5, 0, n - 1)
        i = np.minimum(np.floor(x).astype(np.intp), n - 2)
        first = np.searchsorted(i, np.arange(n - 1))
        return (x - i).astype(np.float32), first, np.diff(np.append(first, un))
    return axis(h, uh) + axis(w, uw)


def guided_upsample(up: np.ndarray, small: np.ndarray, image: np.ndarray,
                    image_small: np.ndarray | None = None) -> None:
    """Joint bilateral upsampling at depth edges (Kopf et al., SIGGRAPH 2007), in place: ``up`` is
    ``small`` [h,w] resized bilinearly to [H,W], the top left of ``image``. Where a 2x2 cell of ``small`` spans a
    depth edge, bilinear interpolation puts depths between the two surfaces (in front of the far
    one, behind the near one) on the pixels of both; each such pixel takes instead the mean of the
    cell's four log depths weighted by their bilinear weights times the likeness of the pixel's
    grey level to the network's input image (``image_small`` [1,3,>=h,>=w] float in [0,1], as
    :func:`network_inputs` makes it; without it, ``image`` is shrunk as for the network), so it
    takes the side of the edge it looks like. Elsewhere ``up`` is left as it is. A uniform image
    gives equal likeness: bilinear in log depth.

    It touches only the edge cells' pixels (7-10 % of a street frame's): about 2.5 ms at 1242x375 on
    a loaded 2-core VM, against 0.3 ms for the bilinear resize; about 16 ms where every cell is an
    edge (a uniform-noise image)."""
    h, w = small.shape
    H, W = up.shape
    # A cell with a corner that is not a depth (<= 0, NaN, inf) is no edge: it stays bilinear.
    with np.errstate(divide="ignore", invalid="ignore"):
        log_small = np.where((small > 0) & np.isfinite(small), np.log(small), np.float32(np.nan))
    corners = (log_small[:-1, :-1], log_small[1:, :-1], log_small[:-1, 1:], log_small[1:, 1:])
    hi = np.maximum(np.maximum(corners[0], corners[1]), np.maximum(corners[2], corners[3]))
    lo = np.minimum(np.minimum(corners[0], corners[1]), np.minimum(corners[2], corners[3]))
    ci, cj = np.nonzero(hi - lo > EDGE_LOG_RANGE)
    if not len(ci):
        return
    fy, row0, rows, fx, col0, cols = _bilinear_cells(h, w, H, W)
    # Every output pixel of each edge cell. Where few cells are edges (a street: 7-10 %), the
    # cells' rows x columns listed cell after cell; where many are (foliage, a noisy image), the
    # edge map spread to the output's pixels and read in one pass, a third faster there and
    # twice as slow on a street. The same pixels either way.
    if len(ci) < 0.15 * (h - 1) * (w - 1):
        count = rows[ci] * cols[cj]
        cell = np.repeat(np.arange(len(ci)), count)
        k = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
        r = row0[ci][cell] + k // cols[cj][cell]
        c = col0[cj][cell] + k % cols[cj][cell]
        at0 = (ci * w + cj)[cell]
    else:
        edge = np.zeros((h - 1, w - 1), np.uint8)
        edge[ci, cj] = 1
        cell_row, cell_col = np.repeat(np.arange(h - 1), rows), np.repeat(np.arange(w - 1), cols)
        r, c = np.nonzero(edge.take(cell_row, axis=0).take(cell_col, axis=1))
        at0 = cell_row[r] * w + cell_col[c]
    # Grey levels (ITU-R 601, as OpenCV's) of the chosen pixels only, and of the network's input.
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    image = np.ascontiguousarray(image)
    # Channel by channel, not a matrix product: its float32 sums depend on where a pixel lies in
    # the array, and a grey level at exactly .5 would round either way with the order of the pixels.
    rgb_at = image.reshape(-1, 3).take(r * image.shape[1] + c, axis=0)
    pixel = (rgb_at[:, 0] * luma[0] + rgb_at[:, 1] * luma[1] + rgb_at[:, 2] * luma[2]).round().astype(np.int16)
    if image_small is None:
        grey_small = cv2.cvtColor(_shrink(image[:H, :W], h, w)[0], cv2.COLOR_RGB2GRAY).ravel().astype(np.int16)
    else:
        grey_small = (np.tensordot(luma * np.float32(255), image_small[0, :, :h, :w], 1) + 0.5).astype(np.int16).ravel()
    wy, wx = fy[r], fx[c]
    log_flat = log_small.ravel()
    num = np.zeros(len(r), np.float32)
    den = np.zeros(len(r), np.float32)
    for offset, ay, ax in ((0, 1 - wy, 1 - wx), (1, 1 - wy, wx), (w, wy, 1 - wx), (w + 1, wy, wx)):
        at = at0 + offset
        weight = ay * ax
        weight += np.float32(1e-3)
        weight *= _GUIDE_WEIGHT.take(np.abs(pixel - grey_small.take(at)))
        num += weight * log_flat.take(at)
        den += weight
    up[r, c] = np.exp(num / den)


def canonical_size(height: int, width: int, pixels: int | None, stride: int = 32):
    """Where a canonical-camera model runs an image of ``height`` x ``width``: a network input of
    multiples of ``stride`` near ``pixels`` pixels in the image's aspect ratio (each side rounded
    to the nearest multiple), the image resized keeping its aspect ratio to fit inside it, and the
    rest padded (less than one stride, on one side). None: the image's own size, padded up.
    Returns ``((resized h, w), (padded h, w))``."""
    if pixels is None:
        return (height, width), (-(-height // stride) * stride, -(-width // stride) * stride)
    scale = (pixels / (height * width)) ** 0.5
    ph, pw = (max(stride, round(n * scale / stride) * stride) for n in (height, width))
    return fit_size(height, width, (ph, pw)), (ph, pw)


def fit_size(height: int, width: int, padded: tuple[int, int]) -> tuple[int, int]:
    """The size an image of ``height`` x ``width`` is resized to, its aspect ratio kept, to fit
    inside a network input of ``padded`` (h, w); the rest is padded (see :func:`network_inputs`)."""
    fit = min(padded[0] / height, padded[1] / width)
    return min(padded[0], max(1, round(height * fit))), min(padded[1], max(1, round(width * fit)))


def network_inputs(rgb: np.ndarray, K: np.ndarray, sparse_depth: np.ndarray | None, resized: tuple[int, int],
                   padded: tuple[int, int], canonical_focal: float | None, sparse_points: np.ndarray | None = None):
    """Exactly what a network is fed for one image: the image resized to ``resized`` (h, w), the
    LiDAR (``sparse_depth`` at the image's size, or ``sparse_points`` [N,3] in the camera frame,
    projected straight at ``resized``), both in the network's units and padded to ``padded``.

    With a ``canonical_focal`` the sparse depth is scaled into the canonical camera (``d *
    canonical_focal / f``, f the resized image's focal length): the network never sees metric
    depth. Returns ``(image [1,3,ph,pw], sparse [1,1,ph,pw], K at resized, points used,
    to_canonical)``. The estimator and the INT8 calibration both prepare inputs here, so that
    what is calibrated is what runs.

    Each step has its reason: the image is resized and edge-padded as uint8 (a quarter of the
    bytes of float), then converted once to planar float32 (the layout the graph takes), or all
    of it in one compiled pass where the resize ends in a non-integer area shrink; the LiDAR
    is projected or re-binned straight at the network's size, into the padded array."""
    H, W = rgb.shape[:2]
    (h, w), (ph, pw) = resized, padded
    image, (Hu, Wu) = _network_image(rgb, h, w, (ph, pw))
    K_net = CameraIntrinsics.from_matrix(K, Wu, Hu).resized(w, h).K
    if sparse_points is not None:
        sparse = project_points(sparse_points, K_net, h, w)
    elif sparse_depth is None:
        sparse = None
    elif (H, W) != (h, w):
        sparse = resize_sparse_depth(sparse_depth[:Hu, :Wu], h, w)
    else:
        with np.errstate(invalid="ignore"):
            sparse = np.where(np.isfinite(sparse_depth) & (sparse_depth > 0), sparse_depth, 0).astype(np.float32)
    out = np.zeros((1, 1, ph, pw), np.float32)
    n_points = 0
    if sparse is not None:
        n_points = int(np.count_nonzero(sparse))
        out[0, 0, :h, :w] = sparse
    to_canonical = 1.0
    if canonical_focal is not None:
        to_canonical = canonical_focal / (0.5 * (K_net[0, 0] + K_net[1, 1]))
        if n_points:
            out *= np.float32(to_canonical)
    return image, out, K_net, n_points, to_canonical
