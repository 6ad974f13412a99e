"""``sensor_msgs/CameraInfo`` <-> :class:`CameraIntrinsics`, including binning and ROI."""

from __future__ import annotations

import numpy as np

from depth_core.geometry import CameraIntrinsics

from .errors import ConversionError
from .types import MessageTypes

__all__ = ["CAMERA_MATRICES", "camera_info_to_msg", "camera_matrix_note", "fit_camera", "intrinsics_from_camera_info"]

CAMERA_MATRICES = ("auto", "p", "k")


def _matrices(msg) -> tuple[np.ndarray, np.ndarray]:
    K = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
    P = np.asarray(msg.p, dtype=np.float64).reshape(3, 4)[:, :3]
    return K, P


def _chosen(msg, matrix: str) -> tuple[str, np.ndarray]:
    if matrix not in CAMERA_MATRICES:
        raise ValueError(f"camera matrix: expected one of {', '.join(CAMERA_MATRICES)}, got '{matrix}'")
    K, P = _matrices(msg)
    p_set = P[0, 0] > 0 and P[1, 1] > 0
    if matrix == "p" or (matrix == "auto" and p_set):
        if not p_set:
            raise ConversionError("zero_p", "CameraInfo: P is not set (camera not calibrated? camera_matrix k "
                                            "uses K)")
        return "P", P
    if not np.any(K):
        raise ConversionError("zero_k", "CameraInfo: K is all zeros (camera not calibrated?)" if matrix == "k" else
                                        "CameraInfo: K and P are all zeros (camera not calibrated?)")
    return "K", K


def intrinsics_from_camera_info(msg, matrix: str = "auto") -> CameraIntrinsics:
    """Intrinsics of the image that comes with this CameraInfo.

    ``matrix``: ``p``, the left 3x3 of the projection matrix P: the camera of the rectified image,
    which is what image_geometry (``PinholeCameraModel.fx()``) and depth_image_proc project with;
    ``k``, the raw (distorted) camera's K; ``auto`` (default), P when it is set, else K. They differ
    where the published image is rectified and K describes the raw sensor (KITTI's bags: K's focal
    length is 960 px, the rectified images' 721 px), or where only P is filled in.

    Per REP-104 K and P refer to the full-resolution sensor; an ROI crops it and binning divides
    it, in that order, which gives the intrinsics of the published image.
    """
    _, K = _chosen(msg, matrix)
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


def fit_camera(cam: CameraIntrinsics, width: int, height: int) -> CameraIntrinsics:
    """``cam`` for an image of ``width`` x ``height``: itself, or scaled where the image is a
    resized copy (a downscaled image with the full-size calibration); a ConversionError
    ('size_mismatch') where the aspect ratios differ."""
    if (cam.width, cam.height) == (width, height):
        return cam
    if cam.width * height != cam.height * width:
        raise ConversionError("size_mismatch", f"camera_info is for {cam.width}x{cam.height} images, "
                                               f"the image is {width}x{height}")
    return cam.resized(width, height)


def camera_matrix_note(msg, matrix: str = "auto") -> str | None:
    """A line for the log where K and P differ (more than 0.1 % in focal length or 0.5 px in the
    principal point), saying which one is used; None where they agree or only one is set."""
    try:
        which, M = _chosen(msg, matrix)
    except ConversionError:
        return None
    K, P = _matrices(msg)
    if not (np.any(K) and P[0, 0] > 0 and P[1, 1] > 0):
        return None
    if np.allclose(K[:2, :2], P[:2, :2], rtol=1e-3, atol=0) and np.allclose(K[:2, 2], P[:2, 2], atol=0.5):
        return None
    other = K if which == "P" else P
    hint = ("the rectified image's camera, as image_geometry uses; if the image is not rectified, rectify it "
            "(image_proc) or set camera_matrix to k" if which == "P" else "the raw camera's, as asked")
    return (f"camera_info: K (fx {K[0, 0]:.1f}, cx {K[0, 2]:.1f}) and P (fx {P[0, 0]:.1f}, cx {P[0, 2]:.1f}) "
            f"differ: projecting with {which} (fx {M[0, 0]:.1f}; not {other[0, 0]:.1f}), {hint}")


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
