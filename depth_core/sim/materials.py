"""Procedural materials: albedo from surface coordinates in metres, so texture density shrinks with
distance exactly as real texture gradients do (a monocular depth cue), plus LiDAR reflectivity."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

__all__ = ["EMISSIVE", "REFLECTIVITY", "Material", "NoiseTexture", "SurfaceContext", "albedo"]


class Material(IntEnum):
    SKY = 0
    ASPHALT = 1
    MARKING = 2
    SIDEWALK = 3
    GRASS = 4
    FACADE = 5
    CAR_PAINT = 6
    GLASS = 7
    RUBBER = 8
    METAL = 9
    BARK = 10
    FOLIAGE = 11
    WOOD_FLOOR = 12
    WALL = 13
    CEILING = 14
    FABRIC = 15
    WOOD = 16
    STONE = 17
    ROOF = 18
    PLANKS = 19
    GRAVEL = 20
    CARPET = 21
    PAINTING = 22
    LAMP = 23
    WINDOW_LIGHT = 24
    SCREEN = 25
    SIGN = 26
    BOOKS = 27
    FIELD = 28            # farmland parcels with crop rows (the highway's countryside)
    DIRT = 29             # bare earth, forest floor
    CORRUGATED = 30       # ribbed sheet metal: containers, trailers, roller shutters
    MARKING_YELLOW = 31   # yellow paint: warehouse lanes, kerbs, highway edge lines
    PLASTIC = 32          # smooth tinted plastic: chairs, bollards, coolers, crates
    CEILING_TILE = 33     # suspended office ceiling: 0.6 m tiles


# Materials that emit light: their albedo is shown as is, without shading.
EMISSIVE = frozenset({Material.LAMP, Material.WINDOW_LIGHT})

# LiDAR reflectivity (0..1) per material, roughly as seen in KITTI intensities.
REFLECTIVITY = np.full(len(Material), 0.3)
for _m, _r in {Material.ASPHALT: 0.12, Material.MARKING: 0.8, Material.SIDEWALK: 0.3,
               Material.GRASS: 0.45, Material.GLASS: 0.05, Material.RUBBER: 0.04, Material.METAL: 0.6,
               Material.CAR_PAINT: 0.35, Material.FOLIAGE: 0.5, Material.SIGN: 0.95,
               Material.SCREEN: 0.05, Material.WALL: 0.6, Material.CEILING: 0.7,
               Material.FIELD: 0.4, Material.DIRT: 0.25, Material.CORRUGATED: 0.5,
               Material.MARKING_YELLOW: 0.7, Material.PLASTIC: 0.4, Material.CEILING_TILE: 0.7}.items():
    REFLECTIVITY[_m] = _r


class NoiseTexture:
    """Periodic fractal noise in [0, 1] (white noise shaped to a 1/f spectrum with an FFT), sampled
    bilinearly at any coordinate; periodic, so it tiles without seams."""

    def __init__(self, rng: np.random.Generator, size: int = 256, beta: float = 1.6) -> None:
        fy = np.fft.fftfreq(size)[:, None]
        fx = np.fft.rfftfreq(size)[None, :]
        f = np.sqrt(fx * fx + fy * fy)
        f[0, 0] = 1.0
        spectrum = np.fft.rfft2(rng.standard_normal((size, size))) / f**beta
        spectrum[0, 0] = 0.0
        tex = np.fft.irfft2(spectrum, s=(size, size))
        tex = (tex - tex.mean()) / (4.0 * tex.std()) + 0.5
        self.tex = np.clip(tex, 0.0, 1.0).astype(np.float32)
        self.size = size

    def __call__(self, u, v) -> np.ndarray:
        """Noise at texel coordinates ``(u, v)``: one texel per unit."""
        s = self.size
        u0, v0 = np.floor(u), np.floor(v)
        fu, fv = (u - u0).astype(np.float32), (v - v0).astype(np.float32)
        i0, j0 = v0.astype(np.int64) % s, u0.astype(np.int64) % s
        i1, j1 = (i0 + 1) % s, (j0 + 1) % s
        t = self.tex
        top = t[i0, j0] * (1 - fu) + t[i0, j1] * fu
        bottom = t[i1, j0] * (1 - fu) + t[i1, j1] * fu
        return top * (1 - fv) + bottom * fv


@dataclass
class SurfaceContext:
    """What a material needs of the hits it shades (all arrays have one row per hit)."""

    uv: np.ndarray          # [n,2] surface coordinates, metres
    normal: np.ndarray      # [n,3] world unit normals
    color: np.ndarray       # [n,3] per-object tint
    seed: np.ndarray        # [n] per-object seed
    footprint: np.ndarray   # [n] metres covered by one pixel there (to fade sub-pixel detail)
    noise: NoiseTexture

    def pattern(self, freq: float, stretch=(1.0, 1.0), offset: float = 0.0) -> np.ndarray:
        """Noise at ``freq`` cycles per metre, faded to 0.5 where a pixel covers a whole cycle
        (a cheap mip-map: no sparkling at distance)."""
        u = self.uv[:, 0] * freq * stretch[0] + self.seed * 17.0 + offset
        v = self.uv[:, 1] * freq * stretch[1] + self.seed * 31.0 + offset
        n = self.noise(u, v)
        fade = np.clip(1.5 - self.footprint * freq * max(stretch), 0.0, 1.0).astype(np.float32)
        return 0.5 + (n - 0.5) * fade

    def stripes(self, coord: np.ndarray, period: float, width: float) -> np.ndarray:
        """1 on thin lines of ``width`` every ``period`` metres, faded where sub-pixel."""
        on = (np.mod(coord, period) < width).astype(np.float32)
        fade = np.clip(2.0 * width / np.maximum(self.footprint, 1e-6) - 0.5, 0.0, 1.0)
        return on * fade + (width / period) * (1 - fade)


def _grey(x) -> np.ndarray:
    return np.repeat(np.asarray(x, np.float32)[:, None], 3, axis=1)


def _hash(x) -> np.ndarray:
    """Deterministic pseudo-random values in [0, 1) from integers or floats."""
    return np.mod(np.sin(np.asarray(x, np.float64) * 12.9898 + 78.233) * 43758.5453, 1.0)


def facade_glass(c: SurfaceContext):
    """Where a facade has windows and shop fronts: (glass mask, along-face u, height z, window
    spacing), shared with the photo textures of :mod:`.appearance` (no bricks on glass)."""
    vertical = np.abs(c.normal[:, 2]) < 0.5
    spacing = 2.2 + 1.3 * _hash(c.seed)
    u, z = c.uv[:, 0] + 10 * c.seed, c.uv[:, 1]
    fu, fz = np.mod(u / spacing, 1.0), np.mod(z / 3.0, 1.0)
    window = vertical & (z > 3.0) & (fu > 0.22) & (fu < 0.78) & (fz > 0.3) & (fz < 0.82)
    shop = vertical & (z > 0.4) & (z < 2.7) & (fu > 0.08) & (fu < 0.92) & (_hash(c.seed + 3) > 0.4)
    return window | shop, u, z, spacing


def _facade(c: SurfaceContext) -> np.ndarray:
    base = c.color * (0.8 + 0.4 * c.pattern(2.0))[:, None]
    vertical = np.abs(c.normal[:, 2]) < 0.5
    glass, u, z, spacing = facade_glass(c)
    lit = _hash(np.floor(u / spacing) + 7 * np.floor(z / 3.0) + c.seed) > 0.85
    glass_col = np.where(lit[:, None], [0.55, 0.5, 0.35], [0.06, 0.08, 0.11]) + 0.1 * c.pattern(0.5)[:, None]
    roof = ~vertical
    out = np.where(glass[:, None], glass_col, base)
    return np.where(roof[:, None], _grey(0.2 * (0.7 + 0.6 * c.pattern(3.0))), out)


def _wood_floor(c: SurfaceContext) -> np.ndarray:
    plank = np.floor(c.uv[:, 1] / 0.15)
    shade = 0.7 + 0.5 * _hash(plank + c.seed)
    grain = c.pattern(3.0, stretch=(1.0, 12.0))
    seam = c.stripes(c.uv[:, 1], 0.15, 0.006)
    return c.color * ((shade * (0.75 + 0.5 * grain)) * (1 - 0.6 * seam))[:, None]


def _painting(c: SurfaceContext) -> np.ndarray:
    rgb = np.stack([c.pattern(4.0, offset=o) for o in (0.0, 40.0, 80.0)], axis=1)
    return np.clip((rgb - 0.5) * 3.0 + 0.5, 0.02, 1.0) * c.color


def _books(c: SurfaceContext) -> np.ndarray:
    spine = np.floor(c.uv[:, 0] / 0.035 + 100 * c.seed)
    rgb = np.stack([_hash(spine), _hash(spine + 0.37), _hash(spine + 0.71)], axis=1) * 0.7 + 0.1
    return rgb * (0.85 + 0.3 * c.pattern(8.0))[:, None]


_FIELD_COLORS = np.array([[0.50, 0.42, 0.17], [0.17, 0.30, 0.07], [0.28, 0.20, 0.13], [0.42, 0.40, 0.14],
                          [0.12, 0.24, 0.05], [0.36, 0.30, 0.18]], np.float32)


def _field(c: SurfaceContext) -> np.ndarray:
    """Farmland: parcels of about 110 x 70 m, each its own crop colour with rows one way or the other."""
    u, v = c.uv[:, 0], c.uv[:, 1]
    band = np.floor(v / 70.0)
    parcel = np.floor(u / 110.0 + _hash(band)) + 1000.0 * band
    color = _FIELD_COLORS[(_hash(parcel + 0.5) * len(_FIELD_COLORS)).astype(np.int64) % len(_FIELD_COLORS)]
    rows = c.stripes(np.where(_hash(parcel + 1.7) > 0.5, v, u), 0.75, 0.3)
    shade = (0.75 + 0.5 * c.pattern(3.0)) * (0.85 + 0.3 * c.pattern(0.15)) * (1 - 0.35 * rows)
    return color * c.color * shade[:, None]


def _albedo_table():
    M = Material
    return {
        M.ASPHALT: lambda c: _grey(0.13 * (0.5 + 1.0 * c.pattern(9.0)) * (0.8 + 0.4 * c.pattern(0.4))),
        M.MARKING: lambda c: _grey(0.75 * (0.85 + 0.3 * c.pattern(6.0))),
        M.SIDEWALK: lambda c: _grey((0.42 * (0.85 + 0.3 * c.pattern(5.0)))
                                    * (1 - 0.5 * np.maximum(c.stripes(c.uv[:, 0], 1.0, 0.02),
                                                            c.stripes(c.uv[:, 1], 1.0, 0.02)))),
        M.GRASS: lambda c: np.array([0.10, 0.22, 0.05])
        * ((0.4 + 1.2 * c.pattern(7.0)) * (0.7 + 0.6 * c.pattern(0.3)))[:, None],
        M.FACADE: _facade,
        M.CAR_PAINT: lambda c: c.color * (0.9 + 0.2 * c.pattern(1.0))[:, None],
        M.GLASS: lambda c: np.array([0.04, 0.05, 0.07]) + 0.08 * c.pattern(0.7)[:, None],
        M.RUBBER: lambda c: _grey(0.03 + 0.02 * c.pattern(4.0)),
        M.METAL: lambda c: c.color * (0.35 * (0.85 + 0.3 * c.pattern(3.0)))[:, None],
        M.BARK: lambda c: np.array([0.16, 0.10, 0.06]) * (0.6 + 0.8 * c.pattern(3.0, stretch=(4.0, 0.3)))[:, None],
        M.FOLIAGE: lambda c: c.color * ((0.3 + 1.4 * c.pattern(5.0)) * (0.8 + 0.4 * c.pattern(0.8)))[:, None],
        M.WOOD_FLOOR: _wood_floor,
        M.WALL: lambda c: c.color * (0.93 + 0.14 * c.pattern(1.5))[:, None],
        M.CEILING: lambda c: _grey(0.8 * (0.95 + 0.1 * c.pattern(1.0))),
        M.FABRIC: lambda c: c.color * (0.75 + 0.5 * c.pattern(25.0) * c.pattern(2.0) * 1.5)[:, None],
        M.WOOD: lambda c: c.color * (0.7 + 0.6 * c.pattern(2.0, stretch=(1.0, 10.0)))[:, None],
        M.STONE: lambda c: c.color * ((0.6 + 0.8 * c.pattern(4.0)) * (0.8 + 0.4 * c.pattern(0.7)))[:, None],
        M.ROOF: lambda c: c.color
        * ((0.8 + 0.4 * c.pattern(3.0)) * (1 - 0.5 * c.stripes(c.uv[:, 1], 0.3, 0.03)))[:, None],
        M.PLANKS: lambda c: c.color * ((0.75 + 0.5 * c.pattern(2.0, stretch=(8.0, 1.0)))
                                       * (1 - 0.7 * c.stripes(c.uv[:, 0], 0.15, 0.012)))[:, None],
        M.GRAVEL: lambda c: np.array([0.35, 0.31, 0.26])
        * ((0.3 + 1.4 * c.pattern(12.0)) * (0.8 + 0.4 * c.pattern(1.0)))[:, None],
        M.CARPET: lambda c: c.color * (0.8 + 0.4 * c.pattern(15.0))[:, None],
        M.PAINTING: _painting,
        M.BOOKS: _books,
        M.LAMP: lambda c: np.ones((len(c.seed), 3)) * np.array([1.0, 0.95, 0.8]),
        M.WINDOW_LIGHT: lambda c: np.array([0.85, 0.9, 1.0]) * (0.9 + 0.2 * c.pattern(0.5))[:, None],
        M.SCREEN: lambda c: _grey(0.02 + 0.03 * c.pattern(1.0)),
        M.SIGN: lambda c: c.color * (0.9 + 0.1 * c.pattern(2.0))[:, None],
        M.FIELD: _field,
        M.DIRT: lambda c: c.color * np.array([0.30, 0.22, 0.14])
        * ((0.5 + 1.0 * c.pattern(6.0)) * (0.7 + 0.6 * c.pattern(0.5)))[:, None],
        M.CORRUGATED: lambda c: c.color * ((0.8 + 0.3 * c.pattern(1.0))
                                           * (1 - 0.35 * c.stripes(c.uv[:, 0], 0.25, 0.1)))[:, None],
        M.MARKING_YELLOW: lambda c: np.array([0.8, 0.6, 0.06]) * (0.85 + 0.3 * c.pattern(6.0))[:, None],
        M.PLASTIC: lambda c: c.color * (0.92 + 0.16 * c.pattern(1.5))[:, None],
        M.CEILING_TILE: lambda c: _grey(0.78 * (0.95 + 0.1 * c.pattern(2.0))
                                        * (1 - 0.4 * np.maximum(c.stripes(c.uv[:, 0], 0.6, 0.015),
                                                                c.stripes(c.uv[:, 1], 0.6, 0.015)))),
    }


_ALBEDO = _albedo_table()


def albedo(material: np.ndarray, ctx: SurfaceContext) -> np.ndarray:
    """Linear albedo [n,3] in [0, 1] for hits with the given material ids (0 for ``SKY``)."""
    # Sort hits by material once, so each material works on contiguous slices (views).
    order = np.argsort(material, kind="stable")
    sorted_ids = material[order]
    fields = [a[order] for a in (ctx.uv, ctx.normal, ctx.color, ctx.seed, ctx.footprint)]
    bounds = np.flatnonzero(np.diff(sorted_ids)) + 1
    out = np.zeros((len(material), 3), dtype=np.float32)
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(order)]):
        if sorted_ids[lo] == Material.SKY:
            continue
        sub = SurfaceContext(*(a[lo:hi] for a in fields), ctx.noise)
        out[lo:hi] = _ALBEDO[Material(int(sorted_ids[lo]))](sub)
    result = np.empty_like(out)
    result[order] = out
    return np.clip(result, 0.0, 1.0)
