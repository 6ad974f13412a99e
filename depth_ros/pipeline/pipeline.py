"""The frame pipeline shared by ``san_node`` (live) and ``depth-ros-eval`` (bag replay):

    image (+ camera_info, + optional LiDAR cloud) -> decode -> LiDAR projected into the image
    -> estimator -> depth / camera_info / confidence / pseudo-LiDAR messages

Only the transport differs between its two users; every conversion, check and timing is here.
A damaged image or camera_info raises :class:`ConversionError` with a reason; a damaged, stale or
missing cloud never stops the camera path: the frame is predicted without it and the reason is
reported in :attr:`FrameResult.lidar_status`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from depth_core.geometry import CameraIntrinsics, project_points, transform_from_xyzquat
from depth_core.inference import DepthEstimator

from ..conversions import (
    ConversionError,
    MessageTypes,
    camera_info_to_msg,
    depth_to_msg,
    intrinsics_from_camera_info,
    pointcloud_from_msg,
    pointcloud_to_msg,
    rgb_from_compressed,
    rgb_from_msg,
    stamp_to_ns,
)
from .pseudo_lidar import cloud_fields

__all__ = ["FramePipeline", "FrameResult", "PipelineConfig", "TransformLookup"]

# (target_frame, source_frame, stamp_ns) -> T_target_source [4,4]; raises KeyError when unknown.
TransformLookup = Callable[[str, str, int], np.ndarray]


@dataclass
class PipelineConfig:
    use_lidar: bool = True
    lidar_max_age: float = 0.15             # s: a cloud older (or newer) than this is stale
    lidar_extrinsic: list | None = None     # [x, y, z, qx, qy, qz, qw]: LiDAR pose in the camera frame
    output_width: int = 0                   # published size; 0 = the input image's
    output_height: int = 0
    points_stride: int = 1                  # pseudo-LiDAR: keep every n-th pixel in each direction
    points_max_range: float = 0.0           # pseudo-LiDAR: drop points farther than this (m); 0 = keep all
    points_frame: str = ""                  # pseudo-LiDAR frame; "" = the camera optical frame
    points_rgb: bool = False                # pseudo-LiDAR: add a packed rgb field (XYZRGB)


@dataclass
class FrameResult:
    stamp_ns: int
    frame_id: str
    depth: np.ndarray                       # [h,w] float32 m at the output size, NaN invalid
    camera: CameraIntrinsics                # of the output
    mode: str                               # 'prediction' | 'completion'
    lidar_status: str                       # 'used' | 'disabled' | 'none' | 'stale' | 'no_extrinsic' | a reason
    lidar_age: float | None                 # s, image stamp - cloud stamp
    timings: dict[str, float]               # s per stage
    messages: dict = field(default_factory=dict)
    rgb: np.ndarray | None = None
    sparse_depth: np.ndarray | None = None  # the LiDAR input at the image's size (0 = none)


class FramePipeline:
    def __init__(self, estimator: DepthEstimator, config: PipelineConfig, types: MessageTypes,
                 transform_lookup: TransformLookup | None = None) -> None:
        self.estimator, self.config, self.types = estimator, config, types
        self.transform_lookup = transform_lookup
        self._extrinsic = (transform_from_xyzquat(config.lidar_extrinsic)
                           if config.lidar_extrinsic is not None else None)
        self._camera_cache: tuple | None = None

    # -- inputs ---------------------------------------------------------------------------------

    def camera(self, info_msg) -> CameraIntrinsics:
        key = (tuple(np.asarray(info_msg.k, dtype=float)), info_msg.width, info_msg.height, info_msg.binning_x,
               info_msg.binning_y, info_msg.roi.x_offset, info_msg.roi.y_offset, info_msg.roi.width,
               info_msg.roi.height)
        if self._camera_cache is None or self._camera_cache[0] != key:
            self._camera_cache = (key, intrinsics_from_camera_info(info_msg))
        return self._camera_cache[1]

    @staticmethod
    def decode_image(msg) -> np.ndarray:
        compressed = hasattr(msg, "format") and not hasattr(msg, "encoding")
        return rgb_from_compressed(msg) if compressed else rgb_from_msg(msg)

    def lidar_to_camera(self, cloud_msg, camera_frame: str) -> np.ndarray:
        """T_camera_lidar for this cloud: TF at the cloud's stamp when available, else the
        configured extrinsic. Raises KeyError when neither knows the transform."""
        stamp = stamp_to_ns(cloud_msg.header.stamp)
        if self.transform_lookup is not None:
            try:
                return self.transform_lookup(camera_frame, cloud_msg.header.frame_id, stamp)
            except KeyError:
                if self._extrinsic is None:
                    raise
        if self._extrinsic is None:
            raise KeyError(f"no transform {cloud_msg.header.frame_id} -> {camera_frame} and no lidar_extrinsic")
        return self._extrinsic

    def camera_points(self, cloud_msg, T: np.ndarray, with_ring: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """The cloud's finite points that lie in front of the camera, moved into the camera frame by
        ``T`` (float32 [N,3]), and their ring indices (None without a ring field or ``with_ring``);
        raises ConversionError('empty_cloud') when the cloud has no finite point. One pass per
        coordinate, and only the points in front are transformed: a 360-degree scan is mostly not."""
        has_ring = with_ring and any(f.name == "ring" for f in cloud_msg.fields)
        f = pointcloud_from_msg(cloud_msg, ("x", "y", "z", "ring") if has_ring else ("x", "y", "z"))
        x, y, z = (f[k].astype(np.float32, copy=False) for k in "xyz")
        finite = np.isfinite(x) & np.isfinite(y) & np.isfinite(z)
        if not finite.any():
            raise ConversionError("empty_cloud", "PointCloud2: no finite point (empty or all NaN)")
        R, t = np.asarray(T[:3, :3], np.float32), np.asarray(T[:3, 3], np.float32)
        with np.errstate(invalid="ignore", over="ignore"):
            zc = R[2, 0] * x + R[2, 1] * y + R[2, 2] * z + t[2]
            keep = np.flatnonzero(finite & (zc > 1e-3))
        x, y, z = x[keep], y[keep], z[keep]
        points = np.empty((len(keep), 3), np.float32)
        points[:, 0] = R[0, 0] * x + R[0, 1] * y + R[0, 2] * z + t[0]
        points[:, 1] = R[1, 0] * x + R[1, 1] * y + R[1, 2] * z + t[1]
        points[:, 2] = zc[keep]
        return points, (f["ring"][keep] if has_ring else None)

    # -- one frame ------------------------------------------------------------------------------

    def process(self, image_msg, info_msg, cloud_msg=None, *, outputs=("depth", "camera_info", "confidence", "points"),
                keep_points: Callable[[np.ndarray, np.ndarray | None], np.ndarray] | None = None,
                keep_arrays: bool = False) -> FrameResult:
        """Run one frame. ``keep_points(sparse, rings)`` may select a subset of the projected LiDAR
        pixels (the replay holds some out for scoring; ``rings`` [H,W] is -1 where no point or
        None when the cloud has no ring field); ``outputs`` names the messages to build."""
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        stamp = stamp_to_ns(image_msg.header.stamp)
        if stamp == 0:
            raise ConversionError("zero_stamp", "image has a zero stamp (a driver without a clock?)")
        if info_msg is None:
            raise ConversionError("missing_camera_info", "no camera_info for this image")
        rgb = self.decode_image(image_msg)
        cam = self.camera(info_msg)
        h, w = rgb.shape[:2]
        if (cam.width, cam.height) != (w, h):
            if cam.width * h != cam.height * w:
                raise ConversionError("size_mismatch", f"camera_info is for {cam.width}x{cam.height} images, "
                                                       f"the image is {w}x{h}")
            cam = cam.resized(w, h)  # e.g. a downscaled image with the full-size calibration
        frame_id = image_msg.header.frame_id or (info_msg.header.frame_id if info_msg else "")
        timings["decode"] = time.perf_counter() - t0

        t = time.perf_counter()
        sparse, points_cam, status, age = None, None, "disabled", None
        direct = keep_points is None and not keep_arrays   # LiDAR projected by the estimator at the network size
        if self.config.use_lidar:
            status = "none"
            if cloud_msg is not None:
                age = (stamp - stamp_to_ns(cloud_msg.header.stamp)) * 1e-9
                if abs(age) > self.config.lidar_max_age:
                    status = "stale"
                else:
                    try:
                        T = self.lidar_to_camera(cloud_msg, frame_id)
                        points_cam, ring = self.camera_points(cloud_msg, T, with_ring=keep_points is not None)
                        if direct:
                            status = "used" if len(points_cam) else "no_points_in_view"
                        else:   # the replay: a sparse image at the image's size, to split into input and held out
                            sparse, index = project_points(points_cam, cam.K, h, w, return_index=True)
                            if keep_points is not None:
                                rings = None if ring is None else np.where(index >= 0, ring[np.maximum(index, 0)], -1)
                                sparse = keep_points(sparse, rings)
                            status = "used" if np.any(sparse > 0) else "no_points_in_view"
                    except ConversionError as exc:
                        status = exc.reason
                    except KeyError:
                        status = "no_extrinsic"
        timings["lidar"] = time.perf_counter() - t

        if direct:
            result = self.estimator.predict(rgb, cam.K, sparse_points=points_cam if status == "used" else None)
            if status == "used" and result.n_points == 0 and self.estimator.uses_sparse_depth:
                status = "no_points_in_view"   # in front of the camera, but outside the image
        else:
            result = self.estimator.predict(rgb, cam.K, sparse if status == "used" else None)
        timings.update(result.timings)

        t = time.perf_counter()
        out_w = self.config.output_width or w
        out_h = self.config.output_height or h
        depth, out_cam = result.depth, cam
        confidence = result.confidence
        if (out_w, out_h) != (w, h):
            depth = cv2.resize(depth, (out_w, out_h), interpolation=cv2.INTER_NEAREST)
            if confidence is not None:
                confidence = cv2.resize(confidence, (out_w, out_h), interpolation=cv2.INTER_NEAREST)
            out_cam = cam.resized(out_w, out_h)
        timings["postprocess"] = timings.get("postprocess", 0.0) + time.perf_counter() - t

        frame = FrameResult(stamp, frame_id, depth, out_cam, result.mode, status, age, timings)
        if keep_arrays:
            frame.rgb, frame.sparse_depth = rgb, sparse
        self._messages(frame, image_msg.header, rgb, confidence, outputs)
        return frame

    def _messages(self, frame: FrameResult, header, rgb: np.ndarray, confidence, outputs) -> None:
        types = self.types
        t = time.perf_counter()
        if "depth" in outputs:
            frame.messages["depth"] = depth_to_msg(types, frame.depth, header)
        if "camera_info" in outputs:
            frame.messages["camera_info"] = camera_info_to_msg(types, frame.camera, header)
        if "confidence" in outputs and confidence is not None:
            frame.messages["confidence"] = depth_to_msg(types, confidence, header)
        frame.timings["encode"] = time.perf_counter() - t
        if "points" in outputs:
            t = time.perf_counter()
            frame.messages["points"] = self.pseudo_lidar(frame, header, rgb)
            frame.timings["pseudo_lidar"] = time.perf_counter() - t

    def pseudo_lidar(self, frame: FrameResult, header, rgb: np.ndarray):
        cfg, types = self.config, self.types
        T, frame_id = None, frame.frame_id
        if cfg.points_frame and cfg.points_frame != frame.frame_id:
            if self.transform_lookup is None:
                raise KeyError(f"points_frame '{cfg.points_frame}' needs TF, which is not available")
            T = self.transform_lookup(cfg.points_frame, frame.frame_id, frame.stamp_ns)
            frame_id = cfg.points_frame
        colour = None
        if cfg.points_rgb:
            colour = rgb if rgb.shape[:2] == frame.depth.shape else cv2.resize(
                rgb, frame.depth.shape[::-1], interpolation=cv2.INTER_AREA)
        fields = cloud_fields(frame.depth, frame.camera.K, stride=max(cfg.points_stride, 1),
                              max_range=cfg.points_max_range, T_target_camera=T, rgb=colour)
        out_header = types.Header(stamp=header.stamp, frame_id=frame_id)
        return pointcloud_to_msg(types, out_header, fields, height=fields["x"].shape[0], is_dense=False)
