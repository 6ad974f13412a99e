"""``sensor_msgs/CameraInfo`` <-> :class:`CameraIntrinsics`, including binning and ROI."""

from __future__ import annotations

import numpy as np

from depth_core.geometry import CameraIntrinsics

from .errors import ConversionError
from .types import MessageTypes

__all__ = ["camera_info_to_msg", "intrinsics_from_camera_info"]


def intrinsics_from_camera_info(msg) -> CameraIntrinsics:
    """Intrinsics of the image that comes with this CameraInfo.

    Per REP-104 ``K`` refers to the full-resolution sensor; an ROI crops it and binning
    divides it, in that order, which gives the intrinsics of the published image.
    """
    K = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
    if not np.any(K):
        raise ConversionError("zero_k", "CameraInfo: K is all zeros (camera not calibrated?)")
    try:
        cam = CameraIntrinsics.from_matrix(K, int(msg.width), int(msg.height))
        roi = msg.roi
        if roi.width > 0 and roi.height > 0:
            cam = cam.cropped(int(roi.x_offset), int(roi.y_offset), int(roi.width), int(roi.height))
        bx, by = max(int(msg.binning_x), 1), max(int(msg.binning_y), 1)
        if bx > 1 or by > 1:
            cam = cam.resized(cam.width // bx, cam.height // by)
    except ValueError as exc:
        raise ConversionError("zero_k", f"CameraInfo: {exc}") from None
    return cam


def camera_info_to_msg(types: MessageTypes, cam: CameraIntrinsics, header, distortion=None):
    """A CameraInfo for an undistorted (or ``distortion``: plumb_bob D) pinhole image."""
    K = cam.K
    P = np.zeros((3, 4))
    P[:, :3] = K
    d = np.zeros(5) if distortion is None else np.asarray(distortion, dtype=np.float64)
    return types.CameraInfo(
        header=header, height=cam.height, width=cam.width, distortion_model="plumb_bob",
        d=d, k=K.reshape(-1), r=np.eye(3).reshape(-1), p=P.reshape(-1), binning_x=0, binning_y=0,
        roi=types.RegionOfInterest(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
    )
