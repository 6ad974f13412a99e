"""The 7-Scenes reader and the sparse patterns, on tiny frames written in the exact 7-Scenes layout
(JPEG or PNG colour, 16-bit millimetre depth PNGs with 0 and 65535 holes, 4x4 pose text files,
camera-intrinsics.txt)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from depth_core.data import (
    DataFileError,
    DatasetConfig,
    SevenScenesDataset,
    build_dataset,
    lidar_pattern_sparse,
    random_points_sparse,
)
from depth_core.data.sevenscenes import DepthToColor, export_from_git, measure_depth_alignment
from depth_core.train.config import load_train_config

H, W = 120, 160
K = np.array([[150.0, 0.0, 79.5], [0.0, 150.0, 59.5], [0.0, 0.0, 1.0]])  # 7-Scenes' field of view, scaled
FRAMES = (10, 0, 2, 12, 11)   # written out of order, with gaps


def _depth_mm(number: int) -> np.ndarray:
    """A plane tilted in v, 1.5 m .. 2.7 m, different per frame; holes of 0 and of 65535."""
    v = np.arange(H, dtype=np.float64)[:, None]
    mm = np.broadcast_to(1500 + 10 * v + number, (H, W)).astype(np.uint16).copy()
    mm[5:15, 10:30] = 0
    mm[60:70, 100:120] = 65535
    return mm


def _pose(number: int) -> np.ndarray:
    c, s = np.cos(0.1 * number), np.sin(0.1 * number)
    return np.array([[c, -s, 0, number], [s, c, 0, 0.5], [0, 0, 1, -1.0], [0, 0, 0, 1]])


def _write_frame(folder: Path, number: int, colour: str = ".jpg") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"frame-{number:06d}"
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[..., 0] = number * 10
    rgb[:, : W // 2, 1] = 200
    assert cv2.imwrite(f"{stem}.color{colour}", rgb)
    assert cv2.imwrite(f"{stem}.depth.png", _depth_mm(number))
    np.savetxt(f"{stem}.pose.txt", _pose(number))


@pytest.fixture
def scene(tmp_path):
    root = tmp_path / "redkitchen"
    for number in FRAMES:
        _write_frame(root, number)
    np.savetxt(root / "camera-intrinsics.txt", K)
    return root


def test_loading_metres_invalid_values_K_and_pose(scene):
    ds = SevenScenesDataset(scene, "none")
    assert len(ds) == 5
    s = ds[0]
    assert s["rgb"].shape == (H, W, 3) and s["rgb"].dtype == np.uint8
    assert s["depth"].shape == (H, W) and s["depth"].dtype == np.float32
    mm = _depth_mm(0)
    valid = (mm > 0) & (mm < 65535)
    np.testing.assert_allclose(s["depth"][valid], mm[valid] / 1000.0, rtol=1e-6)
    assert (s["depth"][~valid] == 0).all() and s["depth"][5, 10] == 0 and s["depth"][60, 100] == 0
    np.testing.assert_array_equal(s["K"], K)
    np.testing.assert_allclose(s["T_world_base"], _pose(0), atol=1e-12)
    assert (s["sparse_depth"] == 0).all() and s["ring"] is None and s["lidar"] is None and s["T_cam_lidar"] is None
    assert (s["label"], s["sequence"], s["index"], s["id"]) == ("sevenscenes", "redkitchen", 0, "redkitchen/000000")


def test_frames_sorted_with_stride_and_max_frames(scene):
    assert [s[1] for s in SevenScenesDataset(scene).samples] == [0, 2, 10, 11, 12]
    assert [SevenScenesDataset(scene, "none", stride=2)[i]["index"] for i in range(3)] == [0, 10, 12]
    assert [s[1] for s in SevenScenesDataset(scene, max_frames=2).samples] == [0, 2]
    assert [s[1] for s in SevenScenesDataset(scene, stride=2, max_frames=2).samples] == [0, 10]
    assert SevenScenesDataset(scene, "none")[3]["id"] == "redkitchen/000011"
    with pytest.raises(ValueError, match="stride"):
        SevenScenesDataset(scene, stride=0)


def test_beams32_pattern(scene):
    ds = SevenScenesDataset(scene)            # beams32 is the default
    s = ds[0]
    sparse, ring, depth = s["sparse_depth"], s["ring"], s["depth"]
    assert ring.dtype == np.int16 and ring.shape == (H, W)
    hit = sparse > 0
    np.testing.assert_array_equal(hit, ring >= 0)
    assert (depth[hit] > 0).all()
    np.testing.assert_array_equal(sparse[hit], depth[hit])   # exactly the depth's values
    assert np.unique(ring[hit]).tolist() == list(range(32))
    rows = [np.nonzero(ring == b)[0].mean() for b in (0, 31)]
    assert rows[0] > rows[1]                                 # ring 0 is the lowest beam
    # one point per beam and image column with valid depth, less the holes
    assert 0.8 * 32 * W / 2 < hit.sum() <= 32 * W
    assert s["lidar"]["beams"] == 32 and s["lidar"]["fov_down_deg"] < 0 < s["lidar"]["fov_up_deg"]
    assert s["T_cam_lidar"].shape == (4, 4)
    again = SevenScenesDataset(scene)[0]
    np.testing.assert_array_equal(again["sparse_depth"], sparse)
    np.testing.assert_array_equal(again["ring"], ring)


def test_lidar_rows_curve_away_from_the_horizon():
    depth = np.full((H, W), 2.0, np.float32)
    sparse, ring = lidar_pattern_sparse(depth, K, beams=8, fov_deg=(-15, 15), azimuth_step_deg=0.25)
    assert np.unique(ring[ring >= 0]).tolist() == list(range(8))
    top, bottom = np.nonzero(ring == 7), np.nonzero(ring == 0)
    centre, edge = np.abs(top[1] - K[0, 2]).argmin(), np.abs(top[1] - K[0, 2]).argmax()
    assert top[0][edge] < top[0][centre]                     # the upper beam rises towards the edges
    centre, edge = np.abs(bottom[1] - K[0, 2]).argmin(), np.abs(bottom[1] - K[0, 2]).argmax()
    assert bottom[0][edge] > bottom[0][centre]               # the lower beam falls
    # the row of each point is the one whose ray elevation is closest to the beam's
    v, u = np.nonzero(ring == 7)
    elevation = np.degrees(np.arctan2(-(v - K[1, 2]) / K[1, 1], np.hypot(1.0, (u - K[0, 2]) / K[0, 0])))
    pixel = np.degrees(1.0 / K[1, 1])
    assert np.abs(elevation - 15).max() <= 0.5 * pixel + 1e-6
    # a range limit keeps only the near points
    near, _ = lidar_pattern_sparse(depth, K, beams=8, fov_deg=(-15, 15), max_range=2.05)
    assert 0 < (near > 0).sum() < (sparse > 0).sum()


def test_random500_exact_count_and_determinism(scene):
    ds = SevenScenesDataset(scene, "random500")
    s = ds[0]
    hit = s["sparse_depth"] > 0
    assert hit.sum() == 500 and s["ring"] is None
    np.testing.assert_array_equal(s["sparse_depth"][hit], s["depth"][hit])
    np.testing.assert_array_equal(SevenScenesDataset(scene, "random500")[0]["sparse_depth"], s["sparse_depth"])
    assert not np.array_equal(SevenScenesDataset(scene, "random500", seed=1)[0]["sparse_depth"], s["sparse_depth"])
    assert not np.array_equal((ds[1]["sparse_depth"] > 0), hit)
    # a frame's points do not depend on which other frames are kept
    np.testing.assert_array_equal(SevenScenesDataset(scene, "random500", stride=2)[1]["sparse_depth"],
                                  ds[2]["sparse_depth"])
    few = random_points_sparse(np.where(np.arange(W) < 3, 1.0, 0.0)[None].repeat(2, 0), 500, np.random.default_rng(0))
    assert (few > 0).sum() == 6
    with pytest.raises(ValueError, match="sparse pattern"):
        SevenScenesDataset(scene, "lines64")


def test_several_sequences_png_colour_and_explicit_K(tmp_path):
    root = tmp_path / "chess"
    for seq in ("seq-02", "seq-01"):
        for number in (1, 0):
            _write_frame(root / seq, number, colour=".png")
    with pytest.raises(DataFileError, match=r"camera-intrinsics\.txt.*pass K"):
        SevenScenesDataset(root)
    ds = SevenScenesDataset(root, "none", K=K)
    assert [ds[i]["id"] for i in range(len(ds))] == ["seq-01/000000", "seq-01/000001", "seq-02/000000",
                                                     "seq-02/000001"]
    assert ds[0]["sequence"] == "seq-01"
    np.savetxt(root / "camera-intrinsics.txt", K * np.array([[2], [2], [1]]))   # found above the sequence
    assert SevenScenesDataset(root, "none")[3]["K"][0, 0] == 300


def test_clear_errors_naming_the_file(scene, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataFileError, match="no 7-Scenes frames"):
        SevenScenesDataset(empty)
    with pytest.raises(DataFileError, match="not found"):
        SevenScenesDataset(tmp_path / "absent")

    (scene / "camera-intrinsics.txt").write_text("585 0 320\n0 585 240\n")
    with pytest.raises(DataFileError, match=r"camera-intrinsics\.txt: expected 9 numbers"):
        SevenScenesDataset(scene)
    (scene / "camera-intrinsics.txt").unlink()
    with pytest.raises(DataFileError, match=r"redkitchen/camera-intrinsics\.txt: missing"):
        SevenScenesDataset(scene)
    np.savetxt(scene / "camera-intrinsics.txt", K)

    bad = scene / "frame-000011.depth.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 3)
    with pytest.raises(DataFileError, match=r"frame-000011\.depth\.png: not a PNG"):
        SevenScenesDataset(scene)
    assert cv2.imwrite(str(bad), np.zeros((H, W), np.uint8))
    with pytest.raises(DataFileError, match=r"frame-000011\.depth\.png: expected a single-channel 16-bit"):
        SevenScenesDataset(scene)
    assert cv2.imwrite(str(bad), _depth_mm(11))

    (scene / "frame-000012.color.jpg").unlink()
    with pytest.raises(DataFileError, match=r"frame-000012\.color\.png: missing"):
        SevenScenesDataset(scene)
    _write_frame(scene, 12)

    # damage the data after the header: caught when the frame is read, naming it
    data = (scene / "frame-000002.depth.png").read_bytes()
    (scene / "frame-000002.depth.png").write_bytes(data[:40])
    ds = SevenScenesDataset(scene)
    with pytest.raises(DataFileError, match=r"frame-000002\.depth\.png"):
        ds[1]
    (scene / "frame-000010.pose.txt").write_text("1 2 3\n")
    with pytest.raises(DataFileError, match=r"frame-000010\.pose\.txt: expected 16 numbers"):
        ds[2]
    (scene / "frame-000010.pose.txt").write_text(" ".join(["-inf"] * 16))
    assert ds[2]["T_world_base"] is None       # untracked frame


def test_build_dataset_and_config(scene):
    ds = build_dataset(DatasetConfig(type="sevenscenes", root=str(scene)))
    assert isinstance(ds, SevenScenesDataset) and len(ds) == 5 and ds[0]["ring"] is not None
    ds = build_dataset(DatasetConfig(type="sevenscenes", root=str(scene), sparse_pattern="random500"))
    assert (ds[0]["sparse_depth"] > 0).sum() == 500
    cfg = load_train_config(None, ["data.0.type=sevenscenes", f"data.0.root={scene}", "data.0.sparse_pattern=none"])
    assert (build_dataset(cfg.data[0])[0]["sparse_depth"] == 0).all()
    # the training view: augmentation (crop, flip, rotation) and the beams sparse policy use the rings
    from depth_core.data.augment import AugmentConfig, SparseConfig
    from depth_core.data.training import TrainingSet

    views = TrainingSet([SevenScenesDataset(scene)], AugmentConfig(crop=(64, 96)),
                        SparseConfig(modes={"beams": 1.0}), max_depth=10.0)
    item = views[(0, 1, 7)]
    assert item["image"].shape == (3, 64, 96) and item["sparse_mode"] == "beams"
    assert 0 < int((item["sparse_depth"] > 0).sum()) < int((item["depth"] > 0).sum())


def test_depth_to_color_registration(scene):
    depth = SevenScenesDataset(scene, "none")[0]["depth"]
    np.testing.assert_array_equal(DepthToColor().apply(depth, K), depth)
    shifted = DepthToColor(shift_px=(2, -1)).apply(depth, K)
    np.testing.assert_array_equal(shifted[:-1, 2:], depth[1:, :-2])
    assert (shifted[:, :2] == 0).all() and (shifted[-1] == 0).all()
    # a baseline shifts near surfaces more than far ones; where they collide the nearer wins
    step = np.full((H, W), 4.0, np.float32)
    step[:, 60:] = 1.0
    out = DepthToColor(baseline_m=(-0.02, 0.0)).apply(step, K)      # near: -3 px, far: -0.75 px
    assert out[0, 56] == 4.0 and (out[0, 57:59] == 1.0).all()       # far columns 58, 59 land on 57, 58
    assert (out[0, 59:W - 3] == 1.0).all() and (out[0, W - 3:] == 0).all()
    ds = SevenScenesDataset(scene, "none", depth_to_color=DepthToColor(scale=(0.9, 0.9), shift_px=(1, 2)))
    s = ds[0]
    np.testing.assert_allclose(s["K"], [[135, 0, 80.5], [0, 135, 61.5], [0, 0, 1]])
    assert 0.7 < (s["depth"] > 0).mean() < (depth > 0).mean()


def test_measure_finds_a_known_shift(tmp_path):
    root = tmp_path / "box"
    for number in range(4):
        folder = root
        folder.mkdir(exist_ok=True)
        mm = np.full((H, W), 3000, np.uint16)
        y0, x0 = 30 + 5 * number, 40 + 8 * number
        mm[y0:y0 + 40, x0:x0 + 50] = 1200                       # a near box
        rgb = np.full((H, W, 3), 90, np.uint8)
        rgb[y0 - 2:y0 + 38, x0 + 3:x0 + 53] = 220                # the same box, seen 3 px right and 2 px up
        assert cv2.imwrite(str(folder / f"frame-{number:06d}.color.png"), rgb)
        assert cv2.imwrite(str(folder / f"frame-{number:06d}.depth.png"), mm)
    np.savetxt(root / "camera-intrinsics.txt", K)
    result = measure_depth_alignment(SevenScenesDataset(root, "none"), frames=4, max_shift=5, fit=False)
    assert result["best_shift_px"] == (3, -2)
    assert result["best_shift_score"] > result["score_unaligned"]


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_export_from_git(tmp_path):
    repo = tmp_path / "repo"
    for number in (0, 1):
        _write_frame(repo / "data", number)
    np.savetxt(repo / "data" / "camera-intrinsics.txt", K)
    (repo / "README").write_text("not exported\n")

    def git(*args):
        subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True,
                       capture_output=True)

    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "frames")
    out = tmp_path / "out" / "kitchen"
    assert export_from_git(repo / ".git", out) == 2
    assert not (out / "README").exists()
    assert len(SevenScenesDataset(out)) == 2
    with pytest.raises(DataFileError, match="git archive"):
        export_from_git(repo / ".git", out, path="nothing")


REAL = Path(__file__).resolve().parents[2] / "data" / "redkitchen"


@pytest.mark.skipif(not (REAL / "camera-intrinsics.txt").is_file(), reason="7-Scenes redkitchen not materialised")
def test_real_redkitchen_smoke():
    ds = SevenScenesDataset(REAL)
    assert len(ds) == 1000
    s = ds[500]
    assert s["rgb"].shape == (480, 640, 3) and s["id"] == "redkitchen/000500"
    assert s["K"][0, 0] == 585 and s["T_world_base"] is not None
    assert np.unique(s["ring"][s["ring"] >= 0]).size == 32
    assert 5000 < (s["sparse_depth"] > 0).sum() < 10000
