"""depth-ros-eval: the replay report, its accounting of every image, damaged messages, and the
output bag."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import torch

from depth_core.geometry import transform_to_xyzquat
from depth_core.models import create_model, save_model
from depth_ros.bag import BagWriter, bag_topics, read_messages
from depth_ros.conversions import pointcloud_from_msg, pointcloud_to_msg, stamp_to_ns, tree_from_tf_messages

ARGS = ["--image-topic", "/camera/image_raw", "--camera-info-topic", "/camera/camera_info"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    return save_model(create_model("san_resnet18", san_channels=[8, 8, 16, 16, 32]), path)


def _eval(venv_bin, bag, out, *extra):
    return subprocess.run([str(venv_bin / "depth-ros-eval"), str(bag), *ARGS, "--out", str(out), "--quiet", *extra],
                          capture_output=True, text=True, timeout=600)


def _refused(in_process, bag, out, *extra) -> tuple[int, str]:
    """``depth-ros-eval`` in this process, for the usage errors it prints before any slow step:
    (exit code, stderr)."""
    from depth_ros.eval.cli import main

    code, _, err = in_process(main, [str(bag), *ARGS, "--out", str(out), "--quiet", *extra])
    return code, err


@pytest.mark.slow
def test_a_model_with_a_confidence_gets_a_sparsification_table(tmp_path, venv_bin, sim_bag, confidence_model):
    out = tmp_path / "report"
    run = _eval(venv_bin, sim_bag, out, "--lidar-topic", "/lidar/points", "--model", str(confidence_model),
                "--backend", "torch")
    assert run.returncode == 0, run.stderr
    m = json.loads((out / "metrics.json").read_text())
    assert set(m["sparsification"]) == {"prediction", "completion"}
    for row, curve in m["sparsification"].items():
        assert [r["kept"] for r in curve] == [1.0, 0.75, 0.5, 0.25]
        assert curve[0]["points"] == m["results"][row]["points"]     # every scored point, ranked
    report = (out / "report.md").read_text()
    assert "## Sparsification" in report and "| completion |" in report.split("## Sparsification")[1]


@pytest.mark.slow
def test_report_schema_accounting_and_output_bag(tmp_path, venv_bin, sim_bag, tiny_model):
    out = tmp_path / "report"
    run = _eval(venv_bin, sim_bag, out, "--lidar-topic", "/lidar/points", "--model", str(tiny_model),
                "--backend", "torch", "--sweep", "0,0.2,0.8")
    assert run.returncode == 0, run.stderr
    assert "| classical |" in run.stdout and "report:" in run.stdout
    m = json.loads((out / "metrics.json").read_text())
    assert m["frames"] == 6 and m["frames_skipped"] == 0 and m["frames"] + m["frames_skipped"] == m["images"]
    rows = m["results"]
    assert set(rows) == {"prediction", "completion", "classical"}
    for row in rows.values():
        assert {"abs_rel", "sq_rel", "rmse", "rmse_log", "silog", "delta1", "mae", "irmse", "imae",
                "points"} <= set(row)
    # Completion is scored on the ~20 % held-out points, prediction on all of them.
    assert 0.12 < rows["completion"]["points"] / rows["prediction"]["points"] < 0.28
    assert rows["classical"]["points"] == rows["completion"]["points"]
    assert {"decode", "preprocess", "inference", "postprocess", "pseudo_lidar", "encode"} <= set(m["timing"])
    assert [s["fraction"] for s in m["sweep"]] == [0.0, 0.2, 0.8]
    assert {r["from"] for r in m["range"]["completion"]} >= {0.0, 10.0}
    for png in ("sparsity_sweep.png", "error_vs_range.png"):
        assert (out / png).stat().st_size > 2000
    assert len(list(out.glob("sample_*.png"))) == 3 and "![" in (out / "report.md").read_text()
    from PIL import Image as PILImage

    text = PILImage.open(next(out.glob("sample_*.png"))).text["Description"]   # labelled panels, scales with units
    for label in ("image", "completion", "prediction", "completion error at held-out points", "depth (m)",
                  "relative error (%, red >= 20)"):
        assert label in text, text
    topics = bag_topics(out / "output_bag")
    assert {t: i.count for t, i in topics.items()} == {"/depth/image": 6, "/depth/camera_info": 6,
                                                       "/pseudo_lidar/points": 6}
    inputs = [stamp_to_ns(x.msg.header.stamp) for x in read_messages(sim_bag, ["/camera/image_raw"])]
    outputs = [stamp_to_ns(x.msg.header.stamp) for x in read_messages(out / "output_bag", ["/depth/image"])]
    assert outputs == inputs and list((out / "output_bag").glob("*.mcap"))


def _damaged_bag(src, dst):
    """The simulated bag with one frame spoiled per way a real bag gets spoiled."""
    with BagWriter(dst) as w:
        images = cams = clouds = 0
        for m in read_messages(src):
            msg = m.msg
            if m.topic == "/camera/image_raw":
                images += 1
                if images == 1:
                    msg.data = msg.data[:100]                                      # truncated
                elif images == 2:
                    msg.encoding = "yuv_unknown"                                   # unknown encoding
                elif images == 6:
                    msg.header.stamp.sec, msg.header.stamp.nanosec = 0, 0         # zero stamp
            elif m.topic == "/camera/camera_info":
                cams += 1
                if cams == 3:
                    msg.k, msg.p = np.zeros(9), np.zeros(12)                       # zero K and P
            elif m.topic == "/lidar/points":
                clouds += 1
                if clouds == 4:
                    msg.point_step = 8                                             # point_step < fields
                elif clouds == 5:
                    nan = np.full(10, np.nan, np.float32)                          # all NaN
                    msg = pointcloud_to_msg(w.types, msg.header, {"x": nan, "y": nan, "z": nan})
            w.write(m.topic, msg, m.stamp_ns)
    return dst


@pytest.mark.slow
def test_damaged_messages_are_skipped_or_saved_and_every_frame_is_accounted_for(tmp_path, venv_bin, tiny_model):
    """Eight frames, six damaged: the two with broken metadata (a zero K, a zero stamp) are saved
    by their fallbacks and scored with the two good ones; the four others are skipped by reason."""
    from depth_ros.bag.simulate import write_sim_bag

    src = write_sim_bag(tmp_path / "eight", "street", 8, seed=3, width=320, height=96, progress=False)
    bag = _damaged_bag(src, tmp_path / "damaged")
    run = _eval(venv_bin, bag, tmp_path / "report", "--lidar-topic", "/lidar/points", "--model", str(tiny_model),
                "--backend", "torch", "--sweep", "", "--no-output-bag")
    assert run.returncode == 0, run.stderr
    m = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert m["skipped_reasons"] == {"truncated_data": 1, "unknown_encoding": 1, "bad_point_step": 1,
                                    "empty_cloud": 1}
    assert m["fallbacks"] == {"camera_info": 1, "stamp": 1}
    assert m["frames"] == 4 and m["results"]["completion"]["frames"] == 4
    assert m["frames"] + m["frames_skipped"] == m["images"] == 8
    report = (tmp_path / "report" / "report.md").read_text()
    assert "fallback" in report


@pytest.mark.slow
def test_beam_subsampling_sqlite3_bags_and_bad_arguments(in_process, tmp_path, venv_bin, tiny_model):
    from depth_ros.bag.simulate import write_sim_bag

    bag = write_sim_bag(tmp_path / "db", "yard", 2, width=160, height=96, storage="sqlite3", progress=False)
    run = _eval(venv_bin, bag, tmp_path / "beams", "--lidar-topic", "/lidar/points", "--model", str(tiny_model),
                "--backend", "torch", "--beam-keep-every", "2", "--sweep", "", "--samples", "0")
    assert run.returncode == 0, run.stderr
    m = json.loads((tmp_path / "beams" / "metrics.json").read_text())
    assert m["frames"] == 2 and "every 2th beam" in m["lidar_input"]
    bad = _eval(venv_bin, bag, tmp_path / "x", "--lidar-topic", "/velodyne_points")
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0
    assert "--lidar-topic /velodyne_points is not in the bag" in bad.stderr
    assert not (tmp_path / "x").exists()
    bad = _eval(venv_bin, bag, tmp_path / "x", "--model", str(tiny_model), "--backend", "torch",
                "--precision", "int8")
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0
    assert "precision int8 is not supported by torch (it runs fp32)" in bad.stderr and not (tmp_path / "x").exists()
    # Clouds without a ring field (KITTI's converted bags): refused before the model loads.
    no_ring = tmp_path / "no_ring"
    with BagWriter(no_ring) as w:
        for m in read_messages(bag):
            msg = m.msg
            if m.topic == "/lidar/points":
                f = pointcloud_from_msg(msg, ("x", "y", "z"))
                msg = pointcloud_to_msg(w.types, msg.header, {k: f[k] for k in "xyz"})
            w.write(m.topic, msg, m.stamp_ns)
    code, err = _refused(in_process, no_ring, tmp_path / "x", "--lidar-topic", "/lidar/points",
                         "--beam-keep-every", "2")
    assert code == 2 and "--beam-keep-every needs each point's beam, a 'ring' field" in err
    assert "have x, y, z" in err and not (tmp_path / "x").exists()


@pytest.mark.slow
def test_image_only_replay_writes_depth_without_scores(tmp_path, venv_bin, sim_bag, tiny_model):
    run = _eval(venv_bin, sim_bag, tmp_path / "camera_only", "--model", str(tiny_model), "--backend", "torch")
    assert run.returncode == 0, run.stderr
    m = json.loads((tmp_path / "camera_only" / "metrics.json").read_text())
    assert m["frames"] == 6 and m["results"] == {} and m["modes"] == {"prediction": 6}
    assert bag_topics(tmp_path / "camera_only" / "output_bag")["/depth/image"].count == 6


@pytest.mark.slow
def test_accumulated_sweeps_feed_the_model_and_only_the_current_scan_is_scored(in_process, tmp_path, venv_bin, sim_bag):
    common = ["--lidar-topic", "/lidar/points", "--model", "classical", "--beam-keep-every", "4", "--no-output-bag",
              "--samples", "0", "--sweep", "0"]
    one = _eval(venv_bin, sim_bag, tmp_path / "one", *common)
    many = _eval(venv_bin, sim_bag, tmp_path / "many", *common, "--accumulate", "3")
    assert one.returncode == 0 and many.returncode == 0, one.stderr + many.stderr
    single = json.loads((tmp_path / "one/metrics.json").read_text())
    accumulated = json.loads((tmp_path / "many/metrics.json").read_text())
    # The same held-out points of the current scans are scored, with more input.
    assert accumulated["results"]["completion"]["points"] == single["results"]["completion"]["points"]
    info = accumulated["accumulation"]
    assert info["previous"] == 3 and info["mean_past_sweeps_used"] > 1.5 and info["no_odometry"] == 0
    assert "3 previous sweeps moved by odometry" in accumulated["lidar_input"]
    assert accumulated["results"]["completion"]["abs_rel"] != single["results"]["completion"]["abs_rel"]
    # The occlusion rule drops past points that nearer ones hide from the camera; --keep-hidden ablates it.
    assert info["dropped_hidden"] > 0 and "hidden from the LiDAR or the camera, or gone" in accumulated["lidar_input"]
    kept = _eval(venv_bin, sim_bag, tmp_path / "kept", *common, "--accumulate", "3", "--keep-hidden")
    assert kept.returncode == 0, kept.stderr
    ablated = json.loads((tmp_path / "kept/metrics.json").read_text())
    assert ablated["accumulation"]["dropped_hidden"] == 0 and "(rule off)" in ablated["lidar_input"]
    # The photometric rule drops past points whose brightness a later image contradicts; --keep-recoloured ablates it.
    assert info["dropped_photometric"] > 0
    assert "whose brightness a later image contradicts" in accumulated["lidar_input"]
    # By default each image after the first is aligned to the past sweeps (the odometry's drift taken
    # out); --no-align-images moves them by the odometry as it is.
    assert info["image_alignment"] is True and info["aligned"] > 0
    assert f"the odometry corrected by {info['aligned']} of the images" in accumulated["lidar_input"]
    same = _eval(venv_bin, sim_bag, tmp_path / "same", *common, "--accumulate", "3", "--keep-recoloured",
                 "--no-align-images")
    assert same.returncode == 0, same.stderr
    unaligned = json.loads((tmp_path / "same/metrics.json").read_text())
    assert unaligned["accumulation"]["dropped_photometric"] == 0
    assert unaligned["accumulation"]["image_alignment"] is False and unaligned["accumulation"]["aligned"] == 0
    assert "moved by the odometry as it is (alignment off)" in unaligned["lidar_input"]
    code, err = _refused(in_process, sim_bag, tmp_path / "wrong", *common, "--accumulate", "3", "--base-frame", "robot")
    assert code == 2
    assert "/tf has no odom -> robot (it has odom -> base_link)" in err and "--base-frame" in err
    # The accumulation's switches without --accumulate: said, not ignored.
    code, err = _refused(in_process, sim_bag, tmp_path / "lonely", *common, "--keep-recoloured", "--no-align-images")
    assert code == 2
    assert "--keep-recoloured --no-align-images only apply to accumulated sweeps: add --accumulate N" in err


@pytest.mark.parametrize("switch", ["--keep-moving", "--keep-hidden", "--keep-recoloured", "--no-align-images"])
def test_an_accumulation_switch_without_accumulate_is_an_error(tmp_path, capsys, switch):
    from depth_ros.eval.cli import ACCUMULATION_SWITCHES, main

    assert switch in ACCUMULATION_SWITCHES
    # Refused before the bag is read or a model loads.
    assert main([str(tmp_path / "no_bag"), *ARGS, "--out", str(tmp_path / "out"), switch]) == 2
    assert f"{switch} only apply to accumulated sweeps: add --accumulate N" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_images_alignment_is_on_by_default_and_align_images_is_gone(tmp_path):
    from depth_ros.eval.cli import build_parser

    common = ["bag", *ARGS, "--out", str(tmp_path / "out"), "--accumulate", "2"]
    assert not build_parser().parse_args(common).no_align_images
    assert build_parser().parse_args([*common, "--no-align-images"]).no_align_images
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([*common, "--align-images"])
    assert exc.value.code == 2


def test_a_truncated_model_file_and_a_topic_of_the_wrong_type_are_one_line_errors(tmp_path, venv_bin, sim_bag):
    from pathlib import Path

    import depth_core.models

    shipped = Path(depth_core.models.__file__).parent / "weights" / "san_efficientnet_lite0.safetensors"
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(shipped.read_bytes()[:100_000])
    run = _eval(venv_bin, sim_bag, tmp_path / "a", "--model", str(truncated))
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip().endswith("not a readable safetensors file (Error while deserializing header: "
                                       "incomplete metadata, file not fully covered)")
    # --camera-info-topic given an image topic: named with both types, before any model loads.
    run = subprocess.run([str(venv_bin / "depth-ros-eval"), str(sim_bag), "--image-topic", "/camera/image_raw",
                          "--camera-info-topic", "/camera/depth_gt", "--out", str(tmp_path / "b"), "--quiet"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert ("--camera-info-topic /camera/depth_gt carries sensor_msgs/msg/Image, not sensor_msgs/msg/CameraInfo"
            in run.stderr)


def _without(bag, topic: str, out):
    """A copy of ``bag`` without ``topic``."""
    with BagWriter(out) as w:
        for m in read_messages(bag):
            if m.topic != topic:
                w.write(m.topic, m.msg, m.stamp_ns)
    return out


@pytest.mark.slow
def test_clouds_with_point_times_are_deskewed_by_default_as_the_node_does(in_process, tmp_path, venv_bin):
    """A sweep taken in motion: the replay de-skews it when the bag has the odometry (as the
    node's lidar_deskew), --no-deskew keeps it as recorded, and a bag without /tf is replayed as
    recorded with a warning that says why."""
    from depth_ros.bag.simulate import write_sim_bag

    bag = write_sim_bag(tmp_path / "moving", "street", 3, seed=5, width=320, height=96, sweep_motion=True,
                        speed=10.0, progress=False)
    no_tf = _without(bag, "/tf", tmp_path / "no_tf")
    common = ("--lidar-topic", "/lidar/points", "--model", "classical", "--sweep", "", "--no-output-bag",
              "--samples", "0")
    for name, source, extra, deskewed in (("auto", bag, (), True), ("off", bag, ("--no-deskew",), False),
                                          ("no_tf", no_tf, (), False)):
        run = _eval(venv_bin, source, tmp_path / f"out_{name}", *common, *extra)
        assert run.returncode == 0, run.stderr
        assert json.loads((tmp_path / f"out_{name}" / "metrics.json").read_text())["deskewed"] is deskewed
    assert "per-point times but are not de-skewed" in run.stderr and "/tf" in run.stderr
    # Odometry, but /tf_static does not place the LiDAR on the base: not de-skewed, and not claimed.
    tree = tree_from_tf_messages(m.msg for m in read_messages(bag, ["/tf_static"]))
    extrinsic = [str(v) for v in transform_to_xyzquat(tree.lookup("camera_optical_frame", "lidar_link"))]
    unmounted = tmp_path / "unmounted"
    with BagWriter(unmounted) as w:
        for m in read_messages(bag):
            if m.topic != "/tf_static":
                w.write(m.topic, m.msg, m.stamp_ns)
    run = _eval(venv_bin, unmounted, tmp_path / "out_unmounted", *common, "--lidar-extrinsic", *extrinsic)
    assert run.returncode == 0, run.stderr
    assert json.loads((tmp_path / "out_unmounted" / "metrics.json").read_text())["deskewed"] is False
    assert "not de-skewed: /tf_static does not place the LiDAR on 'base_link'" in run.stderr
    code, err = _refused(in_process, no_tf, tmp_path / "x", *common, "--deskew")
    assert code == 2 and "--deskew needs the robot's odometry on /tf" in err
    code, err = _refused(in_process, bag, tmp_path / "x", *common, "--accumulate", "2", "--no-deskew")
    assert code == 2 and "drop --no-deskew" in err


@pytest.mark.slow
def test_clouds_stamped_before_their_images_are_moved_to_them_by_default_as_the_node_does(in_process, tmp_path,
                                                                                            venv_bin, lagged_bag):
    """An unsynchronised LiDAR (each scan 50 ms before its image): the replay moves each cloud to its
    image's stamp by the bag's odometry (as the node's lidar_to_image_time) and says so in
    metrics.json and report.md; --no-lidar-to-image-time and a bag without /tf leave them where they
    were captured, with a warning that says why; --lidar-to-image-time insists on the odometry."""
    no_tf = _without(lagged_bag, "/tf", tmp_path / "no_tf")
    common = ("--lidar-topic", "/lidar/points", "--model", "classical", "--sweep", "", "--no-output-bag",
              "--samples", "0", "--max-dt", "0.08")
    runs = (("auto", lagged_bag, (), 4), ("off", lagged_bag, ("--no-lidar-to-image-time",), 0),
            ("no_tf", no_tf, (), 0))
    for name, source, extra, moved in runs:
        run = _eval(venv_bin, source, tmp_path / f"out_{name}", *common, *extra)
        assert run.returncode == 0, run.stderr
        meta = json.loads((tmp_path / f"out_{name}" / "metrics.json").read_text())["lidar_to_image_time"]
        assert meta == {"frames_apart": 4, "moved": moved, "median_offset_ms": 50.0}
        if name == "auto":
            assert "4 of them were moved to the image's stamp" in (tmp_path / "out_auto" / "report.md").read_text()
            assert "not moved" not in run.stderr
        if name == "off":
            assert "4 of 4 clouds were stamped apart" in run.stderr and "--no-lidar-to-image-time" in run.stderr
    assert "were not moved to the image's stamp" in run.stderr and "no usable odometry" in run.stderr
    code, err = _refused(in_process, no_tf, tmp_path / "x", *common, "--lidar-to-image-time")
    assert code == 2 and "--lidar-to-image-time needs the robot's odometry on /tf" in err
