"""Training: configuration, the staged SAN schedule, checkpoints and resume, corrupt samples,
data-parallel runs under torchrun, and evaluation reports."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

from depth_core.models import create_model, load_model
from depth_core.train import ConfigError, Trainer, load_train_config


def _config(tmp_path, frames, **extra) -> dict:
    cfg = {
        "model": "san_resnet18",
        "model_args": {"san_channels": [8, 8, 16, 16, 32]},
        "data": [{"type": "frames", "root": str(frames)}],
        "val": {"type": "frames", "root": str(frames), "labels": ["indoor"]},
        "val_samples": 2,
        "augment": {"crop": [64, 96]},
        "batch_size": 2,
        "stages": [{"name": "rgb", "steps": 2, "freeze": ["san"], "losses": {"silog_prediction": 1.0}},
                   {"name": "san", "steps": 2, "freeze": ["rgb_encoder"],
                    "losses": {"silog_prediction": 1.0, "silog_completion": 1.0}}],
        "eval_every": 2, "checkpoint_every": 2, "log_every": 1,
        **extra,
    }
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_config_schema_yaml_and_overrides(tmp_path, frames):
    cfg = load_train_config(_config(tmp_path, frames), ["stages.1.lr=5e-5", "batch_size=3", "augment.hflip=0"])
    assert cfg.stages[1].lr == 5e-5 and cfg.batch_size == 3 and cfg.augment.hflip == 0
    assert cfg.stages[0].freeze == ["san"] and cfg.optimizer.weight_decay == 1e-2   # defaults fill the rest
    bad = tmp_path / "bad.yaml"
    bad.write_text("augmnet: {crop: [64, 64]}\n")
    with pytest.raises(ConfigError, match="augmnet: no such config key"):
        load_train_config(bad)
    bad.write_text("stages: [{name: a, lrr: 1.0}]\n")
    with pytest.raises(ConfigError, match="stages.0.lrr: no such config key"):
        load_train_config(bad)
    with pytest.raises(ConfigError, match="override 'batch_size': expected key=value"):
        load_train_config(None, ["batch_size"])
    with pytest.raises(ConfigError, match="missing.yaml: cannot read"):
        load_train_config(tmp_path / "missing.yaml")


@pytest.mark.slow
def test_every_committed_recipe_loads_and_names_registered_parts(repo_root):
    """Each config under config/train parses, names a registered model, and its stages freeze,
    scale and weigh only components and losses that exist."""
    from depth_core.models import list_models
    from depth_core.train.objectives import LOSSES

    recipes = sorted((repo_root / "config" / "train").glob("*.yaml"))
    assert len(recipes) > 10
    for path in recipes:
        cfg = load_train_config(path)
        assert cfg.model is None or cfg.model in list_models(), path.name
        parts = create_model(cfg.model).components() if cfg.model else {}
        for stage in cfg.stages:
            for part in (*stage.freeze, *stage.freeze_norm_stats, *stage.lr_scale):
                assert not parts or part in parts, f"{path.name}: {part}"
            assert set(stage.losses) <= set(LOSSES), path.name


def test_staged_training_freezes_checkpoints_and_resumes(tmp_path, frames):
    cfg = load_train_config(_config(tmp_path, frames))
    torch.manual_seed(cfg.seed)
    initial = create_model(cfg.model, **cfg.model_args).state_dict()
    out = tmp_path / "run"
    # Stage 1 alone: the SAN is frozen (unused), the RGB encoder learns.
    only_rgb = load_train_config(_config(tmp_path, frames), ["stages=[{name: rgb, steps: 2, freeze: [san]}]"])
    Trainer(only_rgb, tmp_path / "rgb_only", progress=False).fit()
    after_rgb = load_model(tmp_path / "rgb_only" / "model.safetensors").state_dict()
    assert all(torch.equal(after_rgb[k], initial[k]) for k in initial if k.startswith("san."))
    assert not torch.equal(after_rgb["encoder.conv1.weight"], initial["encoder.conv1.weight"])

    final = Trainer(cfg, out, progress=False).fit()
    trained = load_model(final).state_dict()
    step2 = load_model(out / "checkpoints" / "step_0000002" / "model.safetensors").state_dict()
    # Stage 2 freezes the RGB encoder: identical to the end of stage 1; the SAN has learned.
    assert all(torch.equal(trained[k], step2[k]) for k in trained if k.startswith("encoder."))
    assert not torch.equal(trained["san.weight"], initial["san.weight"])
    files = {p.suffix for p in out.rglob("*") if p.is_file()}
    assert files <= {".safetensors", ".json", ".yaml", ".csv", ""} and not files & {".pt", ".pth", ".pkl"}
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["stages"][1]["freeze"] == ["rgb_encoder"]
    evals = list(csv.DictReader(open(out / "eval_log.csv")))
    assert {r["mode"] for r in evals} == {"prediction", "completion"} and float(evals[-1]["abs_rel"]) > 0

    # Resume from the step-2 checkpoint: only steps 3 and 4 run again.
    (out / "checkpoints" / "latest").write_text("step_0000002\n")
    Trainer(cfg, out, resume=True, progress=False).fit()
    steps = [int(r["step"]) for r in csv.DictReader(open(out / "train_log.csv"))]
    assert steps == [1, 2, 3, 4, 3, 4]


def test_corrupt_samples_are_skipped_and_counted(tmp_path, frames):
    broken = tmp_path / "broken"
    import shutil

    shutil.copytree(frames, broken)
    for seq in ("street_0000", "street_0001", "indoor_0000"):
        for png in (broken / seq / "depth").glob("*.png"):
            png.write_bytes(b"corrupt")
    cfg = load_train_config(_config(tmp_path, broken), ["val=null"])
    Trainer(cfg, tmp_path / "run", progress=False).fit()
    rows = list(csv.DictReader(open(tmp_path / "run" / "train_log.csv")))
    assert int(rows[-1]["skipped"]) > 0 and len(rows) >= 1


def test_unknown_losses_and_components_are_rejected(tmp_path, frames):
    cfg = load_train_config(_config(tmp_path, frames), ["stages.0.losses={berhu_typo: 1.0}"])
    with pytest.raises(ValueError, match="unknown loss 'berhu_typo'"):
        Trainer(cfg, tmp_path / "x", progress=False)
    cfg = load_train_config(_config(tmp_path, frames), ["stages.0.freeze=[backbone]"])
    with pytest.raises(ValueError, match="'backbone' is not a component of san_resnet18"):
        Trainer(cfg, tmp_path / "x", progress=False)


@pytest.mark.slow
def test_torchrun_trains_data_parallel_on_two_cpu_processes(tmp_path, frames):
    cfg = _config(tmp_path, frames)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                             "--master_port", str(29500 + os.getpid() % 1000), "-m", "depth_core.cli", "train",
                             str(cfg), "--max-steps", "2", "--out", str(tmp_path / "ddp"), "--quiet", "val=null"],
                            capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "data-parallel check: parameters identical on 2 processes" in result.stderr
    assert (tmp_path / "ddp" / "model.safetensors").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("family", ["densedepth", "structure_aware", "decomposition", "fusanet"])
def test_each_family_recipe_trains_data_parallel_with_validation(tmp_path, frames, repo_root, family):
    """A miniature of config/train/<family>_small_synthetic.yaml on two processes, every stage,
    with validation: every parameter must take part (DDP stops otherwise), and image-only models
    are validated on prediction alone."""
    cfg = repo_root / "config" / "train" / f"{family}_small_synthetic.yaml"
    data = [f"data.{i}.root={frames}" for i in range(len(load_train_config(cfg).data))]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                             "--master_port", str(29500 + os.getpid() % 1000), "-m", "depth_core.cli", "train",
                             str(cfg), "--max-steps", "4", "--out", str(tmp_path / "run"), "--quiet", *data,
                             f"val.root={frames}", "val_samples=2", "eval_every=2", "log_every=1", "batch_size=1",
                             "augment.crop=[64,96]"],
                            capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "data-parallel check: parameters identical on 2 processes" in result.stderr
    losses = [float(row["loss"]) for row in csv.DictReader(open(tmp_path / "run" / "train_log.csv"))]
    assert losses and np.isfinite(losses).all()     # (bfloat16 dilated convolutions in channels-last gave NaN)
    modes = {row["mode"] for row in csv.DictReader(open(tmp_path / "run" / "eval_log.csv"))}
    assert modes == {"prediction"}
    assert load_model(tmp_path / "run" / "model.safetensors").config.name == family


def test_learning_rate_warms_up_then_halves():
    from depth_core.train.config import StageConfig
    from depth_core.train.trainer import stage_lr

    stage = StageConfig(lr=1e-3, warmup_steps=3, lr_decay_every=10)
    lrs = [stage_lr(stage, s) for s in range(25)]
    assert lrs[0] == pytest.approx(0.25e-3) and lrs[2] == pytest.approx(0.75e-3)
    assert lrs[3] == lrs[9] == 1e-3 and lrs[10] == 0.5e-3 and lrs[24] == 0.25e-3
    assert stage_lr(StageConfig(lr=1e-3), 0) == 1e-3   # no warm-up by default


def test_mixed_precision_follows_the_hardware():
    from depth_core.train.trainer import _amp_dtype

    cpu = torch.device("cpu")
    assert _amp_dtype(False, cpu) is None and _amp_dtype(True, torch.device("cuda")) is torch.float16
    native_bf16 = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    assert _amp_dtype(True, cpu) is (torch.bfloat16 if native_bf16 else None)


@pytest.mark.slow
def test_bf16_channels_last_training_matches_float32(tmp_path, frames):
    """The fast CPU path (bfloat16 autocast, NHWC) follows the float32 run closely."""
    losses = {}
    for name, overrides in (("fp32", ["amp=false", "channels_last=false"]),
                            ("fast", ["amp=true", "channels_last=true"])):
        cfg = load_train_config(_config(tmp_path, frames), ["val=null", *overrides])
        Trainer(cfg, tmp_path / name, progress=False).fit()
        losses[name] = [float(r["loss"]) for r in csv.DictReader(open(tmp_path / name / "train_log.csv"))]
    assert len(losses["fp32"]) == 4 and np.all(np.isfinite(losses["fast"]))
    np.testing.assert_allclose(losses["fast"], losses["fp32"], rtol=0.05)


@pytest.mark.slow
def test_a_stage_can_train_with_frozen_normalisation_statistics(tmp_path, frames):
    """``freeze_norm_stats``: the SAN's batch norms keep their running statistics (inference's
    normalisation) while every SAN weight still learns."""
    stages = ("stages=[{name: san, steps: 2, freeze: [rgb_encoder], freeze_norm_stats: [san],"
              " losses: {silog_prediction: 1.0, silog_completion: 1.0}}]")
    cfg = load_train_config(_config(tmp_path, frames), ["val=null", stages, "sparse.modes={all: 1.0}"])
    torch.manual_seed(cfg.seed)
    initial = create_model(cfg.model, **cfg.model_args).state_dict()
    trained = load_model(Trainer(cfg, tmp_path / "run", progress=False).fit()).state_dict()
    stats = [k for k in initial if k.startswith("san.") and k.endswith(("running_mean", "running_var"))]
    assert stats and all(torch.equal(trained[k], initial[k]) for k in stats)
    assert not torch.equal(trained["san.blocks.0.norm.weight"], initial["san.blocks.0.norm.weight"])
    moving = load_train_config(_config(tmp_path, frames), ["val=null", stages.replace(", freeze_norm_stats: [san]", ""),
                                                            "sparse.modes={all: 1.0}"])
    torch.manual_seed(cfg.seed)
    moved = load_model(Trainer(moving, tmp_path / "run2", progress=False).fit()).state_dict()
    assert not all(torch.equal(moved[k], initial[k]) for k in stats)      # without it, the statistics move
    bad = load_train_config(_config(tmp_path, frames), ["stages.0.freeze_norm_stats=[sann]"])
    with pytest.raises(ValueError, match="freeze_norm_stats: 'sann' is not a component"):
        Trainer(bad, tmp_path / "x", progress=False)


def test_a_canonical_camera_model_trains_with_per_component_learning_rates(tmp_path, frames):
    """The default model's recipe: focal-length augmentation, canonical-depth targets, and a
    learning-rate factor per component (0 here: the encoder's weights must not move at all)."""
    stage = "stages=[{name: rgb, steps: 2, freeze: [san], lr_scale: {rgb_encoder: 0.0}}]"
    overrides = ["model=san_efficientnet_lite0", "model_args={}", "val=null", stage, "augment.rescale=[0.8, 1.25]"]
    cfg = load_train_config(_config(tmp_path, frames), overrides)
    torch.manual_seed(cfg.seed)
    initial = create_model(cfg.model).state_dict()
    trained = load_model(Trainer(cfg, tmp_path / "run", progress=False).fit()).state_dict()
    convs = [k for k in initial if k.startswith("encoder.") and k.endswith("conv.weight")]
    assert convs and all(torch.equal(trained[k], initial[k]) for k in convs)
    assert not torch.equal(trained["decoder.heads.0.weight"], initial["decoder.heads.0.weight"])
    bad = load_train_config(_config(tmp_path, frames), [*overrides[:3], "stages=[{name: a, lr_scale: {encoder: 0.1}}]"])
    with pytest.raises(ValueError, match="lr_scale: 'encoder' is not a component"):
        Trainer(bad, tmp_path / "x", progress=False)


def test_confidence_losses_on_a_model_without_a_confidence_say_so(tmp_path, frames, caplog):
    """The fine-tuning recipes train the default's confidence; with an init that has none, the
    trainer leaves those losses out and says so (and a loss called directly names the problem)."""
    from depth_core.models import create_model
    from depth_core.train.objectives import LOSSES

    stage = "stages=[{name: a, steps: 1, losses: {silog_prediction: 1.0, confidence_prediction: 0.1}}]"
    cfg = load_train_config(_config(tmp_path, frames), ["val=null", stage])
    with caplog.at_level("WARNING", logger="depth_core.train"):
        trainer = Trainer(cfg, tmp_path / "run", progress=False)
    assert trainer.stages[0].losses == {"silog_prediction": 1.0}
    assert "san_resnet18 has no confidence output: stage a trains without confidence_prediction" in caplog.text
    trainer.fit()

    config = create_model("san_resnet18", san_channels=[8, 8, 16, 16, 32]).config
    outputs = {"prediction": {"depth": torch.ones(1, 1, 4, 4)}}
    with pytest.raises(ValueError, match="confidence_prediction: san_resnet18 has no confidence output"):
        LOSSES["confidence_prediction"](outputs, {"depth": torch.ones(1, 1, 4, 4)}, config)
