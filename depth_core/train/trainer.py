"""The trainer, readable top to bottom: data -> stages -> steps -> logs, evaluations, checkpoints.

Stages run in order, each with its own learning rate plan, frozen components and loss terms
(SAN: RGB only, then the RGB encoder frozen while SAN and decoder learn both tasks). One process
or many: under ``torchrun`` every process trains on its own sample stream and DDP averages
gradients (gloo on CPU, NCCL on CUDA); only rank 0 logs, evaluates and writes files.
"""

from __future__ import annotations

import csv
import datetime
import logging
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import yaml
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..data import DataFileError, build_dataset
from ..data.training import MixedSampler, TrainingSet, collate, mixing_weights
from ..data.video import VideoView
from ..data.views import ConcatView, FrameView, sequence_groups, time_split
from ..evaluate import evaluate, held_out_protocol, sparse_ground_truth
from ..inference import load_estimator
from ..models import create_model, load_model, save_model
from .checkpoint import find_latest, load_train_state, save_train_state
from .config import ConfigError, StageConfig, TrainConfig
from .init import init_model, resolve_init
from .objectives import LOSSES, SELF_SUPERVISED, needed_passes
from .video_eval import photometric_metrics

__all__ = ["Trainer", "evaluate_model"]

log = logging.getLogger("depth_core.train")


class _Passes(nn.Module):
    """Both passes inside one forward, so DistributedDataParallel sees a single call."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor, sparse: torch.Tensor, passes: tuple[str, ...]) -> dict:
        return self.model.forward_passes(image, sparse, passes)


def evaluate_model(model: nn.Module, dataset, samples: int, max_depth: float, device: torch.device, *,
                   sparse_truth: bool = False) -> dict:
    """Prediction and completion metrics on ``samples`` evenly spaced samples of ``dataset``
    through the estimator API that ``depth-core eval`` and the node use. The completion gets all
    LiDAR points, or with ``sparse_truth`` (LiDAR ground truth) 30 % of them, scored at the rest."""
    was_training = model.training
    estimator = load_estimator(model, "torch", input_size=estimator_size(model), device=str(device))
    if isinstance(dataset, VideoView) and dataset.ground_truth == "none":
        # Held-out video with no depth: the photometric error of the camera-only depth.
        metrics = {"prediction": photometric_metrics({"model": estimator}, dataset, samples)["model"]}
        model.train(was_training)
        return metrics
    result = evaluate(estimator, dataset, "none", samples=samples, baselines=(), max_depth=max_depth,
                      progress=False, **held_out_protocol(sparse_truth))
    model.train(was_training)
    return {mode: result["rows"][mode] for mode in ("prediction", "completion") if mode in result["rows"]}


def estimator_size(model: nn.Module) -> str | None:
    """Canonical-camera models at the size inference uses (the aspect kept; full-resolution images
    would be needlessly slow here); the others at each sample's own size."""
    return None if model.config.canonical_focal is not None else "native"


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during training: the checkpoint written (None if no step had finished) and its step."""

    def __init__(self, checkpoint: Path | None, step: int) -> None:
        super().__init__(f"interrupted at step {step}")
        self.checkpoint, self.step = checkpoint, step


def check_training_data(datasets: list, roots: list[str], needs_points: bool, probe: int = 6,
                        needs_truth: bool = True) -> None:
    """Fail in one line naming the data set (``roots``) before training when a few evenly spaced
    frames show it cannot train: no ground-truth depth at all (unless every loss is
    self-supervised), or no LiDAR points for completion losses."""
    for data, root in zip(datasets, roots):
        n = len(data)
        if n == 0:
            raise DataFileError(f"{root}: no frames to train on")
        picks = np.unique(np.linspace(0, n - 1, min(probe, n)).round().astype(int))
        truth = points = read = 0
        for i in picks:
            try:
                sample = data[int(i)]
            except DataFileError as exc:
                log.warning("checking the training data: %s", exc)
                continue
            read += 1
            truth += bool((sample["depth"] > 0).any())
            points += bool((sample["sparse_depth"] > 0).any())
        if not read:
            raise DataFileError(f"{root}: none of the {len(picks)} frames checked could be read (see the warnings)")
        if not truth and needs_truth:
            raise DataFileError(f"{root}: no ground-truth depth in any of the {read} frames checked (its depth maps "
                                "are empty): training needs a depth image topic or LiDAR scans as ground truth")
        if needs_points and not points:
            raise DataFileError(f"{root}: no LiDAR points in any of the {read} frames checked (its sparse maps are "
                                "empty), but the stages' completion losses need them")


class Trainer:
    def __init__(self, cfg: TrainConfig, out: str | Path, *, max_steps: int | None = None, resume: bool = False,
                 progress: bool = True) -> None:
        self.cfg, self.out, self.resume, self.progress = cfg, Path(out), resume, progress
        self.distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        if self.distributed and not dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() and cfg.device != "cpu" else "gloo"
            # Long timeout: the other ranks wait at a barrier while rank 0 generates simulated data.
            dist.init_process_group(backend, timeout=datetime.timedelta(hours=6))
        self.rank = dist.get_rank() if self.distributed else 0
        self.world = dist.get_world_size() if self.distributed else 1
        self.device = self._device(cfg.device)
        self.main = self.rank == 0
        torch.manual_seed(cfg.seed + self.rank)
        self.memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        # The weights: --resume's checkpoint (loaded in fit) wins over init:, which wins over
        # initial weights. An init problem is reported now, before any data is read or generated.
        self.init_path = None
        latest = find_latest(self.out) if resume else None
        if latest is not None:   # the architecture it was trained with; fit() loads its weights
            model = load_model(latest / "model.safetensors")
            self.init_path = self._init_if_present(cfg.init)
        elif cfg.init:
            for key in ("init_new", "init_grow"):
                prefixes = getattr(cfg, key)
                if not isinstance(prefixes, list) or not all(isinstance(p, str) and p for p in prefixes):
                    raise ConfigError(f"{key}: expected a list of parameter-name prefixes, got {prefixes!r}")
            model, self.init_path = init_model(cfg.init, cfg.model, cfg.model_args, tuple(cfg.init_new),
                                               tuple(cfg.init_grow))
        else:
            model = create_model(cfg.model or "san_resnet18", **cfg.model_args)
        self.model = model.to(self.device, memory_format=self.memory_format)
        self.model_name = self.model.config.name
        if self.main:
            log.info("training %s%s into %s on %s (%d process%s)%s: preparing the data first", self.model_name,
                     f" from {self.init_path}" if self.init_path else "", self.out, self.device, self.world,
                     "" if self.world == 1 else "es", f", a {max_steps}-step miniature of the schedule" if max_steps
                     else "")
        self.stages = self._without_confidence(self._scaled_stages(cfg.stages, max_steps))
        for stage in self.stages:
            needed_passes(stage.losses)  # fail early on unknown loss names
            for key in ("freeze", "freeze_norm_stats", "lr_scale"):
                self._check_components(f"stages.{stage.name}.{key}", list(getattr(stage, key)))
        self._check_components("save_float16", cfg.save_float16)   # now, not after hours of training
        self.datasets, self.val = self._build_datasets(miniature=max_steps is not None)
        check_training_data(self.datasets, [d.root for d in cfg.data],
                            needs_points=any("completion" in n for s in self.stages for n in s.losses),
                            needs_truth=any(n not in SELF_SUPERVISED for s in self.stages for n in s.losses))
        self.sparse_truth = self.val is not None and sparse_ground_truth(self.val)
        self.report = None
        self.amp_dtype = _amp_dtype(cfg.amp, self.device)
        self.use_amp = self.amp_dtype is not None
        if self.memory_format == torch.channels_last and self.amp_dtype == torch.bfloat16 and \
                self.device.type == "cpu" and _has_dilated_conv(self.model):
            # oneDNN's bfloat16 weight gradient of a dilated convolution in channels-last layout is
            # NaN (torch 2.13 CPU; large dilations crash outright): keep such models contiguous.
            log.info("channels_last off: %s has dilated convolutions, whose bfloat16 channels-last gradients "
                     "are broken on this CPU backend", self.model_name)
            self.memory_format = torch.contiguous_format
            self.model.to(memory_format=self.memory_format)

    def _build_datasets(self, miniature: bool):
        """Training and validation sets. Data-parallel: rank 0 generates missing simulated sets
        (in parallel processes) while the other ranks wait, then they all open them."""
        cfg = self.cfg

        if cfg.holdout and cfg.val is not None:
            raise ConfigError("holdout and val: give one (holdout holds frames of the training sets out; val names "
                              "another set)")

        def build():
            return [build_dataset(d, miniature=miniature) for d in cfg.data], \
                (build_dataset(cfg.val, miniature=miniature) if cfg.val else None)

        if not self.distributed:
            train, val = build()
        else:
            if self.main:
                train, val = build()
            dist.barrier()
            if not self.main:
                train, val = build()
        if cfg.holdout:
            splits = [time_split(sequence_groups(d), cfg.holdout) for d in train]
            held = [FrameView(d, h) for d, (_, h) in zip(train, splits)]
            train = [FrameView(d, t) for d, (t, _) in zip(train, splits)]
            if not any(len(h) for h in held):
                raise DataFileError(f"{cfg.data[0].root}: holdout {cfg.holdout}: no sequence has two frames to "
                                    "split; give a val set instead")
            held = [h for h in held if len(h)]
            val = held[0] if len(held) == 1 else ConcatView(held)
            if self.main:
                n_train = sum(len(d) for d in train)
                n_gap = sum(len(d.dataset) for d in train) - n_train - len(val)
                log.info("held out the last %.0f%% of each sequence by time for validation: %d frames to train on, "
                         "%d held out, %d between them used by neither (nearly the same images)", 100 * cfg.holdout,
                         n_train, len(val), n_gap)
        if cfg.video is not None:
            # Context frames come from the same side of the split as their frame: a held-out frame
            # is never seen in training, not even as another frame's context.
            train = [VideoView(d, cfg.video, name=c.root) for d, c in zip(train, cfg.data)]
            for view, c in zip(train, cfg.data):
                if self.main:
                    log.info("%s: video: %s", c.root, view.summary())
            if val is not None and getattr(val, "ground_truth", None) == "none":
                name = f"{cfg.val.root if cfg.val else cfg.data[0].root} (held out)"
                try:
                    val = VideoView(val, cfg.video, name=name, min_frames=1)
                except DataFileError as exc:   # a robot parked at the end of its recording: train anyway
                    log.warning("no validation and no report: %s", exc)
                    val = None
        return train, val

    @staticmethod
    def _init_if_present(spec: str | None) -> Path | None:
        """A resumed run's init file, for the report's "before"; it may have moved since."""
        if not spec:
            return None
        try:
            return resolve_init(spec)
        except ConfigError as exc:
            log.warning("resuming without the init weights for the report's comparison: %s", exc)
            return None

    def _check_components(self, key: str, parts: list) -> None:
        known = self.model.components()
        for part in parts:
            if part not in known:
                raise ValueError(f"{key}: '{part}' is not a component of {self.model_name} ({', '.join(known)})")

    def _device(self, name: str) -> torch.device:
        if name == "auto":
            name = "cuda" if torch.cuda.is_available() else "cpu"
        if name == "cuda" and self.distributed:
            name = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
        return torch.device(name)

    def _without_confidence(self, stages: list[StageConfig]) -> list[StageConfig]:
        """The stages, their confidence losses left out (and said so) for a model without a
        confidence output: the fine-tuning recipes train the default's confidence, and work for
        any ``init``."""
        if getattr(self.model, "with_confidence", False):
            return stages
        out = []
        for s in stages:
            dropped = sorted(k for k in s.losses if k.startswith("confidence_"))
            if dropped and self.main:
                log.warning("%s has no confidence output: stage %s trains without %s", self.model.config.name,
                            s.name, ", ".join(dropped))
            losses = {k: v for k, v in s.losses.items() if k not in dropped}
            out.append(StageConfig(**{**s.__dict__, "losses": losses}) if dropped else s)
        return out

    @staticmethod
    def _scaled_stages(stages: list[StageConfig], max_steps: int | None) -> list[StageConfig]:
        """With ``--max-steps``, a miniature of the whole schedule: each stage keeps its share."""
        if max_steps is None:
            return stages
        total = sum(s.steps for s in stages)
        scaled = []
        for s in stages:
            factor = max_steps / total
            scaled.append(StageConfig(**{**s.__dict__, "steps": max(1, round(s.steps * factor)),
                                         "lr_decay_every": round(s.lr_decay_every * factor),
                                         "warmup_steps": round(s.warmup_steps * factor)}))
        return scaled

    # -- the loop -------------------------------------------------------------------------------

    def fit(self) -> Path:
        cfg = self.cfg
        if self.main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        step, stage_index, stage_step, opt_state = 0, 0, 0, None
        if self.resume and (latest := find_latest(self.out)) is not None:
            step, stage_index, stage_step, opt_state = load_train_state(latest, self.model)
            log.info("resumed from %s (step %d, stage %s)", latest, step, self.stages[stage_index].name)
        total = sum(s.steps for s in self.stages)
        sizes = [len(d) for d in self.datasets]
        probs = mixing_weights(sizes, [d.weight for d in cfg.data])
        starts = [d.start_step * cfg.batch_size for d in cfg.data]
        sampler = MixedSampler(sizes, probs, seed=cfg.seed, rank=self.rank, world_size=self.world,
                               start=step * cfg.batch_size, starts=starts)
        loader = DataLoader(TrainingSet(self.datasets, cfg.augment, cfg.sparse, self.model.config.max_depth),
                            batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.workers, collate_fn=collate)
        batches = iter(loader)
        logger = _Logger(self.out, self.main, cfg.tensorboard, sorted({n for s in self.stages for n in s.losses}))
        bar = tqdm(total=total, initial=step, desc="training", unit="step", disable=not (self.main and self.progress))
        self.skipped, self.position, self.step = 0, None, step
        # Ctrl-C stops at the end of the step under way (a second one stops at once), so that the
        # checkpoint written is the consistent state after a whole step.
        self._stop = False
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGINT, self._on_sigint)
        try:
            self._run_stages(stage_index, stage_step, opt_state, batches, logger, bar, sizes, total)
        except KeyboardInterrupt:
            saved = None
            if self.main and self.position is not None:
                index, done, optimizer = self.position
                saved = save_train_state(self.out, self.step, index, done, self.model, optimizer, cfg.to_dict())
                log.warning("interrupted: saved %s (step %d); continue with --resume", saved, self.step)
            elif self.main:
                saved = find_latest(self.out)
            raise Interrupted(saved, self.step) from None
        finally:
            bar.close()
            logger.close()
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        if self.distributed:
            self._check_replicas()
        final = self.out / "model.safetensors"
        if self.main:
            save_model(self.model, final, extra_metadata={"depth_ros.train_config": yaml.safe_dump(cfg.to_dict())},
                       dtype=cfg.save_dtype, float16_components=tuple(cfg.save_float16))
            if self.skipped:
                log.warning("skipped %d corrupt samples", self.skipped)
            log.info("wrote %s (%d steps)", final, self.step)
            if cfg.report and self.val is not None:
                from .report import write_training_report

                try:
                    self.report = write_training_report(self.init_path, final, self.val, self.out, cfg,
                                                        sparse_truth=self.sparse_truth, progress=self.progress)
                except KeyboardInterrupt:
                    log.warning("report skipped (interrupted); the model is complete: %s", final)
        if self.distributed:
            dist.barrier()
        return final

    def _on_sigint(self, signum, frame) -> None:
        if self._stop:
            raise KeyboardInterrupt
        self._stop = True
        log.warning("Ctrl-C: stopping after this step (again to stop at once)")

    def _run_stages(self, stage_index: int, stage_step: int, opt_state, batches, logger, bar, sizes, total) -> None:
        cfg = self.cfg
        step = self.step
        for index in range(stage_index, len(self.stages)):
            stage = self.stages[index]
            passes = needed_passes(stage.losses)
            trainable = self._freeze(stage)
            net = _Passes(self.model)
            if self.distributed:
                devices = [self.device.index] if self.device.type == "cuda" else None
                # A stage's losses need not use every trainable part (the camera-only recipes run no
                # completion pass, so the SAN branch gets no gradient): let DDP find those each step.
                net = DistributedDataParallel(net, device_ids=devices, find_unused_parameters=True)
            optimizer = _optimizer(cfg.optimizer, trainable, stage.lr)
            if opt_state is not None and index == stage_index:
                optimizer.load_state_dict(opt_state)
            # Loss scaling for float16 only; bfloat16 has float32's range.
            scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
            first = stage_step if index == stage_index else 0
            log.info("stage %s: %d steps, lr %.2g, losses %s, frozen %s, %s on %s%s", stage.name, stage.steps,
                     stage.lr, stage.losses, stage.freeze or "nothing",
                     f"mixed precision ({str(self.amp_dtype).removeprefix('torch.')})" if self.use_amp else "float32",
                     self.device, f" x {self.world} processes" if self.distributed else "")
            t_last, n_last = time.perf_counter(), 0
            for s in range(first, stage.steps):
                lr = stage_lr(stage, s)
                for group in optimizer.param_groups:
                    group["lr"] = lr * group["lr_scale"]
                batch = next(batches)
                self.skipped += batch["skipped"]
                if "image" not in batch:
                    continue
                self._train_mode(stage)
                image = batch["image"].to(self.device, memory_format=self.memory_format)
                gt = batch["depth"].to(self.device)
                sparse = batch["sparse_depth"].to(self.device, memory_format=self.memory_format)
                lidar = batch["lidar"].to(self.device)
                if self.model.config.canonical_focal is not None:
                    # The network's depth lives in the canonical camera: d * canonical / f.
                    k = canonical_factor(batch["K"], self.model.config.canonical_focal).to(self.device)
                    gt, sparse, lidar = gt * k, sparse * k, lidar * k
                with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
                    outputs = net(image, sparse, tuple(passes))
                floats = {k: _float(v) for k, v in outputs.items()}
                epoch = 1 + step * cfg.batch_size * self.world // max(sum(sizes), 1)
                targets = {"depth": gt, "lidar": lidar, "sparse": sparse, "epoch": epoch}
                if "context" in batch:   # video: the frame as recorded, its context frames and their poses
                    targets.update(image=batch["image_clean"].to(self.device), context=batch["context"].to(self.device),
                                   T_ctx=batch["T_ctx"].to(self.device), K=batch["K"].to(self.device),
                                   canonical=k if self.model.config.canonical_focal is not None
                                   else torch.ones_like(gt[:, :1, :1, :1]))
                terms = {n: LOSSES[n](floats, targets, self.model.config) for n in stage.losses}
                loss = sum(w * terms[n] for n, w in stage.losses.items())
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                step += 1
                self.step, self.position = step, (index, s + 1, optimizer)
                if self._stop:
                    raise KeyboardInterrupt
                n_last += image.shape[0]
                bar.update()
                if step % cfg.log_every == 0 or s == stage.steps - 1:
                    rate = n_last * self.world / (time.perf_counter() - t_last)
                    row = {"step": step, "stage": stage.name, "lr": lr, "loss": loss.item(),
                           **{n: v.item() for n, v in terms.items()}, "samples_per_s": rate, "skipped": self.skipped}
                    logger.train(row)
                    bar.set_postfix(loss=f"{loss.item():.4f}", stage=stage.name)
                    t_last, n_last = time.perf_counter(), 0
                if self.val is not None and self.main and (step % cfg.eval_every == 0 or step == total):
                    metrics = evaluate_model(self.model, self.val, cfg.val_samples, cfg.eval_max_depth, self.device,
                                             sparse_truth=self.sparse_truth)
                    logger.eval(step, metrics)
                    bar.write(f"step {step}: " + ", ".join(
                        f"{mode} AbsRel {m['abs_rel']:.4f}" if "abs_rel" in m else f"{mode} photometric error "
                        f"{m['photometric']:.4f}" for mode, m in metrics.items()))
                if self.main and (step % cfg.checkpoint_every == 0 or s == stage.steps - 1):
                    save_train_state(self.out, step, index, s + 1, self.model, optimizer, cfg.to_dict())
            stage_step = 0

    def _check_replicas(self) -> None:
        """Data parallelism must leave every process with the same weights; say so, or fail."""
        checksum = torch.stack([p.detach().double().sum() for p in self.model.parameters()]).sum().view(1)
        gathered = [torch.zeros_like(checksum) for _ in range(self.world)]
        dist.all_gather(gathered, checksum.to(self.device))
        values = [float(g) for g in gathered]
        if max(values) - min(values) > 1e-6 * max(1.0, abs(values[0])):
            raise RuntimeError(f"data-parallel replicas diverged: parameter checksums {values}")
        if self.main:
            log.info("data-parallel check: parameters identical on %d processes", self.world)

    def _freeze(self, stage: StageConfig) -> list[dict]:
        """Freeze the stage's frozen components; the trainable parameters as optimizer groups,
        one per learning-rate factor (``lr_scale``)."""
        components = self.model.components()
        prefixes = [p for part in stage.freeze for p in components[part]]
        scales = [(tuple(components[part]), float(f)) for part, f in stage.lr_scale.items()]
        groups: dict[float, list] = {}
        for name, param in self.model.named_parameters():
            param.requires_grad_(not any(name.startswith(p) for p in prefixes))
            if param.requires_grad:
                scale = next((f for pre, f in scales if name.startswith(pre)), 1.0)
                groups.setdefault(scale, []).append(param)
        self._frozen_prefixes = prefixes
        return [{"params": params, "lr_scale": scale} for scale, params in sorted(groups.items())]

    def _train_mode(self, stage: StageConfig) -> None:
        """Train mode, except frozen parts stay in eval mode (their BN statistics must not move),
        and so do the normalisation layers of ``freeze_norm_stats`` components: they normalise
        with their running statistics, as at inference, while their weights still learn."""
        self.model.train()
        components = self.model.components()
        stats_prefixes = [p for part in stage.freeze_norm_stats for p in components[part]]
        for name, module in self.model.named_modules():
            if name and any((name + ".").startswith(p) for p in self._frozen_prefixes):
                module.eval()
            elif isinstance(module, nn.modules.batchnorm._BatchNorm) and any(
                    (name + ".").startswith(p) for p in stats_prefixes):
                module.eval()


def canonical_factor(K: torch.Tensor, canonical_focal: float) -> torch.Tensor:
    """Per sample [B,1,1,1]: metric depth times this is canonical depth (the mean focal length of
    each sample's K [B,3,3], after its augmentation, against the model's canonical one)."""
    focal = 0.5 * (K[:, 0, 0] + K[:, 1, 1])
    return (canonical_focal / focal).view(-1, 1, 1, 1).float()


def stage_lr(stage: StageConfig, step: int) -> float:
    """The learning rate at ``step`` of ``stage``: a linear warm-up over ``warmup_steps`` (a fresh
    optimizer's first Adam steps are as large as the learning rate whatever the gradient, which
    knocks a pretrained decoder off its optimum), then halved every ``lr_decay_every`` steps."""
    lr = stage.lr * stage.lr_decay ** (step // stage.lr_decay_every if stage.lr_decay_every else 0)
    if step < stage.warmup_steps:
        lr *= (step + 1) / (stage.warmup_steps + 1)
    return lr


def _has_dilated_conv(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) and max(m.dilation) > 1 for m in model.modules())


def _amp_dtype(amp: bool, device: torch.device) -> torch.dtype | None:
    """float16 on CUDA; bfloat16 on CPUs with native bfloat16 (AVX512-BF16 or AMX), where it
    more than halves the step time; None (float32) elsewhere."""
    if not amp:
        return None
    if device.type == "cuda":
        return torch.float16
    if device.type == "cpu" and (torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()):
        return torch.bfloat16
    return None


def _optimizer(cfg, params: list, lr: float) -> torch.optim.Optimizer:
    if cfg.name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=cfg.alpha, momentum=cfg.momentum,
                                   weight_decay=cfg.weight_decay)
    raise ValueError(f"optimizer.name: expected adamw, adam or rmsprop, got '{cfg.name}'")


def _float(outputs: dict) -> dict:
    """Losses in float32 even under autocast."""
    return {k: ([t.float() for t in v] if isinstance(v, list) else v.float()) for k, v in outputs.items()}


class _Logger:
    """CSV logs (always) and TensorBoard events (when asked and installed), rank 0 only."""

    def __init__(self, out: Path, active: bool, tensorboard: bool, loss_names: list[str]) -> None:
        self.active = active
        self.writer = None
        if not active:
            return
        self.train_file = open(out / "train_log.csv", "a", newline="")
        fields = ["step", "stage", "lr", "loss", *loss_names, "samples_per_s", "skipped"]
        self.train_csv = csv.DictWriter(self.train_file, fields)
        if self.train_file.tell() == 0:
            self.train_csv.writeheader()
        self.eval_file = open(out / "eval_log.csv", "a", newline="")
        self.eval_csv = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(out / "tensorboard"))
            except ImportError:
                log.warning("tensorboard is not installed; logging to CSV only")

    def train(self, row: dict) -> None:
        if not self.active:
            return
        self.train_csv.writerow(row)
        self.train_file.flush()
        if self.writer:
            for k, v in row.items():
                if isinstance(v, float):
                    self.writer.add_scalar(f"train/{k}", v, row["step"])

    def eval(self, step: int, metrics: dict) -> None:
        if not self.active:
            return
        rows = [{"step": step, "mode": mode, **m} for mode, m in metrics.items()]
        if self.eval_csv is None:
            self.eval_csv = csv.DictWriter(self.eval_file, list(rows[0]))
            if self.eval_file.tell() == 0:
                self.eval_csv.writeheader()
        self.eval_csv.writerows(rows)
        self.eval_file.flush()
        if self.writer:
            for mode, m in metrics.items():
                for k in ("abs_rel", "rmse", "delta1", "photometric"):
                    if k in m:
                        self.writer.add_scalar(f"eval_{mode}/{k}", m[k], step)

    def close(self) -> None:
        if self.active:
            self.train_file.close()
            self.eval_file.close()
            if self.writer:
                self.writer.close()

