"""The four image-only seed families (densedepth, structure_aware, decomposition, fusanet) in the
node, as image_only.launch.py starts it, and in depth-ros-eval via --model, through ONNX Runtime.
Small widths keep the exports quick; the graphs are the families' own."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import torch
from node_harness import Probe, start_node, start_player
from sensor_msgs.msg import Image

from depth_core.models import create_model, save_model
from depth_ros.conversions import depth_from_msg

pytestmark = pytest.mark.slow

SMALL = {
    "densedepth": {"densenet_depth": 121, "decoder_width": 0.05},
    "structure_aware": {"resnet_depth": 18, "decoder_channels": [32, 16, 16, 8], "refine_channels": 8},
    "decomposition": {"resnet_depth": 18, "decoder_channels": [32, 16, 16, 8, 8]},
    "fusanet": {"channels": 8},
}


@pytest.fixture(scope="module")
def family_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("families")
    torch.manual_seed(0)
    return {name: save_model(create_model(name, arch=arch, input_width=320, input_height=96),
                             folder / f"{name}.safetensors") for name, arch in SMALL.items()}


@pytest.mark.parametrize("name", list(SMALL))
def test_family_runs_in_the_image_only_node(tmp_path, venv_bin, sim_bag, family_files, name):
    # The parameters image_only.launch.py sets: the model, a backend, and use_lidar false.
    node = start_node(tmp_path, {"model": str(family_files[name]), "backend": "onnxruntime", "use_lidar": False},
                      venv_bin / "san_node")
    probe = Probe({"/depth/image": Image})
    player = None
    try:
        assert node.wait_for("ready in", 180), node.log
        assert f"({name}) on onnxruntime" in node.log, node.log
        player = start_player(tmp_path, venv_bin, sim_bag, "--loop", "--topics", "/camera/image_raw",
                              "/camera/camera_info")
        msgs = probe.wait("/depth/image", 3, 90)
        assert len(msgs) >= 3, node.log      # (wait returns every message received by then, possibly more)
        for msg in msgs:
            depth = depth_from_msg(msg)
            assert (msg.width, msg.height) == (320, 96)
            assert np.isfinite(depth).all() and (depth > 0).all()
        assert "completion" not in node.log.split("ready in", 1)[1], node.log
    finally:
        if player is not None:
            player.stop()
        code, _ = node.stop()
        probe.close()
    assert code == 0, node.log


@pytest.mark.parametrize("name", list(SMALL))
def test_family_runs_in_replay_eval_by_path_and_by_name(tmp_path, venv_bin, sim_bag, family_files, name):
    args = ["--image-topic", "/camera/image_raw", "--camera-info-topic", "/camera/camera_info",
            "--lidar-topic", "/lidar/points", "--backend", "onnxruntime", "--sweep", "", "--no-baseline",
            "--no-output-bag", "--quiet"]
    run = subprocess.run([str(venv_bin / "depth-ros-eval"), str(sim_bag), *args, "--model", str(family_files[name]),
                          "--out", str(tmp_path / "report")], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    m = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert m["frames"] == 6 and name in m["model"]
    # Image-only models predict with or without LiDAR in the bag; the LiDAR still gives the scores.
    assert m["modes"] == {"prediction": 6}
    assert np.isfinite(m["results"]["prediction"]["abs_rel"])
    if name == "fusanet":  # by registry name too (initial weights; FuSaNet is the smallest full-size family),
        # on torch: the name is what is tested, and the path above has exported a family already
        run = subprocess.run([str(venv_bin / "depth-ros-eval"), str(sim_bag), *args, "--model", name,
                              "--backend", "torch", "--no-pretrained", "--input-size", "160x64",
                              "--out", str(tmp_path / "by_name")],
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr
        assert json.loads((tmp_path / "by_name" / "metrics.json").read_text())["frames"] == 6
