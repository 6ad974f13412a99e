from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from depth_core.cli import main as depth_core_main
from depth_core.data import (
    DataFileError,
    FrameDataset,
    read_depth_png,
    read_rgb,
    write_depth_png,
    write_rgb_png,
)
from depth_core.data.simulated import sequence_seed
from depth_core.geometry import project_lidar
from depth_core.sim import Simulator, default_config


def test_depth_png_round_trip_kitti_encoding(tmp_path):
    depth = np.array([[1.0, 2.5, np.nan, -1.0], [0.0, 300.0, 80.123, 255.99]], dtype=np.float32)
    path = tmp_path / "d.png"
    write_depth_png(path, depth)
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16
    assert raw[0, 0] == 256 and raw[0, 1] == 640          # value / 256 = metres
    back = read_depth_png(path)
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back[:, 2:3].ravel(), [0, 20511 / 256])  # NaN -> 0; 80.123 * 256 = 20511.49
    assert back[0, 3] == 0 and back[1, 0] == 0 and back[1, 1] == 0     # negative, zero, too far -> invalid
    assert abs(back[1, 3] - 255.99) <= 1 / 512


def test_rgb_round_trip_and_bad_files_name_themselves(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (5, 7, 3), dtype=np.uint8)
    write_rgb_png(tmp_path / "a.png", rgb)
    np.testing.assert_array_equal(read_rgb(tmp_path / "a.png"), rgb)
    with pytest.raises(DataFileError, match=r"missing.png: missing or not a readable"):
        read_rgb(tmp_path / "missing.png")
    (tmp_path / "junk.png").write_bytes(b"not a png")
    with pytest.raises(DataFileError, match=r"junk.png"):
        read_depth_png(tmp_path / "junk.png")
    with pytest.raises(DataFileError, match=r"a.png: expected a single-channel 16-bit depth PNG"):
        read_depth_png(tmp_path / "a.png")


def test_depth_core_simulate_writes_a_readable_training_set(tmp_path, capsys):
    out = tmp_path / "sim"
    code = depth_core_main(["simulate", "--out", str(out), "--frames", "3", "--scene", "street", "indoor",
                            "--sequence-length", "2", "--width", "96", "--height", "64", "--seed", "4", "--quiet"])
    assert code == 0
    assert "wrote 6 samples in 4 sequences" in capsys.readouterr().out
    meta = json.loads((out / "dataset.json").read_text())
    assert [s["name"] for s in meta["sequences"]] == ["street_0000", "street_0001", "indoor_0000", "indoor_0001"]
    calib = json.loads((out / "street_0001" / "calib.json").read_text())
    assert set(calib) >= {"K", "camera", "T_cam_lidar", "lidar_extrinsic", "lidar", "label"}

    data = FrameDataset(out)
    assert len(data) == 6 and len(FrameDataset(out, labels=["indoor"])) == 3
    sample = data[2]  # street_0001, frame 0: re-render it and compare
    sim = Simulator(default_config("street", width=96, height=64), seed=sequence_seed(4, "street", 1), frames=1)
    frame = sim.render(0)
    assert sample["sequence"] == "street_0001" and sample["index"] == 0
    np.testing.assert_array_equal(sample["rgb"], frame.rgb)
    expected_depth = np.where(np.isfinite(frame.depth), frame.depth, 0)
    assert np.abs(sample["depth"] - expected_depth).max() <= 1 / 512 + 1e-6
    np.testing.assert_allclose(sample["K"], sim.intrinsics.K)
    np.testing.assert_allclose(sample["T_cam_lidar"], sim.rig.T_cam_lidar)
    sparse = project_lidar(frame.lidar_points, sample["T_cam_lidar"], sample["K"], 64, 96)
    np.testing.assert_array_equal(sample["sparse_depth"] > 0, sparse > 0)
    assert np.abs(sample["sparse_depth"] - sparse).max() <= 1 / 512 + 1e-6


@pytest.mark.parametrize("argv, match", [
    (["--frames", "0"], "argument --frames: must be >= 1, got 0"),
    (["--scene", "moon"], "argument --scene: invalid choice: 'moon'"),
    (["--frames", "two"], "argument --frames: expected a whole number"),
])
def test_simulate_rejects_bad_arguments_in_one_line(tmp_path, capsys, argv, match):
    with pytest.raises(SystemExit) as exc:
        depth_core_main(["simulate", "--out", str(tmp_path / "x"), *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err
    assert list(tmp_path.iterdir()) == []


def test_simulate_refuses_unwritable_or_existing_output_and_leaves_nothing(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert depth_core_main(["simulate", "--out", str(blocker / "sub"), "--frames", "1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--out" in err and "is a file, not a folder" in err
    existing = tmp_path / "existing"
    existing.mkdir()
    assert depth_core_main(["simulate", "--out", str(existing), "--frames", "1", "--quiet"]) == 2
    assert "already exists (pass --overwrite" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "existing"]


def test_reading_a_folder_that_is_not_a_dataset_names_the_file(tmp_path):
    with pytest.raises(DataFileError, match=r"dataset.json: not found; is .* a frame set"):
        FrameDataset(tmp_path)
    (tmp_path / "dataset.json").write_text("{broken")
    with pytest.raises(DataFileError, match=r"dataset.json: not valid JSON"):
        FrameDataset(tmp_path)
