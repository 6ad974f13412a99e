"""``sensor_msgs/Image`` <-> numpy, without cv_bridge (which breaks on NumPy 2).

Decoding honours ``step`` (row padding) and ``is_bigendian`` and never copies more than needed.
"""

from __future__ import annotations

import re

import cv2
import numpy as np

from .errors import ConversionError
from .types import MessageTypes

__all__ = ["compressed_to_msg", "depth_from_msg", "depth_to_msg", "encoding_layout", "image_from_msg", "image_to_msg",
           "rgb_from_any", "rgb_from_compressed", "rgb_from_msg"]

_NAMED = {
    "rgb8": (np.uint8, 3), "bgr8": (np.uint8, 3), "rgba8": (np.uint8, 4), "bgra8": (np.uint8, 4),
    "rgb16": (np.uint16, 3), "bgr16": (np.uint16, 3), "rgba16": (np.uint16, 4), "bgra16": (np.uint16, 4),
    "mono8": (np.uint8, 1), "mono16": (np.uint16, 1),
}
_CV_DEPTH = {"8U": np.uint8, "8S": np.int8, "16U": np.uint16, "16S": np.int16, "32S": np.int32,
             "32F": np.float32, "64F": np.float64}
_BAYER = re.compile(r"^bayer_(rggb|bggr|gbrg|grbg)(8|16)$")
# ROS names the 2x2 pattern from the top-left pixel; OpenCV names it from the second row's
# second pixel, hence the swap (as in cv_bridge).
_BAYER_TO_RGB = {"rggb": cv2.COLOR_BayerBG2RGB, "bggr": cv2.COLOR_BayerRG2RGB,
                 "gbrg": cv2.COLOR_BayerGR2RGB, "grbg": cv2.COLOR_BayerGB2RGB}


def encoding_layout(encoding: str) -> tuple[np.dtype, int]:
    """``(dtype, channels)`` of a ROS image encoding; raises ``ConversionError`` if unknown."""
    if encoding in _NAMED:
        dtype, channels = _NAMED[encoding]
        return np.dtype(dtype), channels
    m = re.fullmatch(r"(8U|8S|16U|16S|32S|32F|64F)C([1-4])", encoding)
    if m:
        return np.dtype(_CV_DEPTH[m.group(1)]), int(m.group(2))
    m = _BAYER.fullmatch(encoding)
    if m:
        return np.dtype(np.uint8 if m.group(2) == "8" else np.uint16), 1
    raise ConversionError("unknown_encoding", f"Image: unknown encoding '{encoding}'")


def image_from_msg(msg) -> np.ndarray:
    """Pixels of an Image as [H,W] or [H,W,C] in the encoding's dtype (native byte order)."""
    dtype, channels = encoding_layout(msg.encoding)
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h <= 0 or w <= 0:
        raise ConversionError("bad_size", f"Image: empty image ({w}x{h})")
    row_bytes = w * channels * dtype.itemsize
    if step < row_bytes:
        raise ConversionError("step_mismatch", f"Image: step {step} is smaller than width*channels*bytes = "
                              f"{row_bytes} for {w} px of {msg.encoding}")
    buf = memoryview(msg.data).cast("B")
    if len(buf) < step * h:
        raise ConversionError("truncated_data", f"Image: data has {len(buf)} bytes, expected step*height = "
                              f"{step * h} ({step}*{h})")
    if dtype.itemsize > 1:
        dtype = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    rows = np.frombuffer(buf, dtype=np.uint8, count=step * h).reshape(h, step)[:, :row_bytes]
    pixels = np.ascontiguousarray(rows).view(dtype).reshape(h, w, channels)
    if not dtype.isnative:
        pixels = pixels.astype(dtype.newbyteorder("="))
    return pixels[..., 0] if channels == 1 else pixels


def rgb_from_msg(msg) -> np.ndarray:
    """An Image of any colour, mono or Bayer encoding as RGB [H,W,3] uint8."""
    pixels = image_from_msg(msg)
    enc = msg.encoding
    bayer = _BAYER.fullmatch(enc)
    if bayer:
        rgb = cv2.cvtColor(pixels, _BAYER_TO_RGB[bayer.group(1)])
    elif enc in ("bgr8", "bgr16", "8UC3"):  # 8UC3 follows the OpenCV (BGR) convention
        rgb = pixels[..., ::-1]
    elif enc in ("bgra8", "bgra16"):
        rgb = pixels[..., 2::-1]
    elif enc in ("rgba8", "rgba16"):
        rgb = pixels[..., :3]
    elif pixels.ndim == 2:
        rgb = np.repeat(pixels[..., None], 3, axis=2)
    elif pixels.shape[2] == 3:
        rgb = pixels
    else:
        raise ConversionError("unknown_encoding", f"Image: cannot read '{enc}' as a colour image")
    if rgb.dtype == np.uint16:
        rgb = (rgb >> 8).astype(np.uint8)
    elif rgb.dtype != np.uint8:
        raise ConversionError("unknown_encoding", f"Image: cannot read '{enc}' ({rgb.dtype}) as a colour image")
    return np.ascontiguousarray(rgb)


def depth_from_msg(msg) -> np.ndarray:
    """A depth Image as float32 metres [H,W], NaN where invalid: 32FC1 metres (NaN/inf/<=0
    invalid) or 16UC1/mono16 millimetres (0 invalid), the two depth_image_proc conventions."""
    pixels = image_from_msg(msg)
    if msg.encoding == "32FC1":
        depth = pixels.astype(np.float32, copy=True)
    elif msg.encoding in ("16UC1", "mono16"):
        depth = pixels.astype(np.float32) / 1000.0
    else:
        raise ConversionError("unknown_encoding", f"Image: '{msg.encoding}' is not a depth encoding "
                              "(expected 32FC1 metres or 16UC1 millimetres)")
    with np.errstate(invalid="ignore"):
        depth[~(np.isfinite(depth) & (depth > 0))] = np.nan
    return depth


def image_to_msg(types: MessageTypes, pixels: np.ndarray, encoding: str, header):
    """An Image from [H,W] or [H,W,C] pixels whose dtype and channels match ``encoding``."""
    dtype, channels = encoding_layout(encoding)
    pixels = np.asarray(pixels)
    h, w = pixels.shape[:2]
    got = 1 if pixels.ndim == 2 else pixels.shape[2]
    if pixels.dtype != dtype or got != channels:
        raise ValueError(f"{encoding} needs {channels} channel(s) of {dtype}, got {got} of {pixels.dtype}")
    pixels = np.ascontiguousarray(pixels, dtype=dtype.newbyteorder("<"))
    return types.Image(header=header, height=h, width=w, encoding=encoding, is_bigendian=0,
                       step=w * channels * dtype.itemsize, data=types.byte_array(pixels))


def depth_to_msg(types: MessageTypes, depth: np.ndarray, header):
    """A 32FC1 Image in metres (NaN = invalid), as depth_image_proc publishes."""
    return image_to_msg(types, np.asarray(depth, dtype=np.float32), "32FC1", header)


def rgb_from_compressed(msg) -> np.ndarray:
    """A ``sensor_msgs/CompressedImage`` (jpeg or png, as image_transport's ``compressed``
    plugin publishes: format ``"rgb8; jpeg compressed bgr8"`` or just ``"jpeg"``) as RGB uint8."""
    fmt = (msg.format or "").lower()
    if "compresseddepth" in fmt:
        raise ConversionError("unknown_encoding",
                              f"CompressedImage: '{msg.format}' is a depth format, not a colour image")
    if fmt and not any(k in fmt for k in ("jpeg", "jpg", "png")):
        raise ConversionError("unknown_encoding", f"CompressedImage: unsupported format '{msg.format}' (jpeg or png)")
    buf = np.frombuffer(memoryview(msg.data).cast("B"), dtype=np.uint8)
    if buf.size == 0:
        raise ConversionError("truncated_data", "CompressedImage: no data")
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if decoded is None:
        raise ConversionError("truncated_data",
                              f"CompressedImage: {buf.size} bytes do not decode as {msg.format or 'an image'}")
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)


def compressed_to_msg(types: MessageTypes, rgb: np.ndarray, header, fmt: str = "jpeg", quality: int = 90):
    """A CompressedImage (jpeg or png) from RGB uint8."""
    ext = ".jpg" if fmt == "jpeg" else ".png"
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if fmt == "jpeg" else []
    ok, encoded = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ValueError(f"could not encode {fmt}")
    return types.CompressedImage(header=header, format=f"rgb8; {fmt} compressed bgr8",
                                 data=types.byte_array(encoded.reshape(-1)))


def rgb_from_any(msg) -> np.ndarray:
    """An ``Image`` or a ``CompressedImage`` as RGB [H,W,3] uint8: what the node, the replay and
    ``depth-ros-dataset`` read from an image topic, whichever kind it carries."""
    compressed = hasattr(msg, "format") and not hasattr(msg, "encoding")
    return rgb_from_compressed(msg) if compressed else rgb_from_msg(msg)
