"""``geometry_msgs/TransformStamped`` and ``tf2_msgs/TFMessage`` <-> 4x4 matrices."""

from __future__ import annotations

import numpy as np

from depth_core.geometry import TransformTree, transform_from_xyzquat, transform_to_xyzquat

from .errors import ConversionError
from .header import make_header, stamp_to_ns
from .types import MessageTypes

__all__ = ["transform_from_msg", "transform_to_msg", "tree_from_tf_messages"]


def transform_to_msg(types: MessageTypes, parent: str, child: str, T_parent_child, stamp_ns: int):
    x, y, z, qx, qy, qz, qw = transform_to_xyzquat(T_parent_child)
    return types.TransformStamped(
        header=make_header(types, stamp_ns, parent), child_frame_id=child,
        transform=types.Transform(translation=types.Vector3(x=x, y=y, z=z),
                                  rotation=types.Quaternion(x=qx, y=qy, z=qz, w=qw)))


def transform_from_msg(msg) -> tuple[str, str, np.ndarray, int]:
    """``(parent, child, T_parent_child, stamp_ns)`` of a TransformStamped."""
    t, q = msg.transform.translation, msg.transform.rotation
    try:
        T = transform_from_xyzquat([t.x, t.y, t.z, q.x, q.y, q.z, q.w])
    except ValueError as exc:
        raise ConversionError("bad_transform", f"TransformStamped {msg.header.frame_id} -> "
                              f"{msg.child_frame_id}: {exc}") from None
    return msg.header.frame_id, msg.child_frame_id, T, stamp_to_ns(msg.header.stamp)


def tree_from_tf_messages(messages) -> TransformTree:
    """A :class:`TransformTree` holding every transform of the given TFMessages (later ones win)."""
    tree = TransformTree()
    for msg in messages:
        for ts in msg.transforms:
            parent, child, T, _ = transform_from_msg(ts)
            tree.add(parent, child, T)
    return tree
