"""Every data set reader on tiny files written in the real on-disk format."""

from __future__ import annotations

import json
import shutil

import cv2
import h5py
import numpy as np
import pytest
from scipy.io import savemat

from depth_core.data import (
    DataFileError,
    DatasetConfig,
    FolderDataset,
    FrameDataset,
    KittiDepthDataset,
    NyuFolderDataset,
    NyuMatDataset,
    build_dataset,
    parse_split_file,
    write_depth_png,
    write_rgb_png,
)

RNG = np.random.default_rng(0)


def _rgb(h, w):
    return RNG.integers(0, 255, (h, w, 3), dtype=np.uint8)


@pytest.fixture
def kitti(tmp_path):
    raw, depth = tmp_path / "raw", tmp_path / "depth"
    date, drive = "2011_09_26", "2011_09_26_drive_0002_sync"
    (raw / date).mkdir(parents=True)
    (raw / date / "calib_cam_to_cam.txt").write_text(
        "calib_time: 09-Jan-2012 13:57:47\n"
        "P_rect_02: 7.215377e+02 0.000000e+00 6.095593e+02 4.485728e+01 0.000000e+00 7.215377e+02 "
        "1.728540e+02 2.163791e-01 0.000000e+00 0.000000e+00 1.000000e+00 2.745884e-03\n")
    frames = {}
    for frame in (5, 6, 7):
        write_rgb_png(_mk(raw / date / drive / "image_02" / "data") / f"{frame:010d}.png", _rgb(16, 40))
        if frame != 7:  # frame 7 has no ground truth
            gt = RNG.uniform(1, 80, (16, 40)).astype(np.float32)
            gt[:4] = 0
            write_depth_png(_mk(depth / "train" / drive / "proj_depth" / "groundtruth" / "image_02") /
                            f"{frame:010d}.png", gt)
            write_depth_png(_mk(depth / "train" / drive / "proj_depth" / "velodyne_raw" / "image_02") /
                            f"{frame:010d}.png", np.where(RNG.uniform(size=gt.shape) < 0.1, gt, 0))
            frames[frame] = gt
    return raw, depth, frames


def _mk(path):
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_kitti_depth_completion_layout_and_calibration(kitti):
    raw, depth, frames = kitti
    data = KittiDepthDataset(raw, depth)
    assert len(data) == 2
    s = data[0]
    assert s["rgb"].shape == (16, 40, 3) and s["id"].endswith("image_02/0000000005")
    assert np.abs(s["depth"] - frames[5]).max() <= 1 / 512
    assert (s["sparse_depth"] > 0).sum() > 0
    np.testing.assert_allclose(s["K"], [[721.5377, 0, 609.5593], [0, 721.5377, 172.854], [0, 0, 1]])


def test_kitti_scans_in_their_own_folder_and_frames_without_one_are_reported(kitti, tmp_path, caplog):
    """data_depth_velodyne unpacked apart from data_depth_annotated: found with ``velodyne_root``,
    and without it every frame is reported up front as having no LiDAR input."""
    raw, depth, _ = kitti
    apart = tmp_path / "velodyne"
    shutil.move(depth / "train", apart / "train")   # both trees, then split them
    shutil.copytree(apart / "train", depth / "train", ignore=shutil.ignore_patterns("velodyne_raw"))
    shutil.rmtree(apart / "train" / "2011_09_26_drive_0002_sync" / "proj_depth" / "groundtruth")
    with caplog.at_level("WARNING", logger="depth_core.data"):
        alone = KittiDepthDataset(raw, depth)
    assert alone.without_lidar == 2 and not (alone[0]["sparse_depth"] > 0).any()
    assert "2 of 2 KITTI frames have no velodyne_raw scan" in caplog.text and "--velodyne-root" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="depth_core.data"):
        found = KittiDepthDataset(raw, depth, velodyne_root=apart)
    assert found.without_lidar == 0 and (found[0]["sparse_depth"] > 0).any() and not caplog.text
    via_config = build_dataset(DatasetConfig(type="kitti", root=str(raw), depth_root=str(depth),
                                             velodyne_root=str(apart)))
    assert (via_config[0]["sparse_depth"] > 0).any()
    with pytest.raises(DataFileError, match="velodyn: KITTI velodyne_root folder not found"):
        KittiDepthDataset(raw, depth, velodyne_root=tmp_path / "velodyn")


def test_kitti_eigen_split_files_in_both_styles(kitti, tmp_path):
    raw, depth, _ = kitti
    monodepth = tmp_path / "eigen_test.txt"
    monodepth.write_text("2011_09_26/2011_09_26_drive_0002_sync 5 l\n2011_09_26/2011_09_26_drive_0002_sync 7 l\n")
    bts = tmp_path / "bts.txt"
    bts.write_text("2011_09_26/2011_09_26_drive_0002_sync/image_02/data/0000000006.png "
                   "2011_09_26_drive_0002_sync/proj_depth/groundtruth/image_02/0000000006.png 721.5377\n")
    assert parse_split_file(monodepth) == [("2011_09_26/2011_09_26_drive_0002_sync", 5, "l"),
                                           ("2011_09_26/2011_09_26_drive_0002_sync", 7, "l")]
    data = KittiDepthDataset(raw, depth, split=monodepth)
    assert len(data) == 1 and data.skipped == 1          # frame 7 has no ground truth
    assert KittiDepthDataset(raw, depth, split=bts)[0]["id"].endswith("0000000006")
    bad = tmp_path / "bad.txt"
    bad.write_text("garbage\n")
    with pytest.raises(DataFileError, match="bad.txt:1: cannot parse split line"):
        parse_split_file(bad)
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(DataFileError, match="empty.txt: empty split"):
        parse_split_file(tmp_path / "empty.txt")
    with pytest.raises(DataFileError, match="nowhere: KITTI raw_root folder not found"):
        KittiDepthDataset(tmp_path / "nowhere", depth)


def test_nyu_labelled_mat_and_official_split(tmp_path):
    n, h, w = 4, 12, 16
    images = RNG.integers(0, 255, (n, 3, w, h), dtype=np.uint8)     # MATLAB column-major, as in the file
    depths = RNG.uniform(0.5, 9.0, (n, w, h)).astype(np.float32)
    with h5py.File(tmp_path / "nyu_depth_v2_labeled.mat", "w") as f:
        f["images"], f["depths"] = images, depths
    savemat(tmp_path / "splits.mat", {"trainNdxs": np.array([[1], [2], [4]]), "testNdxs": np.array([[3]])})
    data = NyuMatDataset(tmp_path / "nyu_depth_v2_labeled.mat")
    s = data[2]
    assert len(data) == 4 and s["rgb"].shape == (h, w, 3) and s["depth"].shape == (h, w)
    np.testing.assert_array_equal(s["rgb"][1, 2], images[2, :, 2, 1])
    assert s["depth"][1, 2] == depths[2, 2, 1]
    test = NyuMatDataset(tmp_path / "nyu_depth_v2_labeled.mat", "test", tmp_path / "splits.mat")
    assert len(test) == 1 and test[0]["id"] == "nyu_labeled/0002"
    with pytest.raises(DataFileError, match="needs splits="):
        NyuMatDataset(tmp_path / "nyu_depth_v2_labeled.mat", "test")
    (tmp_path / "junk.mat").write_bytes(b"nope")
    with pytest.raises(DataFileError, match="junk.mat: cannot open"):
        NyuMatDataset(tmp_path / "junk.mat")


def test_nyu_extracted_folders(tmp_path):
    scene = _mk(tmp_path / "sync" / "bedroom_0001")
    cv2.imwrite(str(scene / "rgb_00000.jpg"), _rgb(12, 16))
    cv2.imwrite(str(scene / "sync_depth_00000.png"), np.full((12, 16), 2500, np.uint16))
    cv2.imwrite(str(scene / "rgb_00001.jpg"), _rgb(12, 16))          # no depth: not listed
    data = NyuFolderDataset(tmp_path)
    assert len(data) == 1 and data[0]["depth"][0, 0] == 2.5 and data[0]["label"] == "nyu"
    with pytest.raises(DataFileError, match="no rgb_\\*.jpg with a matching"):
        NyuFolderDataset(_mk(tmp_path / "empty"))


def test_generic_folder_with_png_npy_and_intrinsics(tmp_path):
    _mk(tmp_path / "rgb")
    _mk(tmp_path / "depth")
    _mk(tmp_path / "sparse")
    write_rgb_png(tmp_path / "rgb" / "a.png", _rgb(8, 10))
    write_rgb_png(tmp_path / "rgb" / "b.png", _rgb(8, 10))
    cv2.imwrite(str(tmp_path / "depth" / "a.png"), np.full((8, 10), 1500, np.uint16))
    np.save(tmp_path / "depth" / "b.npy", np.full((8, 10), 3.0, np.float32))
    np.save(tmp_path / "sparse" / "b.npy", np.where(np.eye(8, 10) > 0, 3.0, np.nan).astype(np.float32))
    (tmp_path / "intrinsics.json").write_text(json.dumps({"K": [[10, 0, 4.5], [0, 10, 3.5], [0, 0, 1]]}))
    data = FolderDataset(tmp_path, depth_scale=0.001)
    a, b = data[0], data[1]
    assert a["depth"][0, 0] == pytest.approx(1.5) and b["depth"][0, 0] == 3.0
    assert (b["sparse_depth"] > 0).sum() == 8 and not np.isnan(b["sparse_depth"]).any()
    (tmp_path / "intrinsics.json").write_text("{}")
    with pytest.raises(DataFileError, match="intrinsics.json: expected"):
        FolderDataset(tmp_path)


def test_frame_sets_report_missing_or_corrupt_files(tmp_path):
    from depth_core.cli import main

    assert main(["simulate", "--out", str(tmp_path / "s"), "--frames", "2", "--scene", "yard", "--width", "32",
                 "--height", "24", "--quiet"]) == 0
    data = FrameDataset(tmp_path / "s")
    assert data[0]["ring"] is not None and (data[0]["ring"] >= 0).sum() == (data[0]["sparse_depth"] > 0).sum()
    (tmp_path / "s" / "yard_0000" / "depth" / "000001.png").write_bytes(b"broken")
    with pytest.raises(DataFileError, match="yard_0000/depth/000001.png"):
        data[1]
    with pytest.raises(DataFileError, match="no frames with labels \\['moon'\\]"):
        FrameDataset(tmp_path / "s", labels=["moon"])


def test_reading_a_folder_that_is_not_a_dataset_names_the_file(tmp_path):
    with pytest.raises(DataFileError, match=r"dataset.json: not found; is .* a frame set"):
        FrameDataset(tmp_path)
    (tmp_path / "dataset.json").write_text("{broken")
    with pytest.raises(DataFileError, match=r"dataset.json: not valid JSON"):
        FrameDataset(tmp_path)
