"""Compiled loops of the per-frame path: the accumulation's rules and alignment (:mod:`.sweeps`),
the z-buffer of :func:`~depth_core.geometry.project_points`, and the network image's area shrink
(:mod:`depth_core.inference.preprocess`).

Why compiled: these run on a few thousand to a few tens of thousands of points or pixels per call,
where numpy's fixed cost per operation, and a fresh temporary per operation, outweigh the
arithmetic. One Gauss-Newton pass of the alignment was about sixty numpy calls over 2,000 points
(0.3-0.5 ms); here it is one loop. Numba compiles them on first use (about 20 s for all of them)
and caches the machine code beside this file, or in the user's cache directory where that is
read-only (``NUMBA_CACHE_DIR`` chooses another), so a process pays the compilation once per
install, not per frame; :func:`warm_up` does it ahead of the first frame. Nothing here is a new
algorithm: each function says which numpy or OpenCV code it replaces, and the tests hold them to it.
"""
from __future__ import annotations

import logging
import math
import time

import numba
import numpy as np

__all__ = ["align_camera", "area_to_tensor", "free_space_grid", "free_space_test", "occlusion_verdicts",
           "occlusion_zbuffer", "shades_keep", "warm_up", "zbuffer"]

_JIT = {"nogil": True, "fastmath": False, "error_model": "numpy"}
log = logging.getLogger("depth_core.geometry")
_uncached: list[str] = []


def _compiled(function):
    """``numba.njit`` with its machine code cached on disk (beside this file, or in the user's
    cache directory); where neither can be written (a read-only install for a user without a
    home), compiled in every process instead, and said so once."""
    try:
        return numba.njit(cache=True, **_JIT)(function)
    except RuntimeError:    # numba: "cannot cache function ...: no locator available"
        if not _uncached:
            log.warning("numba cannot cache its compiled loops here (no writable cache directory; set "
                        "NUMBA_CACHE_DIR): each process compiles them anew, about 20 s at its start")
        _uncached.append(function.__name__)
        return numba.njit(cache=False, **_JIT)(function)


@_compiled
def _taps(u: float, v: float):
    """Where ``cv2.remap(..., INTER_LINEAR)`` reads a float32 image at (u, v) given as float32
    maps: the top-left pixel and the two fractions, in float32 as it takes them."""
    u32, v32 = np.float32(u), np.float32(v)
    x0, y0 = math.floor(u32), math.floor(v32)
    return int(x0), int(y0), np.float32(u32 - np.float32(x0)), np.float32(v32 - np.float32(y0))


@_compiled
def _bilinear(image, x0: int, y0: int, ax, ay) -> float:
    """The image between its pixels (x0, y0) and (x0 + 1, y0 + 1), bilinear weights in float32."""
    one = np.float32(1.0)
    w00, w01 = (one - ay) * (one - ax), (one - ay) * ax
    w10, w11 = ay * (one - ax), ay * ax
    return float(image[y0, x0] * w00 + image[y0, x0 + 1] * w01 + image[y0 + 1, x0] * w10 + image[y0 + 1, x0 + 1] * w11)


@_compiled
def _sobel(image, y: int, x: int):
    """``cv2.Sobel(image, CV_32F, 1, 0)`` and ``(0, 1)`` at one interior pixel, scaled by 1/8."""
    gx = ((image[y - 1, x + 1] - image[y - 1, x - 1]) + np.float32(2.0) * (image[y, x + 1] - image[y, x - 1])
          + (image[y + 1, x + 1] - image[y + 1, x - 1]))
    gy = ((image[y + 1, x - 1] - image[y - 1, x - 1]) + np.float32(2.0) * (image[y + 1, x] - image[y - 1, x])
          + (image[y + 1, x + 1] - image[y - 1, x + 1]))
    return gx * np.float32(0.125), gy * np.float32(0.125)


@_compiled
def _median_inplace(values):
    """The median of a non-empty 1-D array as ``np.median`` gives it, in its dtype (the mean of
    the two middle values where their count is even); reorders the array (a quickselect)."""
    n = len(values)
    k = (n - 1) // 2
    left, right = 0, n - 1
    while left < right:     # Hoare's selection: values[k] ends as the k-th smallest
        pivot = values[(left + right) // 2]
        i, j = left, right
        while i <= j:
            while values[i] < pivot:
                i += 1
            while values[j] > pivot:
                j -= 1
            if i <= j:
                values[i], values[j] = values[j], values[i]
                i += 1
                j -= 1
        if k <= j:
            right = j
        elif k >= i:
            left = i
        else:
            break
    lower = values[k]
    if n % 2:
        return lower
    upper = values[k + 1]
    for i in range(k + 2, n):     # everything after the k-th smallest is no smaller than it
        upper = min(upper, values[i])
    return (lower + upper) / values.dtype.type(2)


@_compiled
def _rodrigues(w):
    """``cv2.Rodrigues`` of a rotation vector: the rotation matrix (identity below machine epsilon)."""
    theta = math.sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2])
    R = np.eye(3)
    if theta < 2.220446049250313e-16:
        return R
    c, s = math.cos(theta), math.sin(theta)
    c1, it = 1.0 - c, 1.0 / theta
    x, y, z = w[0] * it, w[1] * it, w[2] * it
    R[0, 0], R[0, 1], R[0, 2] = c + c1 * x * x, c1 * x * y - s * z, c1 * x * z + s * y
    R[1, 0], R[1, 1], R[1, 2] = c1 * x * y + s * z, c + c1 * y * y, c1 * y * z - s * x
    R[2, 0], R[2, 1], R[2, 2] = c1 * x * z - s * y, c1 * y * z + s * x, c + c1 * z * z
    return R


@_compiled
def _solve6(A, b):
    """x with A x = b for a 6x6 system (Gaussian elimination, partial pivoting)."""
    n = 6
    M = A.copy()
    x = b.copy()
    for k in range(n):
        p = k
        for i in range(k + 1, n):
            if abs(M[i, k]) > abs(M[p, k]):
                p = i
        if p != k:
            for j in range(n):
                M[k, j], M[p, j] = M[p, j], M[k, j]
            x[k], x[p] = x[p], x[k]
        for i in range(k + 1, n):
            f = M[i, k] / M[k, k]
            for j in range(k, n):
                M[i, j] -= f * M[k, j]
            x[i] -= f * x[k]
    for k in range(n - 1, -1, -1):
        acc = x[k]
        for j in range(k + 1, n):
            acc -= M[k, j] * x[j]
        x[k] = acc / M[k, k]
    return x


@_compiled
def align_camera(P, s, groups, level, fx: float, fy: float, cx: float, cy: float,
                 iterations: int, converged_rotation: float, converged_translation: float):
    """:meth:`~depth_core.geometry.CameraShades.align`'s Gauss-Newton, every pass one loop over the
    points: ``P`` [N,3] float64 (this camera's frame as the odometry puts them), ``s`` [N] their log
    brightness, ``groups`` [N] int64 the image of each (sorted: each group one run), ``level`` the
    float32 log image at the pyramid level it aligns on, with its camera. Returns ``(T, enough,
    first, cost)``: the motion found, False where fewer than 200 points landed in the image on a
    pass (then T is meaningless), and the robust cost where the odometry put the points and where T
    puts them. Each pass: bilinear samples of the image and its Sobel gradients as ``cv2.remap``
    gives them, each image's median brightness difference taken out, Huber weights (1.5 x the
    first pass's robust spread; none beyond 5 x), and a damped 6x6 normal-equation step."""
    n_all = P.shape[0]
    rows, cols = level.shape
    T = np.eye(4)
    Q = np.empty((n_all, 3))
    r = np.empty(n_all)
    X0 = np.empty(n_all, np.int64)
    Y0 = np.empty(n_all, np.int64)
    AX = np.empty(n_all, np.float32)
    AY = np.empty(n_all, np.float32)
    member = np.empty(n_all, np.int64)
    scratch = np.empty(n_all)
    first, cost, spread = np.nan, np.nan, 0.0
    last = iterations
    for iteration in range(iterations + 1):
        # Where each point lands; those well inside the image (bilinear taps and gradients inside).
        n = 0
        for i in range(n_all):
            qx = T[0, 0] * P[i, 0] + T[0, 1] * P[i, 1] + T[0, 2] * P[i, 2] + T[0, 3]
            qy = T[1, 0] * P[i, 0] + T[1, 1] * P[i, 1] + T[1, 2] * P[i, 2] + T[1, 3]
            qz = T[2, 0] * P[i, 0] + T[2, 1] * P[i, 1] + T[2, 2] * P[i, 2] + T[2, 3]
            if not qz > 0.5:
                continue
            u, v = fx * qx / qz + cx, fy * qy / qz + cy
            if not (u > 1 and u < cols - 2 and v > 1 and v < rows - 2):
                continue
            Q[n, 0], Q[n, 1], Q[n, 2] = qx, qy, qz
            X0[n], Y0[n], AX[n], AY[n] = _taps(u, v)
            r[n] = _bilinear(level, X0[n], Y0[n], AX[n], AY[n]) - s[i]
            member[n] = groups[i]
            n += 1
        if n < 200:
            return T, False, first, cost
        # Each image's exposure against this one's: the median difference of its points (a run each).
        start = 0
        while start < n:
            end = start
            while end < n and member[end] == member[start]:
                end += 1
            scratch[:end - start] = r[start:end]
            offset = _median_inplace(scratch[:end - start])
            for k in range(start, end):
                r[k] -= offset
            start = end
        if iteration == 0:      # the robust scale where the odometry put the points, kept for the cost
            for k in range(n):
                scratch[k] = abs(r[k])
            spread = 1.4826 * _median_inplace(scratch[:n]) + 1e-4
        # The mean Huber cost of all the points (those outside the image at their worst).
        inner, outer = 1.5 * spread, 5 * spread
        total = 0.0
        for k in range(n):
            a = abs(r[k])
            total += 0.5 * a * a if a <= inner else inner * (min(a, outer) - 0.75 * spread)
        cost = (total + (n_all - n) * inner * 4.25 * spread) / n_all
        if iteration == 0:
            first = cost
        if iteration == last:
            break
        H = np.zeros((6, 6))
        b = np.zeros(6)
        J = np.empty(6)
        for k in range(n):
            a = abs(r[k])
            if a > outer:
                continue
            w = 1.0 if a <= inner else inner / max(a, 1e-12)
            # The gradients at the point: remap's bilinear blend of the Sobel images' four taps.
            # A tap of weight 0 is not read: a point just inside the last interior row or column
            # (by float64) can sit on it in float32, and its Sobel there would read past the image.
            x0, y0, ax, ay = X0[k], Y0[k], AX[k], AY[k]
            zero = np.float32(0.0)
            g00x, g00y = _sobel(level, y0, x0)
            g01x, g01y = _sobel(level, y0, x0 + 1) if ax != 0 else (zero, zero)
            g10x, g10y = _sobel(level, y0 + 1, x0) if ay != 0 else (zero, zero)
            g11x, g11y = _sobel(level, y0 + 1, x0 + 1) if ax != 0 and ay != 0 else (zero, zero)
            one = np.float32(1.0)
            w00, w01 = (one - ay) * (one - ax), (one - ay) * ax
            w10, w11 = ay * (one - ax), ay * ax
            gx = float(g00x * w00 + g01x * w01 + g10x * w10 + g11x * w11)
            gy = float(g00y * w00 + g01y * w01 + g10y * w10 + g11y * w11)
            qx, qy, qz = Q[k, 0], Q[k, 1], Q[k, 2]
            dx, dy = gx * fx / qz, gy * fy / qz
            dz = -(gx * fx * qx + gy * fy * qy) / (qz * qz)
            J[0], J[1], J[2] = qy * dz - qz * dy, qz * dx - qx * dz, qx * dy - qy * dx
            J[3], J[4], J[5] = dx, dy, dz
            for i in range(6):
                wj = w * J[i]
                b[i] += wj * r[k]
                for j in range(i, 6):
                    H[i, j] += wj * J[j]
        for i in range(6):
            H[i, i] += 1e-6
            for j in range(i):
                H[i, j] = H[j, i]
        step = _solve6(H, b)
        # T <- dT T, dT the small motion: rotation exp(-step[:3]), translation -step[3:].
        R = _rodrigues(-step[:3])
        moved = np.empty((4, 4))
        for i in range(3):
            for j in range(4):
                moved[i, j] = R[i, 0] * T[0, j] + R[i, 1] * T[1, j] + R[i, 2] * T[2, j]
            moved[i, 3] -= step[3 + i]
        moved[3, :] = T[3, :]
        T = moved
        # Converged: a step under the thresholds (radians, metres) is below what the image can
        # tell; the last pass measures where it ended.
        if max(abs(step[0]), abs(step[1]), abs(step[2])) < converged_rotation and \
                max(abs(step[3]), abs(step[4]), abs(step[5])) < converged_translation:
            last = iteration + 1
    return T, True, first, cost


@_compiled
def _truncate(x) -> int:
    """``np.float32(x).astype(np.int32)`` as numpy gives it on x86: toward zero, and the "integer
    indefinite" -2**31 where it is NaN or beyond int32 (numba's own conversion leaves those undefined)."""
    if not (x > -2147483649.0 and x < 2147483648.0):
        return -2147483648
    return int(x)


@_compiled
def _cell(azimuth, elevation, n_az: int, az_scale, el_scale):
    """:class:`~depth_core.geometry.FreeSpace`'s cell of one point: its elevation row and azimuth
    column from ``cv2.cartToPolar``'s float32 angles (0..2pi, made -pi..pi), in float32, on cells
    centred on multiples of the steps (``az_scale``, ``el_scale``: their inverses)."""
    pi, two_pi, half = np.float32(np.pi), np.float32(2 * np.pi), np.float32(0.5)
    if azimuth >= pi:
        azimuth -= two_pi
    if elevation >= pi:
        elevation -= two_pi
    return _truncate((elevation + pi / np.float32(2.0)) * el_scale + half), \
        _truncate((azimuth + pi) * az_scale + half) % n_az


@_compiled
def free_space_grid(azimuth, elevation, rng, n_az: int, az_scale, el_scale):
    """:class:`~depth_core.geometry.FreeSpace`'s grid from its sweep's points' float32 angles and
    ranges (``cv2.cartToPolar``'s; points whose range is not finite left out): ``(lo, rows, start,
    near, below, above)``, the lowest row, the rows that hold a return (int32, relative to ``lo``),
    the first column of the azimuths covered (after the widest empty arc), the nearest return per
    (row slot, column), and per (slot, column) the slot of the nearest occupied one at or below /
    at or above it (-1 / k where none). What numpy made in a dozen passes (bincounts, the arcs, a
    minimum.at, two running extrema), in three over the points and one over the grid."""
    n = len(rng)
    row_of = np.empty(n, np.int64)
    col_of = np.empty(n, np.int64)
    ranges = np.empty(n, np.float32)
    m = 0
    lo, hi = 0, -1
    for i in range(n):
        if not math.isfinite(rng[i]):
            continue
        row_of[m], col_of[m] = _cell(azimuth[i], elevation[i], n_az, az_scale, el_scale)
        ranges[m] = rng[i]
        if m == 0 or row_of[m] < lo:
            lo = row_of[m]
        if m == 0 or row_of[m] > hi:
            hi = row_of[m]
        m += 1
    slot = np.full(max(hi - lo + 1, 0), -1, np.int32)
    for j in range(m):
        slot[row_of[j] - lo] = 0
    k = 0
    for r in range(len(slot)):
        if slot[r] == 0:
            slot[r] = k
            k += 1
    rows = np.empty(k, np.int32)
    for r in range(len(slot)):
        if slot[r] >= 0:
            rows[slot[r]] = r
    start, width = 0, n_az
    if m:
        count = np.zeros(n_az, np.int64)
        for j in range(m):
            count[col_of[j]] += 1
        used = np.flatnonzero(count)
        # The widest empty arc (the first of equals), the wrap-around one last.
        widest, gap = 0, -1
        for u in range(len(used)):
            g = (used[u + 1] if u + 1 < len(used) else used[0] + n_az) - used[u]
            if g > gap:
                widest, gap = u, g
        if gap > 1:
            start = used[(widest + 1) % len(used)]
            width = n_az - gap + 1
    near = np.full((k, width), np.inf, np.float32)
    for j in range(m):
        s, c = slot[row_of[j] - lo], (col_of[j] - start) % n_az
        if ranges[j] < near[s, c]:
            near[s, c] = ranges[j]
    below = np.empty((k, width), np.int32)
    above = np.empty((k, width), np.int32)
    for c in range(width):
        last = -1
        for s in range(k):
            if math.isfinite(near[s, c]):
                last = s
            below[s, c] = last
        last = k
        for s in range(k - 1, -1, -1):
            if math.isfinite(near[s, c]):
                last = s
            above[s, c] = last
    return lo, rows, start, near, below, above


@_compiled
def free_space_test(azimuth, elevation, rng, n_az: int, az_scale, el_scale, lo: int, start: int, rows, below,
                    above, near, gap: int, factor_keep, margin_keep, factor_visible, margin_visible):
    """:meth:`~depth_core.geometry.FreeSpace.test` after ``cv2.cartToPolar``: each point's
    ``azimuth`` and ``elevation`` (float32, 0..2pi as cv2 gives them) and ``rng`` (float32) made its
    cell as :func:`free_space_grid` makes it (in float32, cells centred on
    multiples of the steps; ``az_scale``, ``el_scale`` their inverses), relative to the grid's
    lowest row ``lo`` and first column ``start``, then looked up: ``rows`` the grid rows with
    returns, ``below`` / ``above`` per (row slot, column) the nearest slot at or below / above with
    a return, ``near`` the nearest return per (slot, column). Returns ``(keep, visible)``: not in
    free space (every ray beside the point, and its own cell's, passed it by the margin) and not
    hidden (both rays beside it stopped nearer). The margins are float32, as numpy's arithmetic on
    the float32 ranges made them. One pass instead of numpy's dozen over the points."""
    n = len(rng)
    k, width = near.shape
    keep = np.ones(n, np.bool_)
    visible = np.ones(n, np.bool_)
    for i in range(n):
        if math.isnan(rng[i]):          # a NaN coordinate: in no row
            continue
        row, col = _cell(azimuth[i], elevation[i], n_az, az_scale, el_scale)
        row, col = row - lo, (col - start) % n_az
        if col >= width:
            continue
        # The rows with returns strictly below and strictly above the point's own.
        under = np.searchsorted(rows, row, "left") - 1
        over = np.searchsorted(rows, row, "right")
        if under < 0 or over >= k:
            continue
        lower, upper = below[under, col], above[over, col]
        if lower < 0 or upper >= k or row - rows[lower] > gap or rows[upper] - row > gap:
            continue
        ray_below, ray_above = near[lower, col], near[upper, col]
        nearest, farthest = min(ray_below, ray_above), max(ray_below, ray_above)
        if over - under == 2:       # its own row has returns: its own cell's too
            nearest = min(nearest, near[under + 1, col])
        keep[i] = nearest <= rng[i] * factor_keep + margin_keep
        visible[i] = farthest >= rng[i] * factor_visible - margin_visible
    return keep, visible


@_compiled
def zbuffer(points, work, K, height: int, width: int, min_depth: float, with_index: bool):
    """:func:`~depth_core.geometry.project_points`' loop: ``points`` [N,3] (float32 or float64),
    each taken in the precision of ``work`` (an empty array: float64, or float32 for
    ``exact=False``; float32 to float64 is exact), each pixel ``floor((fx x + s y) / z + cx +
    0.5)``, ``floor(fy y / z + cy + 0.5)`` computed in that precision in the order numpy's
    expression computed it (the same pixels, bit for bit), the nearest float32 depth per pixel
    (flat, inf where none) and, ``with_index``, the last of the points at that depth (int32 [h*w],
    -1 where none; an empty array otherwise)."""
    real = work.dtype.type
    fx, skew, cx = real(K[0, 0]), real(K[0, 1]), real(K[0, 2])
    fy, cy = real(K[1, 1]), real(K[1, 2])
    nearest, half = real(min_depth), real(0.5)
    depth = np.full(height * width, np.inf, np.float32)
    index = np.full(height * width if with_index else 0, -1, np.int32)
    for i in range(points.shape[0]):
        x, y, z = real(points[i, 0]), real(points[i, 1]), real(points[i, 2])
        if not (z > nearest and z < np.inf):
            continue
        col = x * fx
        if skew != 0:
            col += skew * y
        u = col / z + cx + half       # floor(u) in [0, width) exactly when u is (NaN is not)
        v = y * fy / z + cy + half
        if not (u >= 0 and u < width and v >= 0 and v < height):
            continue
        p = math.floor(v) * width + math.floor(u)
        d = np.float32(z)
        if d < depth[p]:
            depth[p] = d
            if with_index:
                index[p] = i
        elif with_index and d == depth[p]:
            index[p] = i
    return depth, index


@_compiled
def occlusion_zbuffer(points, candidates, K, height: int, width: int):
    """The z-buffer of :func:`~depth_core.geometry.hidden_keep`: the points [N,3] (camera optical
    frame) more than 0.1 m ahead, projected as ``project_points(..., exact=False)`` projects them
    (pixels in float32, floored at their edges; the nearest point wins a pixel, the last of equals).
    Returns ``(near, newest, pixels, owners)``: the nearest depth per pixel (flat, inf where none),
    the same where a point that is not a candidate won (the newest sweep's), and the pixels that
    candidates won with the point that won each, in the points' order. Only the points are
    walked after the z-buffer, not the grid."""
    f32 = np.float32
    fx, skew, cx = f32(K[0, 0]), f32(K[0, 1]), f32(K[0, 2])
    fy, cy = f32(K[1, 1]), f32(K[1, 2])
    n = points.shape[0]
    near = np.full(height * width, np.inf, np.float32)
    index = np.empty(height * width, np.int32)     # read only where a point landed (near is finite)
    pixel = np.full(n, -1, np.int32)
    closest, half = f32(1e-3), f32(0.5)
    ahead = points.dtype.type(0.1)      # ahead in the points' own precision, then projected in float32
    for i in range(n):
        if not points[i, 2] > ahead:
            continue
        z = f32(points[i, 2])
        if not (z > closest and z < np.inf):
            continue
        x, y = f32(points[i, 0]), f32(points[i, 1])
        col = x * fx
        if skew != 0:
            col += skew * y
        u = (col / z + cx) + half           # floor(u) in [0, width) exactly when u is (NaN is not)
        v = (y * fy / z + cy) + half
        if not (u >= 0 and u < width and v >= 0 and v < height):
            continue
        p = math.floor(v) * width + math.floor(u)
        pixel[i] = p
        if z < near[p]:
            near[p] = z
            index[p] = i
        elif z == near[p]:
            index[p] = i
    newest = np.full(height * width, np.inf, np.float32)
    count = 0
    for i in range(n):
        p = pixel[i]
        if p >= 0 and index[p] == i:
            if candidates[i]:
                count += 1
            else:
                newest[p] = near[p]
    pixels = np.empty(count, np.int64)
    owners = np.empty(count, np.int64)
    count = 0
    for i in range(n):
        p = pixel[i]
        if p >= 0 and candidates[i] and index[p] == i:
            pixels[count], owners[count] = p, i
            count += 1
    return near, newest, pixels, owners


@_compiled
def occlusion_verdicts(keep, near, around, across, down, pixels, owners, reach_x: int, reach_y: int,
                       margin_rel: float, gone_margin_rel: float) -> None:
    """:func:`~depth_core.geometry.hidden_keep`'s verdicts, written into ``keep`` [N] for the
    candidates' ``owners`` of ``pixels`` (flat, in ``near`` [h,w], the z-buffer): hidden where the
    nearest depths left and right of the pixel (``across``: minima over ``reach_x`` columns ending
    at each pixel, on the grid widened by ``reach_x`` columns of inf) or above and below it
    (``down``: over ``reach_y`` rows, widened by ``reach_y`` rows) are both nearer than its depth by
    ``margin_rel``; gone where the newest sweep's nearest return around it (``around``, flat) is
    farther by more than ``gone_margin_rel``. In float32, as numpy computed them."""
    width = near.shape[1]
    hidden_factor, gone_factor = np.float32(1 + margin_rel), np.float32(1 + gone_margin_rel)
    for j in range(len(pixels)):
        p = pixels[j]
        r, c = p // width, p % width
        d = near[r, c]
        limit = d / hidden_factor
        left = across[r, c - 1] if c >= 1 else np.inf
        above = down[r - 1, c] if r >= 1 else np.inf
        hidden = (left < limit and across[r, c + reach_x] < limit) or (above < limit and down[r + reach_y, c] < limit)
        newest = around[p]
        if hidden or (np.isfinite(newest) and newest > d * gone_factor):
            keep[owners[j]] = False


@_compiled
def shades_keep(cam, shade, fx: float, fy: float, cx: float, cy: float, grey, reach: int,
                table, adaptive: bool, tolerance: float, tolerance_max: float, spread: float):
    """:meth:`~depth_core.geometry.CameraShades.keep` after the points are in the camera's frame
    (``cam`` [N,3]): each lands on the pixel nearest its projection (in the points' precision, as
    numpy's arithmetic on them with the intrinsics as Python numbers gives it); those in the image
    with a shade are compared, the exposure change (their median difference) taken out, with the
    tolerance given, or with ``adaptive`` ``spread`` x their robust spread within [``tolerance``,
    ``tolerance_max``]. ``grey``: the image (uint8 [H,W]); the darkest and brightest of
    its pixels within ``reach`` of a point's, one grey level wider each way (saturating, as
    ``cv2.erode`` / ``cv2.dilate`` and ``cv2.subtract`` / ``cv2.add`` made them over the whole
    image), are read at the points only. ``table``: the grey levels' log brightness."""
    # In the points' and the shades' own precision, as numpy computed with Python numbers.
    real, shaded = cam.dtype.type, shade.dtype.type
    fx_, fy_, cx_, cy_ = real(fx), real(fy), real(cx), real(cy)
    height, width = grey.shape
    n = cam.shape[0]
    keep = np.ones(n, np.bool_)
    which = np.empty(n, np.int64)
    pixel = np.empty(n, np.int64)
    d = np.empty(n, shade.dtype)
    m = 0
    for i in range(n):
        z = cam[i, 2]
        inv = real(1.0) / z
        u = np.rint(fx_ * cam[i, 0] * inv + cx_)
        v = np.rint(fy_ * cam[i, 1] * inv + cy_)
        if not (z > real(0.1) and u >= 0 and u < width and v >= 0 and v < height and np.isfinite(shade[i])):
            continue
        p = int(v) * width + int(u)
        which[m], pixel[m], d[m] = i, p, shade[i] - table[grey[int(v), int(u)]]
        m += 1
    if m < 10:      # too few to measure the exposure change by
        return keep
    scratch = d[:m].copy()
    offset = shaded(_median_inplace(scratch))
    if adaptive:
        for j in range(m):
            scratch[j] = abs(d[j] - offset)
        tolerance = min(max(spread * 1.4826 * float(_median_inplace(scratch)), tolerance), tolerance_max)
    tol = np.float32(tolerance)     # the thresholds in float32, as the darkest and brightest are
    for j in range(m):
        i, p = which[j], pixel[j]
        row, col = p // width, p % width
        darkest, brightest = 255, 0
        for y in range(max(row - reach, 0), min(row + reach + 1, height)):
            for x in range(max(col - reach, 0), min(col + reach + 1, width)):
                level = int(grey[y, x])
                darkest, brightest = min(darkest, level), max(brightest, level)
        s = shade[i] - offset
        if s < table[max(darkest - 1, 0)] - tol or s > table[min(brightest + 1, 255)] + tol:
            keep[i] = False
    return keep


@_compiled
def area_to_tensor(image, columns, column_taps, column_weights, rows, row_taps, row_weights, out) -> None:
    """``cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)`` of a uint8 [H,W,3] image
    (shrinking), written as the network takes it: planar float32 in [0, 1] into ``out``
    [1,3,ph,pw], the padding the last row and column repeated (``cv2.copyMakeBorder``'s
    BORDER_REPLICATE). The weights are OpenCV's (:func:`~depth_core.inference.preprocess.area_table`:
    per output column its first input column, how many and their weights; the same per row), and
    so is the order of the float32 sums (each input row across, once, then the rows down), so the
    grey levels are OpenCV's exactly (tested). One pass instead of four (the resize's general path,
    the padding, the float conversion and the scaling)."""
    H, W = image.shape[0], image.shape[1]
    h, w = len(rows), len(columns)
    pw = out.shape[3]
    flat = image.reshape(H, W * 3)
    first, last = rows[0], rows[h - 1] + row_taps[h - 1]
    line = np.empty(W * 3, np.float32)
    across = np.empty((last - first, w * 3), np.float32)
    for r in range(first, last):
        for k in range(W * 3):
            line[k] = np.float32(flat[r, k])
        row = across[r - first]
        for x in range(w):
            c0 = columns[x] * 3
            s0, s1, s2 = np.float32(0.0), np.float32(0.0), np.float32(0.0)
            for t in range(column_taps[x]):
                a = column_weights[x, t]
                s0 += line[c0 + 3 * t] * a
                s1 += line[c0 + 3 * t + 1] * a
                s2 += line[c0 + 3 * t + 2] * a
            row[3 * x], row[3 * x + 1], row[3 * x + 2] = s0, s1, s2
    total = np.empty(w * 3, np.float32)
    scale = np.float32(1.0 / 255.0)
    for y in range(h):
        r0, b = rows[y] - first, row_weights[y, 0]
        for k in range(w * 3):
            total[k] = b * across[r0, k]
        for t in range(1, row_taps[y]):
            b = row_weights[y, t]
            for k in range(w * 3):
                total[k] += b * across[r0 + t, k]
        for x in range(w):
            for c in range(3):      # grey levels, as OpenCV's uint8 output rounds them
                out[0, c, y, x] = np.float32(min(max(np.rint(total[3 * x + c]), 0.0), 255.0)) * scale
        for c in range(3):
            for x in range(w, pw):
                out[0, c, y, x] = out[0, c, y, w - 1]
    for c in range(3):
        for y in range(h, out.shape[2]):
            for x in range(pw):
                out[0, c, y, x] = out[0, c, h - 1, x]


def warm_up() -> float:
    """Compile (or load from the cache) every loop here for the argument types the accumulation
    gives them, on a few made-up values, so that the first frame that needs one does not wait for
    the compiler (several seconds each, once per install). Returns the seconds it took."""
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    f32 = np.float32
    level = rng.uniform(3, 5, (16, 16)).astype(f32)
    P = np.stack([rng.uniform(-1, 1, 8), rng.uniform(-1, 1, 8), np.full(8, 5.0)], 1)
    align_camera(P, rng.uniform(3, 5, 8), np.zeros(8, np.int64), level, 8.0, 8.0, 7.5, 7.5, 1, 1e-4, 1e-3)
    angles, grid = np.ones(2, f32), np.zeros((1, 1), np.int32)
    free_space_grid(angles, angles, np.ones(2, f32), 720, f32(1.0), f32(1.0))
    free_space_test(angles, angles, angles, 720, f32(1.0), f32(1.0), 0, 0, np.zeros(1, np.int32), grid, grid,
                    np.ones((1, 1), f32), 1, f32(1.02), f32(0.1), f32(0.98), f32(0.1))
    K = np.array([[8.0, 0.0, 7.5], [0.0, 8.0, 7.5], [0.0, 0.0, 1.0]])
    grey = np.zeros((16, 16), np.uint8)
    for dtype in (f32, np.float64):     # the node's float32 clouds; float64 from callers of the API
        points = P.astype(dtype)
        for work in (np.empty(0, f32), np.empty(0)):
            zbuffer(points, work, K, 16, 16, 1e-3, True)
        near, newest, pixels, owners = occlusion_zbuffer(points, np.ones(8, np.bool_), K, 16, 16)
        shades_keep(points, np.ones(8, f32), 8.0, 8.0, 7.5, 7.5, grey, 1, np.ones(256, f32), True, 0.04, 0.3, 3.0)
    first, taps, weights = np.arange(4, dtype=np.int64) * 2, np.full(4, 2, np.int64), np.full((4, 2), 0.5, f32)
    area_to_tensor(np.zeros((9, 9, 3), np.uint8), first, taps, weights, first, taps, weights,
                   np.empty((1, 3, 5, 5), f32))
    grid = near.reshape(16, 16)
    occlusion_verdicts(np.ones(8, np.bool_), grid, newest, grid, grid, pixels[:0], owners[:0], 1, 1, 0.1, 0.3)
    return time.perf_counter() - start
