"""Fixtures shared by the depth_core tests."""

from __future__ import annotations

import pytest
import torch

from depth_core.cli import main as depth_core_main
from depth_core.geometry import project_lidar
from depth_core.models import create_model
from depth_core.sim import Simulator, default_config


@pytest.fixture(scope="module")
def frame():
    sim = Simulator(default_config("street", width=640, height=192), seed=4, frames=1)
    f = sim.render(0)
    sparse = project_lidar(f.lidar_points, sim.rig.T_cam_lidar, sim.intrinsics.K, 192, 640)
    return f.rgb, sim.intrinsics.K, sparse


@pytest.fixture(scope="module")
def small_model():
    torch.manual_seed(0)
    return create_model("san_resnet18", input_height=96, input_width=320).eval()


@pytest.fixture
def completion_batch():
    """A training batch for a completion's losses: ``(image, gt, lidar, sparse)``, two 96x128
    samples, the scan on 10 % of the pixels and the input half of it."""
    g = torch.Generator().manual_seed(0)
    image = torch.rand(2, 3, 96, 128, generator=g)
    gt = torch.rand(2, 1, 96, 128, generator=g) * 20 + 2
    lidar = torch.where(torch.rand(gt.shape, generator=g) < 0.1, gt, torch.zeros_like(gt))
    sparse = torch.where(torch.rand(gt.shape, generator=g) < 0.5, lidar, torch.zeros_like(gt))
    return image, gt, lidar, sparse


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    """A small simulated frame set: 4 frames of street and indoor at 96x64, in sequences of 2."""
    root = tmp_path_factory.mktemp("train") / "frames"
    assert depth_core_main(["simulate", "--out", str(root), "--frames", "4", "--scene", "street", "indoor",
                            "--sequence-length", "2", "--width", "96", "--height", "64", "--quiet"]) == 0
    return root
