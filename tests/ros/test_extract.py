"""depth-ros-dataset: robot bags become training frame sets."""

from __future__ import annotations

import subprocess

import cv2
import numpy as np
import pytest

from depth_core.data import FrameDataset
from depth_core.geometry import transform_to_xyzquat
from depth_ros.bag import BagError, BagWriter, read_messages
from depth_ros.bag.extract import extract_frames
from depth_ros.conversions import (
    compressed_to_msg,
    depth_from_msg,
    image_to_msg,
    rgb_from_msg,
    tree_from_tf_messages,
)


def test_bag_frames_with_depth_topic_ground_truth(sim_bag, tmp_path):
    summary = extract_frames(sim_bag, tmp_path / "gt", image_topic="/camera/image_raw",
                             camera_info_topic="/camera/camera_info", lidar_topic="/lidar/points",
                             depth_topic="/camera/depth_gt", progress=False)
    assert summary["samples"] == 6 and summary["images"]["no_scan"] == 0
    data = FrameDataset(tmp_path / "gt")
    truth = depth_from_msg(next(m.msg for m in read_messages(sim_bag, ["/camera/depth_gt"])))
    sample = data[0]
    expected = np.where(np.isfinite(truth), truth, 0)
    assert np.abs(sample["depth"] - expected).max() <= 1 / 512 + 1e-6
    assert sample["ring"] is not None and (sample["sparse_depth"] > 0).sum() > 1000
    assert sample["T_world_base"] is not None and sample["T_cam_lidar"].shape == (4, 4)
    # Every other image: the depth images of the others are let go, the kept ones still paired.
    every = extract_frames(sim_bag, tmp_path / "gt2", image_topic="/camera/image_raw",
                           camera_info_topic="/camera/camera_info", lidar_topic="/lidar/points",
                           depth_topic="/camera/depth_gt", every=2, progress=False)
    assert every["samples"] == 3 and every["images"]["no_scan"] == 0
    np.testing.assert_array_equal(FrameDataset(tmp_path / "gt2")[1]["depth"], data[2]["depth"])


def test_accumulated_scans_densify_the_ground_truth(sim_bag, tmp_path):
    kwargs = dict(image_topic="/camera/image_raw", camera_info_topic="/camera/camera_info",
                  lidar_topic="/lidar/points", progress=False)
    extract_frames(sim_bag, tmp_path / "one", **kwargs)
    extract_frames(sim_bag, tmp_path / "acc", accumulate=2, **kwargs)
    extract_frames(sim_bag, tmp_path / "gt", depth_topic="/camera/depth_gt", **kwargs)
    one, acc, gt = (FrameDataset(tmp_path / n)[3] for n in ("one", "acc", "gt"))
    assert (acc["depth"] > 0).sum() > (one["depth"] > 0).sum() * 1.05
    both = (acc["depth"] > 0) & (gt["depth"] > 0)
    rel = np.abs(acc["depth"][both] - gt["depth"][both]) / gt["depth"][both]
    assert np.median(rel) < 0.03   # scans moved with the bag's odometry land on the rendered surfaces
    # Denser, and no less exact than one scan: the other scans' points that nearer ones hide from
    # the camera are dropped (the occlusion rule, tested in tests/core/test_sweeps.py).
    single = (one["depth"] > 0) & (gt["depth"] > 0)
    rel_one = np.abs(one["depth"][single] - gt["depth"][single]) / gt["depth"][single]
    assert (rel > 0.03).mean() <= (rel_one > 0.03).mean()


def test_accumulated_ground_truth_leaves_out_what_moved_by_the_photometric_rule(tmp_path, monkeypatch):
    """Cars and people moving: the other scans' points whose brightness in their own image the
    frame's image contradicts are left out of the accumulated ground truth."""
    import depth_ros.bag.extract as extract
    from depth_ros.bag.simulate import write_sim_bag

    bag = write_sim_bag(tmp_path / "moving", "street", 10, seed=11, width=320, height=96, moving_objects=12,
                        progress=False)
    kwargs = dict(image_topic="/camera/image_raw", camera_info_topic="/camera/camera_info",
                  lidar_topic="/lidar/points", progress=False)
    extract_frames(bag, tmp_path / "gt", depth_topic="/camera/depth_gt", **kwargs)
    # The rule alone: exact odometry here, so no alignment (tested below, with drift).
    tested = extract_frames(bag, tmp_path / "rule", accumulate=3, align_images=False, **kwargs)["photometric_rule"]
    assert tested["scans_tested"] > 0 and tested["scans_not_tested"] == 0
    monkeypatch.setattr(extract, "_image_at", lambda *args: None)     # no image for any scan: the rule is off
    untested = extract_frames(bag, tmp_path / "off", accumulate=3, align_images=False, **kwargs)["photometric_rule"]
    assert untested["scans_tested"] == 0 and untested["scans_not_tested"] == tested["scans_tested"]
    gt = FrameDataset(tmp_path / "gt")

    def off_and_count(name: str) -> tuple[float, int]:
        data, off, total = FrameDataset(tmp_path / name), 0, 0
        for i in range(3, len(data) - 3):
            a, g = data[i]["depth"], gt[i]["depth"]
            both = (a > 0) & (g > 0)
            off += int((np.abs(a[both] - g[both]) > 0.03 * g[both]).sum())
            total += int(both.sum())
        return off / total, total

    (with_rule, kept), (without, all_points) = off_and_count("rule"), off_and_count("off")
    assert with_rule < 0.8 * without              # 12.1 % against 17.2 % of the pixels more than 3 % off
    assert kept > 0.95 * all_points               # while keeping 98 % of them


def test_no_align_images_without_accumulate_is_refused_before_the_bag_is_read(tmp_path, capsys):
    from depth_ros.bag.extract import main

    assert main([str(tmp_path / "no_such_bag"), "--out", str(tmp_path / "ds"), "--no-align-images"]) == 2
    assert "--no-align-images only applies to accumulated scans" in capsys.readouterr().err
    assert not (tmp_path / "ds").exists()


@pytest.mark.slow
def test_accumulated_ground_truth_takes_the_odometrys_drift_out_by_the_images(tmp_path):
    """Odometry that drifts (30 cm/s and 3 deg/s, a bad wheel odometry): the other scans land off
    their surfaces; aligned to the frame's image first (the default), they land back on them."""
    from depth_ros.bag.simulate import write_sim_bag

    bag = write_sim_bag(tmp_path / "drift", "street", 12, seed=11, width=320, height=96, odometry_drift=(0.3, 3.0),
                        progress=False)
    kwargs = dict(image_topic="/camera/image_raw", camera_info_topic="/camera/camera_info",
                  lidar_topic="/lidar/points", progress=False)
    extract_frames(bag, tmp_path / "gt", depth_topic="/camera/depth_gt", **kwargs)
    gt = FrameDataset(tmp_path / "gt")
    off = {}
    for align in (True, False):
        summary = extract_frames(bag, tmp_path / f"align{align}", accumulate=3, align_images=align, **kwargs)
        aligned = summary["photometric_rule"]["scans_aligned"]
        assert summary["photometric_rule"]["align_images"] is align
        assert aligned > 0.5 * summary["photometric_rule"]["scans_tested"] if align else aligned == 0
        data, wrong, total = FrameDataset(tmp_path / f"align{align}"), 0, 0
        for i in range(3, len(data) - 3):
            a, g = data[i]["depth"], gt[i]["depth"]
            both = (a > 0) & (g > 0)
            wrong += int((np.abs(a[both] - g[both]) > 0.03 * g[both]).sum())
            total += int(both.sum())
        off[align] = wrong / total
    assert off[True] < 0.7 * off[False]           # 21 % against 38 % of the pixels more than 3 % off


def test_console_script_reports_bad_topics_in_one_line(sim_bag, tmp_path, venv_bin):
    result = subprocess.run([str(venv_bin / "depth-ros-dataset"), str(sim_bag), "--out", str(tmp_path / "x"),
                             "--lidar-topic", "/velodyne_points"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--lidar-topic /velodyne_points is not in the bag" in lines[0]
    assert list(tmp_path.iterdir()) == []
    ok = subprocess.run([str(venv_bin / "depth-ros-dataset"), str(sim_bag), "--out", str(tmp_path / "y"), "--quiet",
                         "--every", "2"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "wrote 3 frames" in ok.stdout


def test_compressed_images_make_the_same_frame_set(sim_bag, tmp_path):
    """A bag recorded with image_transport's compressed topic (png: lossless) gives the frame set
    the raw images give, for LiDAR and video frame sets alike."""
    bag = tmp_path / "compressed"
    with BagWriter(bag) as w:
        for m in read_messages(sim_bag):
            if m.topic == "/camera/image_raw":
                w.write("/camera/image_raw/compressed", compressed_to_msg(w.types, rgb_from_msg(m.msg),
                                                                          m.msg.header, fmt="png"), m.stamp_ns)
            else:
                w.write(m.topic, m.msg, m.stamp_ns)
    for lidar in ("/lidar/points", None):
        runs = {}
        for name, source, topic in (("raw", sim_bag, "/camera/image_raw"),
                                    ("png", bag, "/camera/image_raw/compressed")):
            out = tmp_path / f"{name}_{lidar is None}"
            runs[name] = extract_frames(source, out, image_topic=topic, camera_info_topic="/camera/camera_info",
                                        lidar_topic=lidar, progress=False)
            runs[name + "_data"] = FrameDataset(out)
        assert runs["png"]["samples"] == runs["raw"]["samples"] > 0
        np.testing.assert_array_equal(runs["png_data"][0]["rgb"], runs["raw_data"][0]["rgb"])


def test_images_smaller_than_the_camera_info_scale_the_intrinsics_and_other_shapes_are_refused(sim_bag, tmp_path):
    """Images recorded at half size with the full-size calibration: the frame set's K is halved,
    as the node does, and the LiDAR lands where it should. An image of another shape (cropped) is
    refused with a message naming the topics."""
    def rewrite(name, change):
        bag = tmp_path / name
        with BagWriter(bag) as w:
            for m in read_messages(sim_bag):
                msg = m.msg
                if m.topic == "/camera/image_raw":
                    msg = image_to_msg(w.types, change(rgb_from_msg(msg)), "rgb8", msg.header)
                w.write(m.topic, msg, m.stamp_ns)
        return bag

    half = rewrite("half", lambda rgb: cv2.resize(rgb, (rgb.shape[1] // 2, rgb.shape[0] // 2),
                                                  interpolation=cv2.INTER_AREA))
    kwargs = dict(image_topic="/camera/image_raw", camera_info_topic="/camera/camera_info",
                  lidar_topic="/lidar/points", progress=False)
    extract_frames(sim_bag, tmp_path / "full", **kwargs)
    extract_frames(half, tmp_path / "half_set", **kwargs)
    full, small = FrameDataset(tmp_path / "full")[0], FrameDataset(tmp_path / "half_set")[0]
    assert small["rgb"].shape[:2] == (full["rgb"].shape[0] // 2, full["rgb"].shape[1] // 2)
    np.testing.assert_allclose(small["K"][:2, :2], full["K"][:2, :2] / 2)
    # The scan projected with the halved K: each point lands where the full-size set has it, halved.
    rows, cols = np.nonzero(small["sparse_depth"] > 0)
    found = 0
    for r, c in zip(rows, cols):
        block = full["sparse_depth"][max(2 * r - 1, 0):2 * r + 3, max(2 * c - 1, 0):2 * c + 3]
        found += np.any(np.abs(block - small["sparse_depth"][r, c]) <= 0.01 * small["sparse_depth"][r, c])
    assert len(rows) > 1000 and found > 0.95 * len(rows)
    cropped = rewrite("cropped", lambda rgb: np.ascontiguousarray(rgb[:, : rgb.shape[1] // 2]))
    with pytest.raises(BagError, match="camera_info is for .* images, the image is .* on /camera/image_raw"):
        extract_frames(cropped, tmp_path / "no", **kwargs)
    assert not (tmp_path / "no").exists()


def test_clouds_taken_in_motion_are_deskewed_as_the_node_does(tmp_path):
    """A LiDAR sweeping over 100 ms on a robot at 10 m/s: the scan drawn into the frame set is
    de-skewed by the bag's odometry (by default, as the node's lidar_deskew), so its points agree
    with the rendered depth far better than the scan as recorded."""
    from depth_ros.bag.simulate import write_sim_bag

    bag = write_sim_bag(tmp_path / "moving", "street", 3, seed=5, width=320, height=96, sweep_motion=True,
                        speed=10.0, progress=False)
    kwargs = dict(image_topic="/camera/image_raw", camera_info_topic="/camera/camera_info",
                  lidar_topic="/lidar/points", depth_topic="/camera/depth_gt", progress=False)
    errors = {}
    for name, deskew in (("raw", False), ("deskewed", True)):
        summary = extract_frames(bag, tmp_path / name, deskew=deskew, **kwargs)
        # The last sweep runs past the bag's last pose: kept as recorded, and counted.
        done, kept = summary["scans_deskewed"], summary["scans_not_deskewed"]
        assert (done, kept) == ((2, 1) if deskew else (0, 0)), summary
        data = FrameDataset(tmp_path / name)
        rel = []
        for i in range(2):                  # the frames whose sweeps the odometry covers
            s = data[i]
            hit = (s["sparse_depth"] > 0) & (s["depth"] > 0)
            rel.append(np.abs(s["sparse_depth"][hit] - s["depth"][hit]) / s["depth"][hit])
        errors[name] = float(np.mean(np.concatenate(rel) > 0.03))      # share of scan pixels 3 % off or more
    assert errors["deskewed"] < 0.5 * errors["raw"], errors            # measured: 0.03 against 0.10
    # A bag whose /tf_static lacks the LiDAR, given --lidar-extrinsic: mounted through the camera.
    tree = tree_from_tf_messages(m.msg for m in read_messages(bag, ["/tf_static"]))
    extrinsic = list(transform_to_xyzquat(tree.lookup("camera_optical_frame", "lidar_link")))
    no_lidar = tmp_path / "no_lidar_mount"
    with BagWriter(no_lidar) as w:
        for m in read_messages(bag):
            msg = m.msg
            if m.topic == "/tf_static":
                msg.transforms = [t for t in msg.transforms if t.child_frame_id != "lidar_link"]
            w.write(m.topic, msg, m.stamp_ns)
    summary = extract_frames(no_lidar, tmp_path / "by_extrinsic", lidar_extrinsic=extrinsic, **kwargs)
    assert (summary["scans_deskewed"], summary["scans_not_deskewed"]) == (2, 1)
    np.testing.assert_allclose(FrameDataset(tmp_path / "by_extrinsic")[0]["sparse_depth"],
                               FrameDataset(tmp_path / "deskewed")[0]["sparse_depth"], rtol=1e-4)


def test_a_scan_stamped_before_its_image_is_moved_to_the_image_as_the_node_does(lagged_bag, tmp_path):
    """An unsynchronised LiDAR (each scan 50 ms before its image, at 10 m/s): the scan drawn into the
    frame set is moved to the image's stamp by the bag's odometry (by default, as the node's
    lidar_to_image_time), so its points agree with the rendered depth far better than where they
    were captured; dataset.json counts both."""
    kwargs = dict(image_topic="/camera/image_raw", camera_info_topic="/camera/camera_info",
                  lidar_topic="/lidar/points", depth_topic="/camera/depth_gt", progress=False, max_dt=0.08)
    errors = {}
    for name, moved in (("kept", False), ("moved", True)):
        summary = extract_frames(lagged_bag, tmp_path / name, to_image_time=moved, **kwargs)
        assert (summary["scans_apart_from_image"], summary["scans_moved_to_image"]) == (4, 4 if moved else 0)
        data = FrameDataset(tmp_path / name)
        rel = []
        for i in range(1, len(data)):
            s = data[i]
            hit = (s["sparse_depth"] > 0) & (s["depth"] > 0)
            rel.append(np.abs(s["sparse_depth"][hit] - s["depth"][hit]) / s["depth"][hit])
        errors[name] = float(np.mean(np.concatenate(rel) > 0.03))      # share of scan pixels 3 % off or more
    assert errors["moved"] < 0.5 * errors["kept"], errors
