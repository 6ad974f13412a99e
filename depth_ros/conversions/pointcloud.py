"""``sensor_msgs/PointCloud2`` <-> numpy for any field layout, ``point_step``, row padding and
byte order, fully vectorised (a structured dtype over the buffer: no per-point Python)."""

from __future__ import annotations

import numpy as np

from .errors import ConversionError
from .types import MessageTypes

__all__ = ["POINTFIELD_DTYPES", "TIME_FIELDS", "field_layout", "pack_rgb", "point_times", "pointcloud_from_msg",
           "pointcloud_to_msg"]

# sensor_msgs/PointField datatype constants.
POINTFIELD_DTYPES = {1: np.int8, 2: np.uint8, 3: np.int16, 4: np.uint16, 5: np.int32, 6: np.uint32,
                     7: np.float32, 8: np.float64}
_DATATYPE_OF = {np.dtype(v): k for k, v in POINTFIELD_DTYPES.items()}


def field_layout(msg) -> dict[str, tuple[int, np.dtype, int]]:
    """``{name: (offset, dtype, count)}`` of a cloud, validated against its ``point_step``."""
    fields = {}
    step = int(msg.point_step)
    for f in msg.fields:
        if f.datatype not in POINTFIELD_DTYPES:
            raise ConversionError("missing_field", f"PointCloud2: field '{f.name}' has unknown datatype {f.datatype}")
        dtype = np.dtype(POINTFIELD_DTYPES[f.datatype]).newbyteorder(">" if msg.is_bigendian else "<")
        count = max(int(f.count), 1)
        end = int(f.offset) + dtype.itemsize * count
        if end > step:
            raise ConversionError("bad_point_step", f"PointCloud2: field '{f.name}' ends at byte {end} but "
                                  f"point_step is {step}")
        fields[f.name] = (int(f.offset), dtype, count)
    return fields


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """RGB [...,3] uint8 -> float32 carrying 0x00RRGGBB in its bits (the PCL / RViz ``rgb`` field)."""
    rgb = np.asarray(rgb, dtype=np.uint32)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    return packed.astype(np.uint32).view(np.float32)


def pointcloud_from_msg(msg, names=("x", "y", "z")) -> dict[str, np.ndarray]:
    """The named fields of every point as flat native arrays [N] (N = width*height, in row order).

    No filtering happens here; :func:`depth_core.geometry.points_in_front` drops NaN / inf points.
    """
    fields = field_layout(msg)
    missing = [n for n in names if n not in fields]
    if missing:
        raise ConversionError("missing_field", f"PointCloud2: no field(s) {missing}; it has {sorted(fields)}")
    h, w, step, row_step = int(msg.height), int(msg.width), int(msg.point_step), int(msg.row_step)
    if step <= 0:
        raise ConversionError("bad_point_step", f"PointCloud2: point_step is {step}")
    if h * w == 0:
        return {n: np.empty(0, dtype=fields[n][1].newbyteorder("=")) for n in names}
    if row_step < w * step:
        raise ConversionError("bad_point_step", f"PointCloud2: row_step {row_step} < width*point_step = {w * step}")
    buf = memoryview(msg.data).cast("B")
    if len(buf) < row_step * h:
        raise ConversionError("truncated_data", f"PointCloud2: data has {len(buf)} bytes, expected "
                              f"row_step*height = {row_step * h}")
    layout = np.dtype({"names": list(names), "formats": [(fields[n][1], (fields[n][2],)) if fields[n][2] > 1
                                                          else fields[n][1] for n in names],
                       "offsets": [fields[n][0] for n in names], "itemsize": step})
    raw = np.frombuffer(buf, dtype=np.uint8, count=row_step * h).reshape(h, row_step)[:, : w * step]
    points = np.ascontiguousarray(raw).view(layout).reshape(-1)
    return {n: points[n].astype(points[n].dtype.newbyteorder("="), copy=True) for n in names}


def pointcloud_to_msg(types: MessageTypes, header, fields: dict[str, np.ndarray], *, height: int = 1,
                      is_dense: bool = False, packed: np.ndarray | None = None):
    """A packed little-endian PointCloud2 from named arrays of equal length (point order kept).

    ``height`` > 1 makes an organised cloud (length must equal height * width). ``packed``: the
    same fields already interleaved, C-contiguous, [..., len(fields)] of their one dtype (such as
    :func:`~depth_core.geometry.organised_cloud`'s xyz), which becomes the data as it is instead of
    being stacked again.
    """
    arrays = {name: np.asarray(a).reshape(-1) for name, a in fields.items()}
    n = len(next(iter(arrays.values())))
    if any(len(a) != n for a in arrays.values()):
        raise ValueError(f"all fields need the same length, got {[len(a) for a in arrays.values()]}")
    if n % height:
        raise ValueError(f"{n} points do not fill {height} rows")
    packed_dtype = np.dtype([(name, a.dtype.newbyteorder("<")) for name, a in arrays.items()])
    msg_fields = []
    for name, a in arrays.items():
        if a.dtype not in _DATATYPE_OF:
            raise ValueError(f"field '{name}': dtype {a.dtype} has no PointField datatype")
        msg_fields.append(types.PointField(name=name, offset=packed_dtype.fields[name][1],
                                           datatype=_DATATYPE_OF[a.dtype], count=1))
    dtypes = {a.dtype.newbyteorder("<") for a in arrays.values()}
    if packed is not None:
        if len(dtypes) != 1 or packed.dtype != next(iter(dtypes)) or not packed.flags.c_contiguous \
                or packed.size != n * len(arrays) or packed.shape[-1] != len(arrays):
            raise ValueError(f"packed: expected a C-contiguous [..., {len(arrays)}] array of the fields' one dtype "
                             f"({', '.join(str(a.dtype) for a in arrays.values())}) holding {n} points, got "
                             f"{packed.dtype} {packed.shape}")
    elif len(dtypes) == 1:   # e.g. x, y, z float32: one interleaving pass instead of one per field
        packed = np.stack(list(arrays.values()), axis=1).astype(dtypes.pop(), copy=False)
    else:
        packed = np.empty(n, dtype=packed_dtype)
        for name, a in arrays.items():
            packed[name] = a
    width = n // height
    return types.PointCloud2(header=header, height=height, width=width, fields=msg_fields, is_bigendian=False,
                             point_step=packed_dtype.itemsize, row_step=packed_dtype.itemsize * width,
                             data=types.byte_array(packed.reshape(-1).view(np.uint8)), is_dense=is_dense)


# Per-point time fields, as the common drivers name them (Velodyne, Ouster, Hesai / Livox).
TIME_FIELDS = ("time", "t", "timestamp")


def point_times(values: np.ndarray, stamp_ns: int) -> np.ndarray:
    """Each point's absolute stamp (ns) from its time field: absolute times (above 1e9: seconds
    if below 1e11, else nanoseconds) as they are; otherwise offsets from the header stamp, in
    nanoseconds for integer fields (Ouster's ``t``) and seconds for float ones (Velodyne's ``time``)."""
    values = np.asarray(values)
    if values.size and np.nanmax(np.abs(values)) > 1e9:
        return (values * (1e9 if np.nanmax(values) < 1e11 else 1)).astype(np.int64)
    if np.issubdtype(values.dtype, np.integer):
        return stamp_ns + values.astype(np.int64)
    return stamp_ns + np.round(values.astype(np.float64) * 1e9).astype(np.int64)
