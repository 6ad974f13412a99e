"""Fine-tuning: ``init:`` from shipped weights or a run, its mismatch errors, the time hold-out,
bad data caught before training, Ctrl-C saving a checkpoint that --resume continues, and the
before/after report."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from depth_core.cli import main as depth_core_main
from depth_core.data import FrameDataset
from depth_core.data.io import DataFileError, read_depth_png, write_depth_png
from depth_core.data.views import sequence_groups, time_split
from depth_core.inference.loading import DEFAULT_MODEL
from depth_core.models import create_model, load_model, save_model
from depth_core.train import ConfigError, Trainer, load_train_config
from depth_core.train.objectives import LOSSES
from depth_core.train.trainer import canonical_factor

LOSS_TERMS = {"silog_prediction": 1.0, "silog_completion": 1.0, "scale_prediction": 0.5, "scale_completion": 0.5}


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    root = tmp_path_factory.mktemp("finetune") / "frames"
    assert depth_core_main(["simulate", "--out", str(root), "--frames", "5", "--scene", "yard",
                            "--sequence-length", "5", "--width", "128", "--height", "96", "--quiet"]) == 0
    return root


def _config(tmp_path, frames, **extra) -> Path:
    cfg = {"init": "default", "data": [{"type": "frames", "root": str(frames)}], "holdout": 0.4,
           "val_samples": 2, "augment": {"crop": [64, 96], "rescale": [0.9, 1.1], "rescale_pixels": 12288},
           "sparse": {"modes": {"fraction": 1.0}},
           "stages": [{"name": "finetune", "steps": 2, "lr": 1e-4, "losses": LOSS_TERMS}],
           "batch_size": 2, "eval_every": 1000, "checkpoint_every": 1, "log_every": 1, "amp": False, **extra}
    path = tmp_path / "finetune.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _batch(frames) -> dict:
    sample = FrameDataset(frames)[0]
    image = torch.from_numpy(sample["rgb"][:64, :96].transpose(2, 0, 1).astype(np.float32) / 255)[None]
    depth = torch.from_numpy(sample["depth"][:64, :96])[None, None]
    sparse = torch.from_numpy(sample["sparse_depth"][:64, :96])[None, None]
    return {"image": image, "depth": depth, "sparse": sparse, "K": torch.from_numpy(sample["K"]).float()[None]}


def _loss(model, batch) -> float:
    """The fine-tuning loss on ``batch`` (train mode, as a training step sees it)."""
    model.train()
    k = canonical_factor(batch["K"], model.config.canonical_focal)
    with torch.no_grad():
        outputs = model.forward_passes(batch["image"], batch["sparse"] * k, ("prediction", "completion"))
    return float(sum(w * LOSSES[n](outputs, {"depth": batch["depth"] * k, "epoch": 1}, model.config)
                     for n, w in LOSS_TERMS.items()))


def test_init_from_default_and_from_a_saved_run_starts_from_the_same_weights(tmp_path, frames):
    batch = _batch(frames)
    shipped = create_model(DEFAULT_MODEL, pretrained=True)
    weights = {k: v.clone() for k, v in shipped.state_dict().items()}   # a train-mode loss moves BN statistics
    trainer = Trainer(load_train_config(_config(tmp_path, frames)), tmp_path / "a", progress=False)
    assert trainer.model_name == DEFAULT_MODEL and trainer.init_path.name.startswith("san_efficientnet")
    assert _same_weights(trainer.model, weights)
    reference = _loss(shipped, batch)
    # The trainer's copy is channels-last, whose convolution kernels round differently.
    assert np.isfinite(reference) and _loss(trainer.model, batch) == pytest.approx(reference, rel=1e-5)
    by_name = Trainer(load_train_config(_config(tmp_path, frames), [f"init={DEFAULT_MODEL}"]), tmp_path / "b",
                      progress=False)
    assert _same_weights(by_name.model, weights)
    assert _loss(by_name.model, batch) == pytest.approx(reference, rel=1e-5)
    # A run's output as init: its own weights (here: a changed copy), architecture from its config.
    changed = create_model(DEFAULT_MODEL, pretrained=True)
    with torch.no_grad():
        changed.decoder.heads[0].weight.mul_(1.5)
    path = save_model(changed, tmp_path / "run" / "model.safetensors")
    changed = {k: v.clone() for k, v in changed.state_dict().items()}
    from_run = Trainer(load_train_config(_config(tmp_path, frames), [f"init={path}"]), tmp_path / "c", progress=False)
    assert _same_weights(from_run.model, changed) and not _same_weights(from_run.model, weights)
    loss = _loss(from_run.model, batch)
    assert loss == pytest.approx(_loss(load_model(path), batch), rel=1e-5)
    assert loss != pytest.approx(reference, rel=1e-3)


def _same_weights(model, weights: dict) -> bool:
    sa, sb = model.state_dict(), weights
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_init_mismatches_name_both_sides(tmp_path, frames):
    cfg = _config(tmp_path, frames)
    with pytest.raises(ConfigError, match=f"holds a '{DEFAULT_MODEL}' model, but model: is 'san_resnet18'"):
        Trainer(load_train_config(cfg, ["model=san_resnet18"]), tmp_path / "a", progress=False)
    with pytest.raises(ConfigError, match=r"weights do not match.*wrong shapes \[.*san\."):
        Trainer(load_train_config(cfg, ["model_args={san_channels: [8, 8, 8, 8, 8]}"]), tmp_path / "b", progress=False)
    with pytest.raises(ConfigError, match="model file not found"):
        Trainer(load_train_config(cfg, [f"init={tmp_path / 'gone.safetensors'}"]), tmp_path / "c", progress=False)
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header}")
    with pytest.raises(ConfigError, match=f"init: {corrupt}: not a readable safetensors"):
        Trainer(load_train_config(cfg, [f"init={corrupt}"]), tmp_path / "d", progress=False)
    with pytest.raises(ConfigError, match="neither 'default', a registry model"):
        Trainer(load_train_config(cfg, ["init=resnet"]), tmp_path / "e", progress=False)
    with pytest.raises(ConfigError, match="ships no weights"):
        Trainer(load_train_config(cfg, ["init=fusanet"]), tmp_path / "f", progress=False)


def test_the_hold_out_is_the_last_frames_of_each_sequence_and_disjoint(tmp_path, frames):
    groups = {"a": list(range(10)), "b": list(range(10, 15))}
    train, held = time_split(groups, 0.2)
    # 5 % of each sequence (one frame, rounded up) between the two is used by neither.
    assert held == [8, 9, 14] and train == [0, 1, 2, 3, 4, 5, 6, 10, 11, 12]
    assert time_split(groups, 0.2, gap=0.0) == ([0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13], [8, 9, 14])
    assert time_split({"a": [0], "b": [1, 2]}, 0.5) == ([0, 1], [2])   # one frame: nothing to hold out; no gap room
    trainer = Trainer(load_train_config(_config(tmp_path, frames)), tmp_path / "run", progress=False)
    (train_view,), val = trainer.datasets, trainer.val
    assert train_view.indices == [0, 1] and val.indices == [3, 4]     # 40 % of 5 frames, the last by time
    assert list(sequence_groups(FrameDataset(frames))) == ["yard_0000"]
    with pytest.raises(ConfigError, match="holdout and val: give one"):
        Trainer(load_train_config(_config(tmp_path, frames), [f"val={{type: frames, root: {frames}}}"]),
                tmp_path / "x", progress=False)


def _copy(frames, dest: Path) -> Path:
    shutil.copytree(frames, dest)
    return dest


@pytest.mark.slow
def test_bad_data_is_one_line_naming_the_set_before_training(tmp_path, frames):
    empty = _copy(frames, tmp_path / "empty")
    meta = json.loads((empty / "dataset.json").read_text())
    (empty / "dataset.json").write_text(json.dumps({**meta, "sequences": []}))
    no_truth = _copy(frames, tmp_path / "no_truth")
    blanked = list(no_truth.glob("*/depth/*.png"))
    for png in blanked:   # the ground truth of every frame empty; the LiDAR still there
        write_depth_png(png, np.zeros(read_depth_png(png).shape, np.float32))
    assert len(blanked) == 5
    old = _copy(frames, tmp_path / "old")
    (old / "dataset.json").write_text(json.dumps({k: v for k, v in meta.items() if k != "version"}))
    cases = {empty: f"{empty}: no frames", no_truth: f"{no_truth}: no ground-truth depth in any of the",
             old: f"{old / 'dataset.json'}: frame set version None was written by an older depth_ros"}
    for root, message in cases.items():
        cfg = load_train_config(_config(tmp_path, frames), [f"data.0.root={root}"])
        with pytest.raises(DataFileError, match=message.replace("(", r"\(")):
            Trainer(cfg, tmp_path / "run", progress=False)
        # Through the command line: one line on stderr, exit status 2.
        out = subprocess.run([sys.executable, "-m", "depth_core.cli", "train", str(_config(tmp_path, frames)),
                              f"data.0.root={root}", "--out", str(tmp_path / "cli")], capture_output=True, text=True)
        assert out.returncode == 2 and message.split(":")[-1].strip() in out.stderr, out.stderr
        assert "Traceback" not in out.stderr


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_that_resume_continues(tmp_path, frames):
    cfg = _config(tmp_path, frames, stages=[{"name": "finetune", "steps": 400, "lr": 1e-4, "losses": LOSS_TERMS}],
                  checkpoint_every=1000, report=False)
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "depth_core.cli", "train", str(cfg), "--out", str(out), "--quiet"],
                            stderr=subprocess.PIPE, text=True, env=env)
    log = out / "train_log.csv"
    deadline = time.time() + 240
    while time.time() < deadline and (not log.is_file() or len(log.read_text().splitlines()) < 4):
        time.sleep(0.5)
    assert proc.poll() is None and len(log.read_text().splitlines()) >= 4, "training did not start in 240 s"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "continue with: depth-core train" in err and "--resume" in err
    state = json.loads((out / "checkpoints" / (out / "checkpoints" / "latest").read_text().strip() / "state.json")
                       .read_text())
    assert 3 <= state["step"] < 400
    # --resume continues from there to the end of a shortened schedule (same config otherwise).
    # The init file may have gone since: the checkpoint has the weights and the architecture.
    short = load_train_config(cfg, [f"stages.0.steps={state['step'] + 2}", f"init={tmp_path / 'moved.safetensors'}"])
    trainer = Trainer(short, out, resume=True, progress=False)
    trainer.fit()
    rows = [line.split(",")[0] for line in log.read_text().splitlines()[1:]]
    assert rows[-1] == str(state["step"] + 2) and rows.count(str(state["step"] + 1)) == 1


@pytest.mark.slow
def test_the_report_compares_before_and_after_on_the_held_out_frames(tmp_path, frames, capsys):
    cfg = _config(tmp_path, frames, report=True, report_images=2)
    assert depth_core_main(["train", str(cfg), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "| prediction |" in printed and "| completion |" in printed and "| classical |" in printed
    assert f"model:={tmp_path / 'run' / 'model.safetensors'}" in printed
    run = tmp_path / "run"
    md = (run / "report.md").read_text()
    assert "2 validation frames" in md and "![sparsity sweep](report_sweep.png)" in md
    for name in ("report_sweep.png", "report_samples.png", "model.safetensors", "report.json"):
        assert (run / name).stat().st_size > 1000
    results = json.loads((run / "report.json").read_text())["results"]
    assert set(results) == {"before", "after"} and results["after"]["images"] == 2
    before, after = results["before"]["rows"]["prediction"], results["after"]["rows"]["prediction"]
    assert before["abs_rel"] != after["abs_rel"]        # the weights did move
    assert load_model(run / "model.safetensors").config.name == DEFAULT_MODEL


def test_frame_ranges_and_lidar_truth_are_views_of_a_set(frames):
    from depth_core.data import DatasetConfig, build_dataset

    whole = FrameDataset(frames)
    first = build_dataset(DatasetConfig(type="frames", root=str(frames), frames=[0, 2]))
    last = build_dataset(DatasetConfig(type="frames", root=str(frames), frames=[-2, None], ground_truth="lidar"))
    assert [first[i]["id"] for i in range(len(first))] == [whole[0]["id"], whole[1]["id"]]
    assert [last[i]["id"] for i in range(len(last))] == [whole[3]["id"], whole[4]["id"]]
    assert np.array_equal(last[0]["depth"], whole[3]["sparse_depth"]) and last.ground_truth == "lidar"
    assert not np.array_equal(last[0]["depth"], whole[3]["depth"])
    with pytest.raises(DataFileError, match=r"frames \[7, 9\] selects no frame"):
        build_dataset(DatasetConfig(type="frames", root=str(frames), frames=[7, 9]))
    with pytest.raises(DataFileError, match="ground_truth: expected one of depth, lidar"):
        build_dataset(DatasetConfig(type="frames", root=str(frames), ground_truth="stereo"))


def test_the_report_says_whether_the_confidence_still_ranks_the_errors():
    from depth_core.train.report import confidence_lines

    def curve(all_points, half):
        return [{"kept": 1.0, "abs_rel": all_points}, {"kept": 0.5, "abs_rel": all_points * half}]

    def result(pred, comp):
        return {"sparsification": {"prediction": curve(0.2, pred), "completion": curve(0.02, comp)}}

    lines = "\n".join(confidence_lines({"before": result(0.6, 0.3), "after": result(0.62, 0.9)}))
    assert "| prediction | 0.60 | 0.62 |" in lines and "| completion | 0.30 | 0.90 |" in lines
    assert "the completion confidence ranks the errors worse" in lines and "prediction and" not in lines
    assert "worse" not in "\n".join(confidence_lines({"before": result(0.6, 0.3), "after": result(0.5, 0.3)}))
    assert confidence_lines({"after": {}}) == []                   # a model without a confidence
