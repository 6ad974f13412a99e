"""Appearance randomisation: sky and sun, photographic textures and a camera's image pipeline.

A depth network trained on clean renders learns their look (one sky, hard-edged Lambert shading,
gamma 2.2, no blur, no noise, no JPEG) and stumbles on real cameras. :class:`AppearanceConfig` holds
the distributions; :meth:`AppearanceConfig.sample` draws one :class:`Appearance` per sequence (its
``to_dict()`` is recorded with the data set); :class:`~depth_core.sim.render.CameraRenderer` applies
it. Per-frame randomness (motion-blur direction and length, sensor noise) comes from the ``rng``
passed to ``render()``, so every frame stays a pure function of seeds.

The image pipeline, in the order a camera applies it (all in linear light until the tone curve):

    pinhole render at K -> [lens distortion: warp into the distorted sensor image]
    -> motion blur -> exposure (manual EV and partial auto-exposure) -> vignetting
    -> shot + read noise -> white balance -> tone curve (gamma, contrast) -> 8 bit -> JPEG
    -> [rectification back to K with cv2.initUndistortRectifyMap + cv2.remap]

Depth is rendered at K and never resampled: the rectified RGB stays registered with it.

Photo textures are the CC0 texture photographs bundled with scikit-image (``brick``, ``grass``,
``gravel``; see docs/textures.md), loaded once per process, made tileable, mip-mapped, and used as
a luminance modulation of the procedural albedo at a physical scale, placed per object by its seed.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, fields

import cv2
import numpy as np

from .materials import Material, NoiseTexture, SurfaceContext, facade_glass

__all__ = ["SKIES", "Appearance", "AppearanceConfig", "LensWarp", "apply_camera", "photo_detail", "sky_radiance",
           "sun_direction", "texture_pyramid"]

# Sky variants, in the fixed order the per-sky tables of AppearanceConfig use.
SKIES = ("clear", "hazy", "overcast", "sunset", "dawn")
_LOW_SUN = ("sunset", "dawn")

# Sky colours (linear RGB) per variant: horizon, zenith, sun colour, ambient (sky light) colour.
_SKY_COLOURS = {
    "clear": ((0.72, 0.80, 0.90), (0.20, 0.38, 0.82), (1.00, 0.97, 0.92), (0.88, 0.94, 1.06)),
    "hazy": ((0.80, 0.81, 0.82), (0.52, 0.60, 0.74), (1.00, 0.95, 0.86), (0.96, 0.98, 1.02)),
    "overcast": ((0.68, 0.70, 0.72), (0.56, 0.58, 0.62), (0.95, 0.97, 1.00), (1.00, 1.00, 1.02)),
    "sunset": ((1.00, 0.52, 0.24), (0.16, 0.22, 0.48), (1.00, 0.56, 0.30), (0.78, 0.80, 1.04)),
    "dawn": ((0.95, 0.70, 0.56), (0.28, 0.38, 0.66), (1.00, 0.76, 0.56), (0.84, 0.88, 1.06)),
}


@dataclass(frozen=True)
class AppearanceConfig:
    """Distributions of the look of a sequence. Ranges are ``(low, high)`` drawn uniformly (``log``
    in a comment: log-uniformly); per-sky tables hold one range per entry of :data:`SKIES`
    (clear, hazy, overcast, sunset, dawn)."""

    # Probability of each sky variant (clear, hazy, overcast, sunset, dawn); normalised.
    sky_probs: tuple = (0.35, 0.2, 0.2, 0.125, 0.125)
    # Fraction of the sky covered by clouds, per sky.
    cloud_cover: tuple = ((0.0, 0.5), (0.0, 0.3), (0.85, 1.0), (0.0, 0.6), (0.0, 0.5))
    # Probability of replacing the world's own sun by a drawn one (clear/hazy/overcast skies;
    # sunset and dawn always draw a low sun).
    sun_redraw_prob: float = 0.5
    # Elevation of a redrawn sun, degrees above the horizon: normal skies, and sunset/dawn.
    sun_elevation_deg: tuple = (10.0, 70.0)
    low_sun_elevation_deg: tuple = (2.0, 12.0)
    # Multiplier of the world's sun intensity, per sky (overcast: almost only sky light).
    sun_scale: tuple = ((0.95, 1.15), (0.6, 0.85), (0.05, 0.2), (0.6, 0.9), (0.5, 0.8))
    # Multiplier of the world's ambient (sky) light, per sky.
    ambient_scale: tuple = ((0.85, 1.1), (1.0, 1.25), (1.4, 1.9), (0.6, 0.85), (0.7, 0.9))
    # Aerial perspective: distance (m) over which colours fade to the horizon colour, per sky (log).
    haze_distance_m: tuple = ((800.0, 4000.0), (120.0, 500.0), (400.0, 2000.0), (300.0, 1500.0),
                              (300.0, 1500.0))
    # Relative per-channel jitter (std) of the sky, sun and ambient colours.
    colour_jitter: float = 0.05
    # Cast sun shadows; shadow rays are cast for hits up to this distance (m), beyond it all is lit.
    shadows: bool = True
    shadow_distance_m: float = 1000.0
    # Photographic texture modulation on ground, walls and foliage, and its contrast multiplier.
    textures: bool = True
    texture_strength: tuple = (0.6, 1.1)
    # Manual exposure offset in stops, and how far auto-exposure pulls each frame's log-mean
    # luminance to the target (0 = fixed exposure, 1 = full auto-exposure).
    exposure_ev: tuple = (-0.5, 0.4)
    auto_exposure: tuple = (0.3, 0.9)
    # Display gamma of the tone curve (2.2 = the plain renderer) and S-curve contrast (0 = none).
    gamma: tuple = (1.9, 2.5)
    contrast: tuple = (0.0, 0.35)
    # White-balance error: warm/cold (log red/blue gain difference) and green/magenta tint.
    wb_temperature: tuple = (-0.12, 0.12)
    wb_tint: tuple = (-0.04, 0.04)
    # Vignetting: relative light loss in the image corners.
    vignetting: tuple = (0.0, 0.45)
    # Sensor noise in linear [0, 1] units: variance per unit signal (shot, log) and read-noise std (log).
    shot_noise: tuple = (2e-4, 3e-3)
    read_noise: tuple = (1e-3, 1e-2)
    # Probability that noise is independent per colour channel (else one value for all three).
    noise_per_channel_prob: float = 0.7
    # Probability of motion blur, and the range of its per-sequence maximum length (pixels); each
    # frame draws a length up to it and a direction.
    motion_blur_prob: float = 0.5
    motion_blur_px: tuple = (0.5, 5.0)
    # Probability of JPEG compression, and its quality range.
    jpeg_prob: float = 0.7
    jpeg_quality: tuple = (45, 95)

    def __post_init__(self) -> None:
        if len(self.sky_probs) != len(SKIES) or min(self.sky_probs) < 0 or sum(self.sky_probs) <= 0:
            raise ValueError(f"sky_probs must be {len(SKIES)} non-negative weights ({', '.join(SKIES)})")
        for name in ("cloud_cover", "sun_scale", "ambient_scale", "haze_distance_m"):
            if len(getattr(self, name)) != len(SKIES):
                raise ValueError(f"{name} must hold one (low, high) range per sky ({', '.join(SKIES)})")

    def sample(self, rng: np.random.Generator) -> Appearance:
        """One sequence's look. Always draws the same number of values in the same order, so
        changing one distribution leaves the others' draws alone."""
        u = rng.uniform(size=32)
        jit = rng.standard_normal(12) * self.colour_jitter

        def span(r, x):
            return float(r[0] + (r[1] - r[0]) * x)

        def log_span(r, x):
            return float(np.exp(np.log(r[0]) + (np.log(r[1]) - np.log(r[0])) * x))

        p = np.cumsum(self.sky_probs) / np.sum(self.sky_probs)
        i = min(int(np.searchsorted(p, u[0], side="right")), len(SKIES) - 1)
        sky = SKIES[i]
        low_sun = sky in _LOW_SUN
        redraw = low_sun or u[2] < self.sun_redraw_prob
        elevation = span(self.low_sun_elevation_deg if low_sun else self.sun_elevation_deg, u[3])
        horizon, zenith, sun_c, amb_c = (np.asarray(c) * (1 + jit[3 * j:3 * j + 3])
                                         for j, c in enumerate(_SKY_COLOURS[sky]))
        blur = u[22] < self.motion_blur_prob
        jpeg = u[24] < self.jpeg_prob
        t, g = span(self.wb_temperature, u[16]), span(self.wb_tint, u[17])
        return Appearance(
            sky=sky,
            cloud_cover=span(self.cloud_cover[i], u[1]),
            sun_elevation_deg=elevation if redraw else None,
            sun_azimuth_deg=360.0 * float(u[4]) if redraw else None,
            sun_scale=span(self.sun_scale[i], u[5]),
            ambient_scale=span(self.ambient_scale[i], u[6]),
            haze_distance_m=log_span(self.haze_distance_m[i], u[7]),
            sky_horizon=_rgb(horizon), sky_zenith=_rgb(zenith), sun_color=_rgb(sun_c), ambient_color=_rgb(amb_c),
            shadows=self.shadows, shadow_distance_m=float(self.shadow_distance_m),
            textures=self.textures, texture_strength=span(self.texture_strength, u[10]),
            texture_seed=int(u[11] * 2**31),
            exposure_ev=span(self.exposure_ev, u[12]), auto_exposure=span(self.auto_exposure, u[13]),
            gamma=span(self.gamma, u[14]), contrast=span(self.contrast, u[15]),
            white_balance=_rgb(np.exp([t, g, -t]) / np.exp(g)),
            vignetting=span(self.vignetting, u[18]),
            shot_noise=log_span(self.shot_noise, u[19]), read_noise=log_span(self.read_noise, u[20]),
            noise_per_channel=bool(u[21] < self.noise_per_channel_prob),
            motion_blur_px=span(self.motion_blur_px, u[23]) if blur else 0.0,
            jpeg_quality=round(span(self.jpeg_quality, u[25])) if jpeg else 0,
        )


def _rgb(x) -> tuple:
    return tuple(round(float(v), 6) for v in np.clip(x, 0.0, 2.0))


@dataclass(frozen=True)
class Appearance:
    """The drawn look of one sequence (defaults: a clear day with a neutral camera). Colours are
    linear RGB. Recorded with the data set through :meth:`to_dict`."""

    sky: str = "clear"                         # one of SKIES
    cloud_cover: float = 0.2                   # fraction of the sky under clouds
    sun_elevation_deg: float | None = None     # a redrawn sun (degrees); None = the world's own sun
    sun_azimuth_deg: float | None = None       # its azimuth, degrees from +x towards +y
    sun_scale: float = 1.0                     # multiplies the world's sun intensity
    ambient_scale: float = 1.0                 # multiplies the world's ambient light
    haze_distance_m: float = 2000.0            # aerial perspective (min with the world's own haze)
    sky_horizon: tuple = _SKY_COLOURS["clear"][0]
    sky_zenith: tuple = _SKY_COLOURS["clear"][1]
    sun_color: tuple = _SKY_COLOURS["clear"][2]
    ambient_color: tuple = _SKY_COLOURS["clear"][3]
    shadows: bool = True                       # cast sun shadows
    shadow_distance_m: float = 1000.0          # hits farther than this are not shadow-tested
    textures: bool = True                      # photographic texture modulation
    texture_strength: float = 1.0              # its contrast multiplier
    texture_seed: int = 0                      # placement of the ground's textures and the clouds
    exposure_ev: float = 0.0                   # manual exposure offset, stops
    auto_exposure: float = 0.5                 # 0 = fixed exposure .. 1 = full auto-exposure
    gamma: float = 2.2                         # tone curve: display gamma
    contrast: float = 0.0                      # tone curve: S-curve blend, 0..1
    white_balance: tuple = (1.0, 1.0, 1.0)     # per-channel gains after the sensor
    vignetting: float = 0.0                    # relative light loss in the corners
    shot_noise: float = 0.0                    # noise variance per unit linear signal
    read_noise: float = 0.0                    # signal-independent noise std (linear units)
    noise_per_channel: bool = True             # independent noise per channel (else luma noise)
    motion_blur_px: float = 0.0                # maximum motion-blur length per frame, pixels (0 = off)
    jpeg_quality: int = 0                      # JPEG quality 1..100 (0 = no compression)

    def __post_init__(self) -> None:
        if self.sky not in SKIES:
            raise ValueError(f"sky must be one of {', '.join(SKIES)}, got '{self.sky}'")
        if not 0 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be 0 (off) or 1..100, got {self.jpeg_quality}")

    def to_dict(self) -> dict:
        """A JSON-able dict (tuples become lists; no infinities)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> Appearance:
        names = {f.name for f in fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in names})


def sun_direction(look: Appearance, world_sun: np.ndarray | None) -> np.ndarray | None:
    """The unit vector towards the sun under ``look``: the world's, or the redrawn one (indoor
    worlds, without a sun, stay without)."""
    if world_sun is None or look.sun_elevation_deg is None:
        return world_sun
    el, az = np.radians(look.sun_elevation_deg), np.radians(look.sun_azimuth_deg or 0.0)
    return np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])


# ----------------------------------------------------------------------------------------- sky

_CLOUD_HEIGHT = 1500.0   # metres: clouds are a textured plane, so they shrink towards the horizon
_CLOUD_SCALE = 55.0      # metres per noise texel at the cloud plane


def sky_radiance(unit: np.ndarray, look: Appearance, sun: np.ndarray | None, noise: NoiseTexture,
                 sun_intensity: float) -> np.ndarray:
    """Linear RGB [n,3] of the sky in unit view directions ``unit`` [n,3]: a horizon-to-zenith
    gradient, a glow and disc around the sun, and clouds on a plane whose cover is
    ``look.cloud_cover`` (thicker clouds are darker; they fade into the haze at the horizon)."""
    uz = unit[:, 2].astype(np.float64)
    elevation = np.arcsin(np.clip(uz, -1, 1))
    w = np.clip(elevation * 2.5, 0, 1)[:, None] ** 0.8
    horizon, zenith = np.asarray(look.sky_horizon), np.asarray(look.sky_zenith)
    color = horizon * (1 - w) + zenith * w
    sun_c = np.asarray(look.sun_color)
    glow = np.zeros(len(unit))
    if sun is not None and sun[2] > -0.05:
        c = np.clip(unit @ np.asarray(sun, np.float64), -1.0, 1.0)
        halo = 0.1 if look.sky == "overcast" else (0.5 if look.sky == "hazy" else 0.3)
        glow = sun_intensity * (halo * np.maximum(c, 0.0) ** 6 + 2.5 * np.exp((c - 1.0) / 1.5e-4))
    color = color + glow[:, None] * sun_c
    cover = float(np.clip(look.cloud_cover, 0.0, 1.0))
    if cover > 0.0:
        up = uz > 0.01
        dist = _CLOUD_HEIGHT / np.maximum(uz, 0.01)
        off = 97.0 * (look.texture_seed % 1000)
        x = unit[:, 0] * dist / _CLOUD_SCALE + off
        y = unit[:, 1] * dist / _CLOUD_SCALE - 0.37 * off
        n = 0.7 * noise(x, y) + 0.3 * noise(3.1 * x + 11.0, 3.1 * y + 5.0)
        threshold = _cloud_threshold(noise, cover)
        density = np.clip((n - threshold) / 0.06, 0.0, 1.0) if cover < 1.0 else np.ones_like(n)
        thick = np.clip((n - threshold) / 0.2, 0.0, 1.0)
        brightness = np.mean(horizon) * 1.15 + 0.25 * (sun is not None) * min(sun_intensity, 1.0)
        cloud = brightness * (1.0 - 0.45 * thick)[:, None] * (0.55 + 0.45 * sun_c)
        if look.sky == "overcast":
            cloud = cloud * 0.85 + 0.15 * color
        fade = np.exp(-dist / (_CLOUD_HEIGHT * 12.0))[:, None] * up[:, None]
        a = density[:, None] * fade
        color = color * (1 - a) + cloud * a
    return color.astype(np.float32)


def _cloud_threshold(noise: NoiseTexture, cover: float) -> float:
    """Noise level above which a ``cover`` fraction of the sky is cloud (a millisecond: not cached,
    so nothing can go stale)."""
    t = noise.tex.ravel()
    mix = 0.7 * t + 0.3 * np.roll(t, 12345)   # about the distribution of the two-octave mix
    return float(np.quantile(mix, 1.0 - cover))


# ------------------------------------------------------------------------------ photo textures


@functools.cache
def texture_pyramid(name: str) -> tuple[np.ndarray, ...]:
    """A scikit-image texture photo (``brick``, ``grass``, ``gravel``) as a tileable mip-map:
    float32 levels of halving size, each of mean 1. Loaded once per process."""
    from skimage import data  # import here: scikit-image is only needed when textures are used

    img = getattr(data, name)().astype(np.float64)
    if img.ndim == 3:
        img = img[..., :3].mean(axis=2)
    if name == "brick":
        # The photo's courses run vertically: turn them horizontal; tile by mirroring (brick
        # rows stay continuous across the seam).
        img = np.rot90(img)
        img = np.concatenate([img, img[::-1]], axis=0)
        img = np.concatenate([img, img[:, ::-1]], axis=1)
        img = cv2.resize(img, (512, 512), interpolation=cv2.INTER_AREA)
    else:
        img = _tileable(img)
    img = img / img.mean()
    levels = [img.astype(np.float32)]
    while levels[-1].shape[0] > 1:
        t = levels[-1]
        levels.append(0.25 * (t[0::2, 0::2] + t[1::2, 0::2] + t[0::2, 1::2] + t[1::2, 1::2]))
    for t in levels:
        t.flags.writeable = False   # shared by every renderer of the process
    return tuple(levels)


def _tileable(img: np.ndarray) -> np.ndarray:
    """Make a stochastic texture tile without seams: blend it with a copy shifted by half its size,
    the copy taking over towards the edges, and keep the local contrast (variance-preserving
    blend, so the blend zones don't look washed out)."""
    n0, n1 = img.shape
    mean = img.mean()
    a = img - mean
    b = np.roll(a, (n0 // 2, n1 // 2), axis=(0, 1))
    w = (np.sin(np.pi * (np.arange(n0) + 0.5) / n0)[:, None] * np.sin(np.pi * (np.arange(n1) + 0.5) / n1)[None]) ** 2
    return mean + (w * a + (1 - w) * b) / np.sqrt(w * w + (1 - w) ** 2)


def _sample(levels, x: np.ndarray, y: np.ndarray, lod: np.ndarray) -> np.ndarray:
    """Trilinear, periodic lookup at level-0 texel coordinates ``(x, y)`` and level of detail ``lod``."""
    out = np.empty(len(x), dtype=np.float32)
    top = len(levels) - 1
    lod = np.clip(lod, 0.0, top)
    base = np.minimum(np.floor(lod).astype(np.int64), top)
    for lv in np.unique(base):
        m = np.flatnonzero(base == lv)
        f = (lod[m] - lv).astype(np.float32)
        a = _bilinear(levels[lv], x[m] / 2.0**lv, y[m] / 2.0**lv)
        if lv < top:
            b = _bilinear(levels[lv + 1], x[m] / 2.0 ** (lv + 1), y[m] / 2.0 ** (lv + 1))
            a = a * (1 - f) + b * f
        out[m] = a
    return out


def _bilinear(tex: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Periodic bilinear lookup (texel centres at half-integers; sizes are powers of two)."""
    mask = tex.shape[0] - 1
    x, y = x - 0.5, y - 0.5
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = (x - x0).astype(np.float32), (y - y0).astype(np.float32)
    j0, i0 = x0.astype(np.int64) & mask, y0.astype(np.int64) & mask
    j1, i1 = (j0 + 1) & mask, (i0 + 1) & mask
    top = tex[i0, j0] * (1 - fx) + tex[i0, j1] * fx
    bottom = tex[i1, j0] * (1 - fx) + tex[i1, j1] * fx
    return top * (1 - fy) + bottom * fy


@dataclass(frozen=True)
class _Photo:
    texture: str
    tile_m: float        # metres covered by one tile (the photo's physical size)
    strength: float      # contrast of the modulation
    rotate: bool = True  # random in-plane rotation per object (not for bricks)
    macro: float = 0.5   # contrast of the ten times larger copy (patches, stains)


_M = Material
# Which photo modulates which material, at what physical scale. Gravel at a small scale stands in
# for the aggregate of asphalt and concrete and for rough plaster; grass also for leaves.
_PHOTOS = {
    _M.ASPHALT: _Photo("gravel", 0.35, 0.45, macro=0.35),
    _M.SIDEWALK: _Photo("gravel", 0.18, 0.25, macro=0.25),
    _M.GRAVEL: _Photo("gravel", 0.9, 0.9, macro=0.3),
    _M.GRASS: _Photo("grass", 0.6, 1.0, macro=0.5),
    _M.FOLIAGE: _Photo("grass", 0.8, 0.9, macro=0.4),
    _M.STONE: _Photo("gravel", 0.7, 0.45, macro=0.3),
    _M.WALL: _Photo("gravel", 0.5, 0.05, macro=0.08),
    _M.BARK: _Photo("grass", 0.3, 0.35, macro=0.2),
}
for _name, _photo in (("DIRT", _Photo("gravel", 0.4, 0.4, macro=0.4)),
                      ("FIELD", _Photo("grass", 0.8, 0.45, macro=0.4))):
    if hasattr(_M, _name):   # materials added by other scene families
        _PHOTOS[_M[_name]] = _photo
_BRICK = _Photo("brick", 1.8, 0.55, rotate=False, macro=0.0)   # the photo (0.9 m) mirrored 2x2
_PLASTER = _Photo("gravel", 0.35, 0.12, macro=0.25)
_ROOF = _Photo("gravel", 0.5, 0.3, macro=0.3)
_BRICK_SHARE = 0.45     # fraction of facades that are brick (the rest are plastered)
_TEXTURED = np.array(sorted([int(m) for m in _PHOTOS] + [int(_M.FACADE)]), dtype=np.int16)


def _ihash(x: np.ndarray, salt: int) -> np.ndarray:
    """Deterministic pseudo-random floats in [0, 1) from values ``x`` (integer mixing of their
    float32 bits: exact on every machine, and much cheaper than a sine hash)."""
    with np.errstate(over="ignore"):
        h = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32) ^ np.uint32((salt * 0x9E3779B9) & 0xFFFFFFFF)
        h = (h ^ (h >> np.uint32(16))) * np.uint32(0x7FEB352D)
        h = (h ^ (h >> np.uint32(15))) * np.uint32(0x846CA68B)
        h = h ^ (h >> np.uint32(16))
    return h.astype(np.float64) * (1.0 / 2**32)


def _modulation(photo: _Photo, c: SurfaceContext, look: Appearance, salt: int) -> np.ndarray:
    """Detail multiplier [n] (mean about 1) of one photo on hits ``c``, placed per object by its seed
    (the ground, seed 0, by the sequence's ``texture_seed``): offset, scale and rotation."""
    levels = texture_pyramid(photo.texture)
    n_tex = levels[0].shape[0]
    salt = salt * 131 + look.texture_seed
    scale = photo.tile_m * (0.8 + 0.45 * _ihash(c.seed, salt + 1))
    u, v = c.uv[:, 0].astype(np.float64), c.uv[:, 1].astype(np.float64)
    if photo.rotate:
        angle = 2 * np.pi * _ihash(c.seed, salt + 2)
        ca, sa = np.cos(angle), np.sin(angle)
        u, v = ca * u - sa * v, sa * u + ca * v
    x = u * (n_tex / scale) + _ihash(c.seed, salt + 3) * n_tex
    y = v * (-n_tex / scale) + _ihash(c.seed, salt + 4) * n_tex   # image rows run downwards
    with np.errstate(divide="ignore", invalid="ignore"):
        lod = np.nan_to_num(np.log2(np.maximum(c.footprint * (n_tex / scale), 1e-6)), nan=len(levels))
    tex = _sample(levels, x, y, lod)
    # The same photo ten times larger (turned, shifted) for patchy variation at a scale that stays
    # visible at a distance; its contrast also varies over the surface with the procedural noise,
    # so repeats don't line up.
    macro = (_sample(levels, 0.1 * y + 0.37 * n_tex, -0.1 * x + 0.71 * n_tex, lod - np.log2(10.0))
             if photo.macro > 0 else 1.0)
    local = photo.strength * look.texture_strength * (0.55 + 0.9 * c.pattern(0.35, offset=salt % 97))
    detail = 1.0 + local * (tex - 1.0) + (0.5 * photo.macro * look.texture_strength) * (macro - 1.0)
    return np.maximum(detail, 0.0).astype(np.float32)


def photo_detail(material: np.ndarray, ctx: SurfaceContext, look: Appearance) -> np.ndarray:
    """Per-hit multiplier [n] of the albedo from the photographic textures (1 where none applies)."""
    out = np.ones(len(material), dtype=np.float32)
    if not look.textures:
        return out
    wanted = np.flatnonzero(np.isin(material, _TEXTURED))
    if wanted.size == 0:
        return out
    # Sort the textured hits by material once: each material then works on contiguous slices.
    order = wanted[np.argsort(material[wanted], kind="stable")]
    ids = material[order]
    facade = np.flatnonzero(ids == _M.FACADE)
    c = _subset(ctx, order, normals=False)
    facade_normals = ctx.normal[order[facade]] if facade.size else None
    res = np.ones(len(order), dtype=np.float32)
    bounds = np.flatnonzero(np.diff(ids)) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(order)]):
        m = int(ids[lo])
        sub = _slice(c, lo, hi)
        if m == _M.FACADE:
            sub = SurfaceContext(sub.uv, facade_normals, sub.color, sub.seed, sub.footprint, sub.noise)
            res[lo:hi] = _facade_detail(sub, look)
        else:
            res[lo:hi] = _modulation(_PHOTOS[m], sub, look, m)
    out[order] = res
    return out


def _facade_detail(c: SurfaceContext, look: Appearance) -> np.ndarray:
    """Brick on some facades, rough plaster on the others, nothing on their windows; gravel on roofs."""
    glass = facade_glass(c)[0]
    roof = np.abs(c.normal[:, 2]) >= 0.5
    brick = _ihash(c.seed, 7) < _BRICK_SHARE
    mod = np.ones(len(glass), dtype=np.float32)
    for mask, photo, salt in ((roof, _ROOF, 52), (~roof & ~glass & brick, _BRICK, 50),
                              (~roof & ~glass & ~brick, _PLASTER, 51)):
        j = np.flatnonzero(mask)
        if j.size:
            mod[j] = _modulation(photo, _subset(c, j), look, salt)
    return mod


def _subset(c: SurfaceContext, idx: np.ndarray, normals: bool = True) -> SurfaceContext:
    """The hits ``idx`` of ``c``, with what the photo lookups read (not the tints; the normals only
    where asked: facades need them)."""
    return SurfaceContext(c.uv[idx], c.normal[idx] if normals else c.normal, c.color, c.seed[idx], c.footprint[idx],
                          c.noise)


def _slice(c: SurfaceContext, lo: int, hi: int) -> SurfaceContext:
    """Hits ``lo:hi`` of a subset made without normals (views; normals and tints left as they are)."""
    return SurfaceContext(c.uv[lo:hi], c.normal, c.color, c.seed[lo:hi], c.footprint[lo:hi], c.noise)


# ------------------------------------------------------------------------------ lens and camera


def _distort_normalised(x: np.ndarray, y: np.ndarray, d: np.ndarray):
    """OpenCV's forward model (k1, k2, p1, p2, k3) on normalised image coordinates."""
    k1, k2, p1, p2, k3 = d
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    return (x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x),
            y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y)


class LensWarp:
    """Maps between the ideal pinhole image at ``K`` and the distorted sensor image of a lens with
    OpenCV distortion ``(k1, k2, p1, p2[, k3])``, both of the same size and ``K``.

    ``to_sensor`` resamples a pinhole image into the sensor image (for each sensor pixel, its
    undistorted location from ``cv2.undistortPoints``, iterated to convergence; bilinear,
    BORDER_REPLICATE). ``rectify`` undoes it the way a user's pipeline does: the maps of
    ``cv2.initUndistortRectifyMap(K, dist, None, K, size)`` and ``cv2.remap``."""

    def __init__(self, K: np.ndarray, distortion, width: int, height: int) -> None:
        d = np.zeros(5)
        d[:len(distortion)] = distortion
        self.K, self.dist, self.size = np.asarray(K, np.float64), d, (width, height)
        self.rect_x, self.rect_y = cv2.initUndistortRectifyMap(self.K, d, None, self.K, self.size, cv2.CV_32FC1)
        u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
        pts = np.stack([u.ravel(), v.ravel()], axis=1).reshape(-1, 1, 2)
        criteria = (cv2.TERM_CRITERIA_COUNT + cv2.TERM_CRITERIA_EPS, 50, 1e-10)
        und = cv2.undistortPoints(pts, self.K, d, P=self.K, criteria=criteria).reshape(height, width, 2)
        # Sensor pixels that no undistorted ray reaches (beyond the fold of a strongly distorted
        # lens model: the iteration does not converge there) take the image border in their
        # direction (a far point that way, clamped by BORDER_REPLICATE). Rectification never
        # samples them.
        fx, fy, cx, cy = self.K[0, 0], self.K[1, 1], self.K[0, 2], self.K[1, 2]
        xd, yd = _distort_normalised((und[..., 0] - cx) / fx, (und[..., 1] - cy) / fy, d)
        err = np.hypot(xd * fx + cx - u, yd * fy + cy - v)
        bad = ~(err < 0.05)
        du, dv = u[bad] - cx, v[bad] - cy
        with np.errstate(divide="ignore", invalid="ignore"):
            reach = np.minimum(np.where(du > 0, width - 1 - cx, cx) / np.abs(du),
                               np.where(dv > 0, height - 1 - cy, cy) / np.abs(dv))
        und[bad, 0] = cx + du * reach
        und[bad, 1] = cy + dv * reach
        self.sensor_x, self.sensor_y = und[..., 0].astype(np.float32), und[..., 1].astype(np.float32)

    def to_sensor(self, img: np.ndarray) -> np.ndarray:
        return cv2.remap(img, self.sensor_x, self.sensor_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def rectify(self, img: np.ndarray) -> np.ndarray:
        return cv2.remap(img, self.rect_x, self.rect_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _motion_kernel(length: float, angle: float) -> np.ndarray:
    """A normalised, anti-aliased line kernel ``length`` pixels long at ``angle`` radians."""
    r = int(np.ceil(length / 2)) + 1
    k = np.zeros((2 * r + 1, 2 * r + 1), np.float32)
    s = np.linspace(-length / 2, length / 2, max(2, int(np.ceil(length * 4))))
    x, y = r + s * np.cos(angle), r + s * np.sin(angle)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    for dx, dy, wt in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        np.add.at(k, (y0 + dy, x0 + dx), wt)
    return k / k.sum()


_KEY = 0.18   # auto-exposure target: log-mean linear luminance of a well exposed frame


def apply_camera(linear: np.ndarray, look: Appearance | None, rng: np.random.Generator,
                 lens: LensWarp | None = None, noise_std: float = 0.0) -> np.ndarray:
    """The camera's image pipeline: linear RGB [H,W,3] of the pinhole render -> uint8 [H,W,3].

    With ``look=None`` (only a lens) the plain renderer's sensor is kept: additive Gaussian noise
    ``noise_std`` and gamma 2.2, now applied in the distorted sensor image before rectification.
    With a look, its noise model replaces ``noise_std``.
    """
    img = np.ascontiguousarray(linear, dtype=np.float32)
    h, w = img.shape[:2]
    if look is not None:
        lum = img[1::4, 1::4] @ np.array([0.2126, 0.7152, 0.0722], np.float32)   # a sparse sample will do
        log_mean = float(np.exp(np.mean(np.log(np.maximum(lum, 1e-4)))))
        gain = 2.0 ** look.exposure_ev * (_KEY / max(log_mean, 1e-4)) ** look.auto_exposure
    if lens is not None:
        img = lens.to_sensor(img)
    if look is None:
        if noise_std > 0:
            img = img + rng.normal(0.0, noise_std, img.shape)
        out = (np.clip(img, 0, 1) ** (1 / 2.2) * 255 + 0.5).astype(np.uint8)
        return lens.rectify(out) if lens is not None else out
    # Lens: motion blur (length and direction drawn per frame), vignetting.
    length = rng.uniform(0.0, look.motion_blur_px) if look.motion_blur_px > 0 else 0.0
    angle = rng.uniform(0.0, np.pi)
    if length >= 0.5:
        img = cv2.filter2D(img, -1, _motion_kernel(length, angle), borderType=cv2.BORDER_REPLICATE)
    img = img * np.float32(gain)
    if look.vignetting > 0:
        img = img * _vignette(h, w, look.vignetting)[..., None]
    # Sensor: shot noise (variance proportional to the signal) plus read noise.
    if look.shot_noise > 0 or look.read_noise > 0:
        sigma = np.sqrt(look.shot_noise * np.maximum(img, 0.0) + look.read_noise**2)
        shape = (h, w, 3) if look.noise_per_channel else (h, w, 1)
        img = img + sigma * rng.standard_normal(shape, dtype=np.float32)
    # ISP: white balance, tone curve, 8 bit, JPEG.
    img = img * np.asarray(look.white_balance, np.float32)
    y = np.clip(img, 0.0, 1.0) ** np.float32(1.0 / look.gamma)
    if look.contrast > 0:
        y = y + np.float32(look.contrast) * (y * y * (3 - 2 * y) - y)
    out = (np.clip(y, 0, 1) * 255 + 0.5).astype(np.uint8)
    if look.jpeg_quality > 0:
        ok, buf = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(look.jpeg_quality)])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    out = np.ascontiguousarray(out)
    return lens.rectify(out) if lens is not None else out


@functools.lru_cache(maxsize=16)
def _vignette_cached(h: int, w: int, strength: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((xx - (w - 1) / 2) ** 2 + (yy - (h - 1) / 2) ** 2) / (((w - 1) / 2) ** 2 + ((h - 1) / 2) ** 2)
    return (1.0 - strength * r2 ** 1.25).astype(np.float32)


def _vignette(h: int, w: int, strength: float) -> np.ndarray:
    return _vignette_cached(h, w, round(float(strength), 6))
