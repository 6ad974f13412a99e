"""Vectorised ray casting against a world of boxes, vertical cylinders, spheres and a ground plane.

Why not a library: the ray-casting packages on PyPI either pull heavy binaries (Open3D, about
400 MB) or triangle meshes whose hits then need barycentric texture lookups (trimesh + embree).
Analytic primitives give exact depth and exact surface coordinates for texturing, and per-object
culling (image rectangle for cameras, azimuth window for LiDARs) keeps numpy fast enough: each
primitive only tests the rays that can reach it.

Casting is two passes: pass 1 finds, per ray, the nearest distance and which primitive it hit;
pass 2 computes normals and surface coordinates for all winning hits at once.

Shadow rays (:func:`occluded`) are the other case: one shared direction (towards the sun) from many
origins (the camera's hit points), and any hit will do. The intersection functions take either one
origin ``[3]`` or one origin per ray ``[3,n]``, and either one direction per ray or a shared one
``[3,1]``; :func:`parallel_candidates` culls them per primitive in the plane across the rays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BOX", "CYLINDER", "GROUND", "NO_HIT", "SPHERE", "Hits", "Primitives", "all_corners", "cast_rays",
           "occluded", "parallel_candidates"]

BOX, CYLINDER, SPHERE = 0, 1, 2
GROUND, NO_HIT = -1, -2
_EPS = 1e-6


class Primitives:
    """A flat table of primitives, appended while a scene is generated, then frozen into arrays.

    Every primitive has a ``kind``, a ``center`` (for cylinders the centre of the axis segment), a
    ``half`` size (box half-extents along its yawed axes; ``(r, r, half_height)`` for a vertical
    cylinder; ``(r, r, r)`` for a sphere), a ``yaw`` about z, a ``material`` id, an RGB ``color``
    tint and a per-object ``seed`` used by textures for variation.
    """

    def __init__(self) -> None:
        self._rows: list[tuple] = []

    def add_box(self, center, half, material: int, color=(1, 1, 1), yaw: float = 0.0, seed: float = 0.0) -> None:
        self._rows.append((BOX, *center, *half, yaw, material, *color, seed))

    def add_cylinder(self, x: float, y: float, z0: float, z1: float, radius: float, material: int,
                     color=(1, 1, 1), seed: float = 0.0) -> None:
        self._rows.append((CYLINDER, x, y, 0.5 * (z0 + z1), radius, radius, 0.5 * (z1 - z0),
                           0.0, material, *color, seed))

    def add_sphere(self, center, radius: float, material: int, color=(1, 1, 1), seed: float = 0.0) -> None:
        self._rows.append((SPHERE, *center, radius, radius, radius, 0.0, material, *color, seed))

    def extend(self, other: Primitives, keep=None) -> None:
        """Append ``other``'s primitives (not frozen yet); ``keep(center, half)`` may leave some out."""
        for row in other._rows:
            if keep is None or keep(np.asarray(row[1:4]), np.asarray(row[4:7])):
                self._rows.append(row)

    def freeze(self) -> Primitives:
        table = np.array(self._rows, dtype=np.float64).reshape(-1, 13)
        self.kind = table[:, 0].astype(np.int8)
        self.center = table[:, 1:4].copy()
        self.half = table[:, 4:7].copy()
        self.yaw = table[:, 7].copy()
        self.material = table[:, 8].astype(np.int16)
        self.color = table[:, 9:12].copy()
        self.seed = table[:, 12].copy()
        self.radius = np.linalg.norm(self.half, axis=1)  # bounding sphere
        return self

    def __len__(self) -> int:
        return len(self._rows)

    def corners(self, k: int) -> np.ndarray:
        """The 8 corners [8,3] of primitive ``k``'s (yawed) bounding box."""
        sign = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], float)
        local = sign * self.half[k]
        c, s = np.cos(self.yaw[k]), np.sin(self.yaw[k])
        rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
        return local @ rot.T + self.center[k]


_SIGNS = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], float)


def all_corners(prims: Primitives, ks: np.ndarray) -> np.ndarray:
    """Bounding-box corners [K,8,3] (world) of primitives ``ks`` (what the renderers cull with)."""
    local = _SIGNS[None] * prims.half[ks, None, :]
    c, s = np.cos(prims.yaw[ks])[:, None], np.sin(prims.yaw[ks])[:, None]
    x = c * local[..., 0] - s * local[..., 1]
    y = s * local[..., 0] + c * local[..., 1]
    return np.stack([x, y, local[..., 2]], axis=-1) + prims.center[ks, None, :]


@dataclass
class Hits:
    """Nearest hit per ray: distance ``t`` along the (unnormalised) ray, the primitive index
    (``GROUND`` or ``NO_HIT`` otherwise), world point, unit normal and surface coordinates ``uv``
    in metres (vertical faces: along-face and world height; horizontal faces: local x, y)."""

    t: np.ndarray
    prim: np.ndarray
    point: np.ndarray
    normal: np.ndarray
    uv: np.ndarray


def _slab(t_near, t_far, o, h, inv):
    """Intersect the running [t_near, t_far] interval with one slab |x| <= h of the box."""
    t1 = (-h - o) * inv
    t2 = (h - o) * inv
    return np.maximum(t_near, np.minimum(t1, t2)), np.minimum(t_far, np.maximum(t1, t2))


def _rel(o, center):
    """Ray origins relative to a primitive centre: [3] for one shared origin, else [3,n]."""
    return o - center if o.ndim == 1 else o - center[:, None]


def _box_t(o, d, inv, center, half, yaw) -> np.ndarray:
    """Ray/box distances; ``d`` and ``inv`` (1/d) are [3,n] (or shared [3,1]) column arrays, ``o``
    one origin [3] or one per ray [3,n]."""
    rel = _rel(o, center)
    if yaw != 0.0:  # rotate rays into the box frame (most boxes are axis aligned: skip then)
        c, s = np.cos(yaw), np.sin(yaw)
        rel = np.array([c * rel[0] + s * rel[1], -s * rel[0] + c * rel[1], rel[2]])
        with np.errstate(divide="ignore"):
            ix = 1.0 / (c * d[0] + s * d[1])
            iy = 1.0 / (-s * d[0] + c * d[1])
        inv = (ix, iy, inv[2])
    with np.errstate(invalid="ignore"):
        t_near, t_far = _slab(-np.inf, np.inf, rel[0], half[0], inv[0])
        t_near, t_far = _slab(t_near, t_far, rel[1], half[1], inv[1])
        t_near, t_far = _slab(t_near, t_far, rel[2], half[2], inv[2])
    return np.where((t_far >= t_near) & (t_near > _EPS), t_near, np.inf)


def _cylinder_t(o, d, center, half) -> np.ndarray:
    r, hz = half[0], half[2]
    ox, oy, oz = o[0] - center[0], o[1] - center[1], o[2] - center[2]
    dx, dy, dz = d
    a = dx * dx + dy * dy
    b = 2.0 * (ox * dx + oy * dy)
    cc = ox * ox + oy * oy - r * r
    disc = b * b - 4.0 * a * cc
    with np.errstate(divide="ignore", invalid="ignore"):
        t_side = (-b - np.sqrt(disc)) / (2.0 * a)
        z = oz + t_side * dz
        side_ok = (disc >= 0) & (t_side > _EPS) & (np.abs(z) <= hz)
        t_side = np.where(side_ok, t_side, np.inf)
        # Top cap, seen from above (LiDARs and cameras higher than a post).
        t_cap = (hz - oz) / dz
        px, py = ox + t_cap * dx, oy + t_cap * dy
        cap_ok = (oz > hz) & (dz < 0) & (px * px + py * py <= r * r) & (t_cap > _EPS)
    return np.minimum(t_side, np.where(cap_ok, t_cap, np.inf))


def _sphere_t(o, d, center, radius) -> np.ndarray:
    rel = _rel(o, center)
    a = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
    b = 2.0 * (d[0] * rel[0] + d[1] * rel[1] + d[2] * rel[2])
    cc = (rel @ rel if rel.ndim == 1 else rel[0] * rel[0] + rel[1] * rel[1] + rel[2] * rel[2]) - radius * radius
    disc = b * b - 4.0 * a * cc
    with np.errstate(invalid="ignore"):
        t = (-b - np.sqrt(disc)) / (2.0 * a)
    return np.where((disc >= 0) & (t > _EPS), t, np.inf)


def cast_rays(prims: Primitives, origin: np.ndarray, dirs: np.ndarray, candidates, *,
              ground_z: float | None = 0.0, max_t: float = np.inf) -> Hits:
    """Cast rays ``origin + t * dirs`` ([N,3] world directions) into the world.

    ``candidates`` yields ``(k, ray_index, near)``: primitive ``k`` is only tested against those
    rays (the caller's culling), and no point of it is closer than ``near`` metres. Yielding them
    nearest first lets rays that already hit something closer skip farther primitives.
    ``ground_z`` is the height of the infinite ground plane (None for no ground). Hits beyond
    ``max_t`` count as misses.
    """
    origin = np.asarray(origin, dtype=np.float64)
    n = len(dirs)
    cols = np.ascontiguousarray(dirs.T)
    with np.errstate(divide="ignore"):
        inv_cols = 1.0 / cols
    ray_norm = np.sqrt((cols * cols).sum(axis=0))
    t_best = np.full(n, np.inf)
    prim = np.full(n, NO_HIT, dtype=np.int64)
    if ground_z is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            t_ground = (ground_z - origin[2]) / cols[2]
        on_ground = (cols[2] < 0) & (t_ground > _EPS) & (origin[2] > ground_z)
        t_best[on_ground] = t_ground[on_ground]
        prim[on_ground] = GROUND

    for k, idx, near in candidates:
        if near > 0:
            idx = idx[t_best[idx] * ray_norm[idx] > near]
            if idx.size == 0:
                continue
        t = _intersect(prims, k, origin, cols[:, idx], inv_cols[:, idx])
        closer = t < t_best[idx]
        sel = idx[closer]
        t_best[sel] = t[closer]
        prim[sel] = k

    far = t_best > max_t
    t_best[far] = np.inf
    prim[far] = NO_HIT
    return _surface_details(prims, origin, dirs, t_best, prim)


def _intersect(prims: Primitives, k: int, o, d, inv) -> np.ndarray:
    """Distances from rays to primitive ``k`` (inf for a miss). ``o``: one origin [3] or one per ray
    [3,n]; ``d``/``inv``: directions and their reciprocals, [3,n] or shared [3,1]."""
    kind = prims.kind[k]
    if kind == BOX:
        return _box_t(o, d, inv, prims.center[k], prims.half[k], prims.yaw[k])
    if kind == CYLINDER:
        return _cylinder_t(o, d, prims.center[k], prims.half[k])
    return _sphere_t(o, d, prims.center[k], prims.half[k, 0])


def occluded(prims: Primitives, origins: np.ndarray, direction: np.ndarray, candidates=None, *,
             own: np.ndarray | None = None, max_t: float = np.inf) -> np.ndarray:
    """Which rays ``origins[i] + t * direction`` (``origins`` [n,3], one shared ``direction`` [3])
    hit any primitive at ``0 < t <= max_t``: the shadow-ray test. ``candidates`` yields
    ``(k, ray_index)`` like :func:`cast_rays`' (without ``near``); by default
    :func:`parallel_candidates` (which needs an upward direction). Rays already blocked are not
    tested again. ``own`` [n] is the primitive each origin lies on (all primitives are convex, so a
    ray leaving a surface point cannot hit its own primitive again): it is skipped for them. The
    ground plane never blocks (the caller only casts rays that rise). Returns a bool mask [n]."""
    cols = np.ascontiguousarray(np.asarray(origins, dtype=np.float64).T)
    d = np.asarray(direction, dtype=np.float64).reshape(3, 1)
    with np.errstate(divide="ignore"):
        inv = 1.0 / d
    blocked = np.zeros(cols.shape[1], dtype=bool)
    if candidates is None:
        candidates = parallel_candidates(prims, origins, direction, blocked=blocked)
    for k, idx in candidates:
        idx = idx[~blocked[idx]]
        if own is not None:
            idx = idx[own[idx] != k]
        if idx.size == 0:
            continue
        t = _intersect(prims, k, cols[:, idx], d, inv)
        blocked[idx[(t <= max_t) & (t < np.inf)]] = True
    return blocked


def parallel_candidates(prims: Primitives, origins: np.ndarray, direction: np.ndarray, *,
                        blocked: np.ndarray | None = None):
    """Culling for rays that share one upward ``direction`` (z > 0): ``(k, ray_index)`` pairs.

    Every origin and every primitive's bounding box is projected along ``direction`` onto the ground
    plane (a parallel projection; boxes become their footprint plus their swept shadow). A ray can
    only hit primitive ``k`` if its origin's projection lies in the primitive's projected rectangle
    and the origin is below the primitive's top. Origins are sorted once by each projected
    coordinate; each primitive takes the ``searchsorted`` slice along whichever axis is shorter
    (kerbs and walls along a street are long one way and thin the other), then filters it by the
    other axis and by height. Largest primitives come first, so they block most rays early; with
    ``blocked`` (the consumer's running mask, read between yields) blocked rays are dropped from
    the sorted lists whenever they have become a fifth of them (a low sun shadows most of a street).
    """
    p = np.asarray(origins, dtype=np.float64)
    s = np.asarray(direction, dtype=np.float64)
    if len(p) == 0 or len(prims.kind) == 0 or s[2] <= 0:
        return
    shift = s[:2] / s[2]
    q = p[:, :2] - p[:, 2:3] * shift
    ks = np.arange(len(prims.kind))
    corners = all_corners(prims, ks)                        # [K,8,3]
    qc = corners[..., :2] - corners[..., 2:3] * shift       # [K,8,2]
    lo, hi, top = qc.min(axis=1), qc.max(axis=1), corners[..., 2].max(axis=1)
    qmin, qmax = q.min(axis=0), q.max(axis=0)
    keep = (hi[:, 0] >= qmin[0]) & (lo[:, 0] <= qmax[0]) & (hi[:, 1] >= qmin[1]) & (lo[:, 1] <= qmax[1])
    keep &= top > p[:, 2].min()
    ks = ks[keep]
    if ks.size == 0:
        return
    ks = ks[np.argsort(-prims.radius[ks], kind="stable")]
    orders = [np.argsort(q[:, a], kind="stable") for a in (0, 1)]
    z = p[:, 2]

    def slices(orders, rest):
        out = []
        for a in (0, 1):
            sq = q[orders[a], a]
            out.append((np.searchsorted(sq, lo[rest, a], "left"), np.searchsorted(sq, hi[rest, a], "right")))
        return out

    cut, start, last_count = slices(orders, ks), 0, 0
    for j, k in enumerate(ks):
        if blocked is not None:
            count = int(np.count_nonzero(blocked))
            if count - last_count > len(orders[0]) // 5:
                orders = [o[~blocked[o]] for o in orders]
                if len(orders[0]) == 0:
                    return
                cut, start, last_count = slices(orders, ks[j:]), j, count
        i = j - start
        nx, ny = cut[0][1][i] - cut[0][0][i], cut[1][1][i] - cut[1][0][i]
        if nx == 0 or ny == 0:
            continue
        a = 0 if nx <= ny else 1
        idx = orders[a][cut[a][0][i]:cut[a][1][i]]
        b = 1 - a
        qb = q[idx, b]
        idx = idx[(qb >= lo[k, b]) & (qb <= hi[k, b]) & (z[idx] < top[k])]
        if idx.size:
            yield k, idx


def _surface_details(prims: Primitives, origin, dirs, t, prim) -> Hits:
    n = len(t)
    point = np.full((n, 3), np.nan)
    normal = np.zeros((n, 3), dtype=np.float32)
    uv = np.zeros((n, 2), dtype=np.float32)
    hit = prim != NO_HIT
    point[hit] = origin + t[hit, None] * dirs[hit]

    ground = prim == GROUND
    normal[ground] = (0.0, 0.0, 1.0)
    uv[ground] = point[ground, :2]

    obj = np.flatnonzero(prim >= 0)
    if obj.size:
        k = prim[obj]
        kind = prims.kind[k]
        rel = point[obj] - prims.center[k]
        for which, fn in ((BOX, _box_details), (CYLINDER, _cylinder_details), (SPHERE, _sphere_details)):
            m = kind == which
            if m.any():
                normal[obj[m]], uv[obj[m]] = fn(prims, k[m], rel[m], point[obj[m]])
    return Hits(t, prim, point, normal, uv)


def _box_details(prims, k, rel, point):
    c, s = np.cos(prims.yaw[k]), np.sin(prims.yaw[k])
    lx, ly, lz = c * rel[:, 0] + s * rel[:, 1], -s * rel[:, 0] + c * rel[:, 1], rel[:, 2]
    local = np.stack([lx, ly, lz], axis=1)
    axis = np.argmax(np.abs(local) / prims.half[k], axis=1)
    sign = np.sign(local[np.arange(len(k)), axis])
    n_local = np.zeros_like(local)
    n_local[np.arange(len(k)), axis] = sign
    normal = np.stack([c * n_local[:, 0] - s * n_local[:, 1],
                       s * n_local[:, 0] + c * n_local[:, 1], n_local[:, 2]], axis=1)
    uv = np.where((axis == 0)[:, None], np.stack([ly, point[:, 2]], 1),
                  np.where((axis == 1)[:, None], np.stack([lx, point[:, 2]], 1), np.stack([lx, ly], 1)))
    return normal, uv


def _cylinder_details(prims, k, rel, point):
    r = prims.half[k, 0]
    radial = np.hypot(rel[:, 0], rel[:, 1])
    cap = radial < r * (1 - 1e-6)
    with np.errstate(invalid="ignore", divide="ignore"):
        normal = np.stack([rel[:, 0] / radial, rel[:, 1] / radial, np.zeros_like(radial)], 1)
    normal[cap] = (0.0, 0.0, 1.0)
    angle = np.arctan2(rel[:, 1], rel[:, 0])
    uv = np.stack([angle * r, point[:, 2]], 1)
    uv[cap] = rel[cap, :2]
    return normal, uv


def _sphere_details(prims, k, rel, point):
    r = prims.half[k, 0]
    normal = rel / r[:, None]
    uv = np.stack([np.arctan2(rel[:, 1], rel[:, 0]) * r, np.arcsin(np.clip(normal[:, 2], -1, 1)) * r], 1)
    return normal, uv
