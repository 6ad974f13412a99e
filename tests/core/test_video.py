"""Learning from video: view synthesis with known motion, context frames by baseline, video frame
sets, and the bad recordings a camera-only robot can give."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

from depth_core.data.augment import AugmentConfig, augment_sample
from depth_core.data.frames import FrameDataset, FrameSetWriter
from depth_core.data.io import DataFileError
from depth_core.data.video import VideoConfig, VideoView, choose_contexts
from depth_core.geometry import CameraIntrinsics, PoseHistory, invert_transform, make_transform
from depth_core.losses.photometric import edge_aware_smoothness, photometric_error, reprojection_loss, warp
from depth_core.sim.simulator import Simulator


def _tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb.transpose(2, 0, 1).astype(np.float32) / 255.0)[None]


@pytest.fixture(scope="module")
def indoor():
    """Two frames of a simulated indoor drive 0.2 m apart, the true depth and relative pose, and the
    same first view rendered again with other pixel noise (the noise floor)."""
    sim = Simulator("indoor", seed=3, frames=12)
    a, b = sim.render(4), sim.render(8)
    T_base_cam = sim.rig.T_base_camera
    T = invert_transform(b.T_world_base @ T_base_cam) @ (a.T_world_base @ T_base_cam)
    again, _ = sim.camera.render(sim.world, a.T_world_base @ T_base_cam, sim.noise, np.random.default_rng(99))
    depth = np.nan_to_num(a.depth, nan=sim.config.max_depth)
    return {"target": _tensor(a.rgb), "context": _tensor(b.rgb)[:, None], "again": _tensor(again),
            "depth": torch.from_numpy(depth)[None, None].float(), "T": torch.from_numpy(T).float()[None, None],
            "K": torch.from_numpy(sim.intrinsics.K.astype(np.float32))[None]}


def test_view_synthesis_with_the_true_depth_and_poses_reproduces_the_frame(indoor):
    floor = photometric_error(indoor["again"], indoor["target"]).mean().item()
    error = {}
    for scale in (1.0, 0.5, 2.0):
        error[scale], _ = reprojection_loss(indoor["target"], indoor["context"], indoor["depth"] * scale, indoor["K"],
                                            indoor["T"], automask=False)
    assert error[1.0].item() < 1.25 * floor                       # at the noise floor of two renders
    assert error[2.0].item() > 1.7 * floor and error[0.5].item() > 1.7 * floor   # far above it at the wrong scale


def test_warp_with_the_identity_pose_returns_the_context_and_flags_pixels_outside():
    image = torch.rand(1, 3, 20, 30)
    K = torch.tensor([[[25.0, 0, 15], [0, 25.0, 10], [0, 0, 1]]])
    depth = torch.full((1, 1, 20, 30), 4.0)
    same, inside = warp(image, depth, K, torch.eye(4)[None])
    assert torch.allclose(same, image, atol=1e-4) and inside.all()
    shifted = torch.eye(4)[None].clone()
    shifted[0, 0, 3] = 1.6          # 1.6 m sideways at 4 m: 10 px, a third of the width leaves the image
    _, inside = warp(image, depth, K, shifted)
    assert 0.6 < inside.mean().item() < 0.75


def test_automask_drops_pixels_a_static_camera_explains():
    torch.manual_seed(0)
    image = torch.rand(1, 3, 16, 16)
    K = torch.tensor([[[20.0, 0, 8], [0, 20.0, 8], [0, 0, 1]]])
    moved = torch.eye(4)[None, None].clone()
    moved[0, 0, 0, 3] = 0.5
    # The context is the frame itself (nothing moved in the image, as when the robot stands still):
    # every warped pixel loses to the unwarped one, so nothing trains.
    loss, _ = reprojection_loss(image, image[:, None], torch.full((1, 1, 16, 16), 2.0), K, moved)
    assert loss.item() == 0.0


def test_smoothness_is_zero_for_a_constant_and_ignores_the_depth_scale():
    image = torch.rand(1, 3, 8, 8)
    assert edge_aware_smoothness(torch.full((1, 1, 8, 8), 0.3), image).item() == 0.0
    ramp = torch.linspace(0.1, 1.0, 8).view(1, 1, 1, 8).expand(1, 1, 8, 8)
    assert edge_aware_smoothness(ramp, image).item() == pytest.approx(edge_aware_smoothness(ramp * 5, image).item())


def test_contexts_are_chosen_by_baseline_and_a_standing_robot_has_none():
    # 10 Hz; the robot stands still for frames 0-4, then creeps at 2 cm a frame.
    x = np.array([0, 0, 0, 0, 0, 0.02, 0.04, 0.06, 0.08, 0.10, 0.12])
    positions = np.stack([x, np.zeros_like(x), np.zeros_like(x)], 1)
    stamps = np.arange(len(x)) * 0.1
    cfg = VideoConfig(min_baseline=0.05, max_gap_s=1.0)
    contexts = choose_contexts(positions, stamps, cfg)
    assert contexts[7] == (4, 10)             # 6 cm back (frame 4), 6 cm ahead: not the next frames
    assert contexts[0] == (None, 7)           # standing, but the robot later moves 6 cm away
    assert contexts[10] == (7, None)
    assert choose_contexts(positions, stamps, VideoConfig(min_baseline=0.05, max_gap_s=0.25))[2] == (None, None)
    # No context across an odometry jump.
    assert choose_contexts(positions, stamps, cfg, breaks={8})[7] == (4, None)


def _video_set(root, positions, stamps=None, mount=True, poses=True):
    cam = CameraIntrinsics(40.0, 40.0, 16.0, 12.0, 32, 24)
    writer = FrameSetWriter(root, source="test")
    extra = {"T_base_cam": make_transform(translation=[0.1, 0, 0.5]).tolist()} if mount else {}
    seq = writer.sequence("seq_0000", cam, None, "test", extra)
    rng = np.random.default_rng(0)
    for i, p in enumerate(positions):
        stamp = int(1e9 + (stamps[i] if stamps is not None else i * 0.1) * 1e9)
        pose = make_transform(translation=p) if (poses is True or i not in poses) else None
        seq.add(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8), None, None, None, stamp, pose)
    seq.close()
    writer.finish(ground_truth="none")
    return FrameDataset(root)


def test_a_video_frame_set_round_trips_without_depth_or_lidar(tmp_path):
    positions = [(0.1 * i, 0, 0) for i in range(10)]
    data = _video_set(tmp_path / "ds", positions)
    sample = data[3]
    assert sample["depth"].shape == (24, 32) and not sample["depth"].any() and not sample["sparse_depth"].any()
    assert not any((tmp_path / "ds/seq_0000/depth").iterdir())
    stamp, T_world_cam, frame_id = data.camera_poses()[3]
    assert stamp == pytest.approx(1.3) and frame_id == "seq_0000/000003"
    np.testing.assert_allclose(T_world_cam[:3, 3], [0.4, 0, 0.5])   # odometry pose times the mounting
    view = VideoView(data, VideoConfig(min_frames=2))
    item = view[0]
    assert len(item["context"]) == 2
    # Frame 0's only context is frame 1 (0.1 m ahead): the target camera's origin is 0.1 m behind it.
    np.testing.assert_allclose(item["T_ctx_cam"][1][:3, 3], [-0.1, 0, 0], atol=1e-9)


def test_frames_without_a_pose_are_skipped_and_counted(tmp_path):
    data = _video_set(tmp_path / "ds", [(0.1 * i, 0, 0) for i in range(12)], poses={2, 5})
    view = VideoView(data, VideoConfig(min_frames=2))
    assert view.counts["no_pose"] == 2 and len(view) == 10
    assert "2 without a pose" in view.summary()


def test_a_robot_that_never_moves_is_refused_before_training(tmp_path):
    data = _video_set(tmp_path / "ds", [(0, 0, 0)] * 12)
    with pytest.raises(DataFileError, match="never moves 0.05 m"):
        VideoView(data, VideoConfig())


def test_too_few_frames_are_refused(tmp_path):
    data = _video_set(tmp_path / "ds", [(0.1 * i, 0, 0) for i in range(4)])
    with pytest.raises(DataFileError, match="only 4 frames with a moving camera.*at least 8"):
        VideoView(data, VideoConfig())


def test_a_frame_set_without_the_camera_mounting_is_refused(tmp_path):
    data = _video_set(tmp_path / "ds", [(0.1 * i, 0, 0) for i in range(10)], mount=False)
    with pytest.raises(DataFileError, match="calib.json: no T_base_cam .*depth-ros-dataset"):
        VideoView(data, VideoConfig())
    # Neither odometry nor mounting: the recording has no motion to learn from.
    data = _video_set(tmp_path / "none", [(0.1 * i, 0, 0) for i in range(10)], mount=False, poses=set(range(10)))
    with pytest.raises(DataFileError, match="none of its 10 frames has a camera pose: record /tf odometry"):
        VideoView(data, VideoConfig())


def test_an_odometry_jump_is_warned_about_naming_the_frames(tmp_path, caplog):
    positions = [(0.1 * i, 0, 0) for i in range(6)] + [(50 + 0.1 * i, 0, 0) for i in range(6)]
    data = _video_set(tmp_path / "ds", positions)
    with caplog.at_level(logging.WARNING, logger="depth_core.data"):
        view = VideoView(data, VideoConfig(min_frames=2))
    assert "seq_0000/000005 -> seq_0000/000006" in caplog.text
    assert view.counts["jumps"] == 1
    # Neither side of the jump takes the other as its context.
    frames = {f: (a, b) for f, a, b in view.items}
    assert frames[5] == (4, 4) and frames[6] == (7, 7)


def test_a_mirrored_video_sample_mirrors_its_motion(tmp_path):
    positions = [(0.1 * i, 0, 0) for i in range(10)]
    view = VideoView(_video_set(tmp_path / "ds", positions), VideoConfig(min_frames=2))
    sample = view[4]
    cfg = AugmentConfig(crop=None, hflip=1.0, rotate_p=0.0, brightness=0, contrast=0, saturation=0, channel_swap=0)
    flipped = augment_sample(sample, cfg, np.random.default_rng(0))
    np.testing.assert_array_equal(flipped["context"][0], sample["context"][0][:, ::-1])
    np.testing.assert_allclose(flipped["T_ctx_cam"][0][:3, 3], sample["T_ctx_cam"][0][:3, 3] * [-1, 1, 1])
    np.testing.assert_array_equal(flipped["rgb_clean"], sample["rgb"][:, ::-1])


def test_pose_history_interpolates_between_samples_and_never_extrapolates():
    history = PoseHistory(max_gap_ns=2_000_000_000)
    history.add(2_000_000_000, make_transform(translation=[2, 0, 0]))
    history.add(1_000_000_000, make_transform(translation=[0, 0, 0]))
    np.testing.assert_allclose(history.at(1_250_000_000, 0)[:3, 3], [0.5, 0, 0])
    assert history.at(2_100_000_000, 50_000_000) is None
    np.testing.assert_allclose(history.at(2_040_000_000, 50_000_000)[:3, 3], [2, 0, 0])


def test_dataset_json_of_a_video_set_says_it_has_no_ground_truth(tmp_path):
    _video_set(tmp_path / "ds", [(0.1 * i, 0, 0) for i in range(3)])
    assert json.loads((tmp_path / "ds/dataset.json").read_text())["ground_truth"] == "none"
