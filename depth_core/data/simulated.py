"""The simulated training set (``depth-core simulate``): procedural worlds written as a frame set
(see :mod:`depth_core.data.frames`), one generated world per sequence, labelled by world type.

Each sequence has its own world, and with ``rigs="random"`` its own camera, LiDAR and mounting
drawn from a :class:`~depth_core.sim.rigs.RigDistribution` (``rigs`` may also name presets); with
``appearance`` its own look (sky, sun and shadows, camera effects). Everything is a pure function
of the request, so the same request gives the same files.

Sequences render in parallel worker processes. Each one is written to ``OUT/.NAME.partial`` and
renamed to ``OUT/NAME`` when complete; ``OUT/generation.json`` holds the request until
``OUT/dataset.json`` is written at the end. An interrupted run keeps its complete sequences and
removes its partial ones; the same command then resumes where it stopped.
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import os
import queue
import shutil
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..sim import SCENES, SimConfig, Simulator, default_config
from ..sim.appearance import AppearanceConfig
from ..sim.rigs import RIG_PRESETS, preset_config, rig_distribution, sample_rig
from ..utils.files import OutputError, check_output_parent
from .frames import FORMAT, FrameDataset, SequenceWriter, frame_set_summary, project_with_rings

__all__ = ["SimulationRequest", "ensure_simulated_dataset", "sequence_seed", "write_simulated_dataset"]

log = logging.getLogger("depth_core.data")

GENERATION_FILE = "generation.json"
PARTIAL_SUFFIX = ".partial"


def sequence_seed(seed: int, scene: str, sequence: int) -> int:
    """The world seed of one sequence: independent streams per (seed, scene, sequence)."""
    return int(np.random.SeedSequence([seed, SCENES.index(scene), sequence]).generate_state(1)[0])


@dataclass(frozen=True)
class SimulationRequest:
    """What to generate. ``rigs``: ``"scene"`` (each world type's fixed rig), ``"random"`` (a new
    rig per sequence from the default distribution), a dict of distribution overrides, or a preset
    name or list of names (cycled over the sequences). ``appearance``: False (plain look), True
    (randomised from the default distribution) or a dict of its overrides."""

    scenes: tuple
    frames: int                      # per world type
    seed: int = 0
    sequence_length: int = 50
    width: int | None = None         # override every camera's size
    height: int | None = None
    rigs: object = "scene"
    appearance: object = False

    def __post_init__(self) -> None:
        for scene in self.scenes:
            if scene not in SCENES:
                raise ValueError(f"scene must be one of {', '.join(SCENES)}; got '{scene}'")
        if self.frames < 1 or self.sequence_length < 1:
            raise ValueError(f"frames and sequence_length must be >= 1, got {self.frames} and {self.sequence_length}")
        names = [self.rigs] if isinstance(self.rigs, str) else self.rigs
        if isinstance(names, (list, tuple)):
            for name in names:
                if name not in ("scene", "random") and name not in RIG_PRESETS:
                    raise ValueError(f"rigs: unknown rig '{name}' (use 'scene', 'random', a dict of distribution "
                                     f"overrides, or presets: {', '.join(RIG_PRESETS)})")

    def to_dict(self) -> dict:
        rigs = list(self.rigs) if isinstance(self.rigs, tuple) else self.rigs
        return {"scenes": list(self.scenes), "frames": self.frames, "seed": self.seed,
                "sequence_length": self.sequence_length, "width": self.width, "height": self.height,
                "rigs": rigs, "appearance": self.appearance}

    def _appearance(self, rng: np.random.Generator):
        if self.appearance is False or self.appearance is None:
            return None
        overrides = self.appearance if isinstance(self.appearance, dict) else {}
        return AppearanceConfig(**overrides).sample(rng)

    def _rig(self, scene: str, s: int, world_seed: int) -> SimConfig:
        rigs = self.rigs
        if isinstance(rigs, (list, tuple)):
            rigs = rigs[s % len(rigs)]
        if rigs == "scene":
            return default_config(scene)
        if isinstance(rigs, str) and rigs in RIG_PRESETS:
            return preset_config(rigs, scene)
        return sample_rig(scene, np.random.default_rng([world_seed, 11]), rig_distribution(rigs))

    def plan(self) -> list[dict]:
        """One job per sequence, in the data set's order: name, label, world seed, frames, config."""
        jobs = []
        for scene in self.scenes:
            for s in range(math.ceil(self.frames / self.sequence_length)):
                world_seed = sequence_seed(self.seed, scene, s)
                cfg = self._rig(scene, s, world_seed)
                if self.width is not None or self.height is not None:
                    cfg = replace(cfg, camera=replace(cfg.camera, width=self.width or cfg.camera.width,
                                                      height=self.height or cfg.camera.height))
                cfg = replace(cfg, appearance=self._appearance(np.random.default_rng([world_seed, 12])))
                jobs.append({"name": f"{scene}_{s:04d}", "label": scene, "seed": world_seed, "config": cfg,
                             "frames": min(self.sequence_length, self.frames - s * self.sequence_length)})
        return jobs


def _render_sequence(job: dict, root: str, report: Callable[[int], None]) -> dict:
    """Render one sequence into ``root/.NAME.partial``, then rename it to ``root/NAME``."""
    final = Path(root) / job["name"]
    partial = Path(root) / f".{job['name']}{PARTIAL_SUFFIX}"
    shutil.rmtree(partial, ignore_errors=True)
    sim = Simulator(job["config"], seed=job["seed"], frames=job["frames"])
    extra = {"seed": job["seed"], "lidar": sim.config.to_dict()["lidar"], "rate_hz": sim.config.rate_hz,
             "rig": sim.config.rig_record(), "T_base_cam": sim.rig.T_base_camera.tolist()}
    with SequenceWriter(partial, sim.intrinsics, sim.rig.T_cam_lidar, job["label"], extra) as seq:
        for frame in sim:
            sparse, rings = project_with_rings(frame.lidar_points, frame.lidar_ring, sim.rig.T_cam_lidar,
                                               sim.intrinsics)
            seq.add(frame.rgb, frame.depth, sparse, rings, frame.stamp_ns, frame.T_world_base)
            report(1)
    partial.rename(final)
    return {"name": job["name"], "label": job["label"], "frames": job["frames"]}


_progress_queue = None


def _init_worker(progress_queue) -> None:
    global _progress_queue
    _progress_queue = progress_queue
    import cv2

    cv2.setNumThreads(1)   # one process per core already


def _worker(job: dict, root: str) -> dict:
    return _render_sequence(job, root, _progress_queue.put)


def _default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _run_jobs(jobs: list[dict], root: Path, workers: int, bar: tqdm) -> None:
    if workers <= 1:
        for job in jobs:
            _render_sequence(job, str(root), bar.update)
        return
    # Spawned, not forked: the parent may hold torch's thread pools (training), which do not
    # survive a fork. Each worker renders whole sequences on one thread.
    ctx = multiprocessing.get_context("spawn")
    progress = ctx.Queue()
    saved = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    os.environ.update({k: "1" for k in saved})
    try:
        pool = ctx.Pool(workers, initializer=_init_worker, initargs=(progress,))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    try:
        pending = [pool.apply_async(_worker, (job, str(root))) for job in jobs]
        while pending:
            try:
                bar.update(progress.get(timeout=0.5))
            except queue.Empty:
                pass
            for result in [r for r in pending if r.ready()]:
                result.get()   # re-raises a worker's error here
                pending.remove(result)
        while True:
            try:
                bar.update(progress.get_nowait())
            except queue.Empty:
                break
        pool.close()
    finally:
        pool.terminate()
        pool.join()


def _complete_sequences(root: Path, jobs: list[dict]) -> list[dict]:
    return [{"name": j["name"], "label": j["label"], "frames": j["frames"]} for j in jobs
            if (root / j["name"]).is_dir()]


def _open_output(out: Path, request: SimulationRequest, overwrite: bool) -> bool:
    """Prepare ``out`` for ``request``; True when it is resumed from an unfinished run."""
    check_output_parent(out)
    marker = out / GENERATION_FILE
    if out.exists() and overwrite:
        shutil.rmtree(out)
    if out.exists():
        if not marker.is_file():
            raise OutputError(f"{out} already exists (pass --overwrite to replace it)")
        try:
            previous = json.loads(marker.read_text())
        except json.JSONDecodeError as exc:
            raise OutputError(f"{marker}: not valid JSON ({exc}); pass --overwrite to start again") from None
        if previous.get("request") != request.to_dict():
            differ = sorted(k for k, v in request.to_dict().items() if previous.get("request", {}).get(k) != v)
            raise OutputError(f"{out} holds an unfinished simulation with other settings ({', '.join(differ)} "
                              "differ); run the same command again to resume it, or pass --overwrite")
        for stale in out.glob(f".*{PARTIAL_SUFFIX}"):
            shutil.rmtree(stale, ignore_errors=True)
        return True
    try:
        out.mkdir(parents=True)
        marker.write_text(json.dumps({"format": FORMAT, "request": request.to_dict()}, indent=2))
    except OSError as exc:
        raise OutputError(f"cannot write into {out.parent}: {exc.strerror or exc}") from None
    return False


def _progress_bar(total: int, initial: int, enabled: bool) -> tqdm:
    """A frames/s + ETA bar; in a log file (no terminal) it still writes a line every 15 s."""
    tty = sys.stderr.isatty()
    return tqdm(total=total, initial=initial, desc="simulating", unit="frame", disable=not enabled,
                mininterval=0.2 if tty else 15.0, dynamic_ncols=tty)


def write_simulated_dataset(out: str | Path, scenes: Sequence[str], frames: int, *, seed: int = 0,
                            sequence_length: int = 50, width: int | None = None, height: int | None = None,
                            rigs="scene", appearance=False, workers: int | None = None, overwrite: bool = False,
                            progress: bool = True, max_sequences: int | None = None) -> dict:
    """Render ``frames`` frames of each world type into ``out`` and return the ``dataset.json``
    summary. ``workers`` processes render sequences in parallel (default: one per core).

    ``max_sequences`` renders only the first that many sequences of each world type (a miniature
    run's data) and returns their summary with ``complete: False``, without ``dataset.json``; a
    later full call resumes from them.
    """
    request = SimulationRequest(tuple(scenes), frames, seed, sequence_length, width, height,
                                tuple(rigs) if isinstance(rigs, list) else rigs, appearance)
    jobs = request.plan()          # draws every rig and look now: bad settings fail before rendering
    out = Path(out).expanduser().absolute()
    resumed = _open_output(out, request, overwrite)
    wanted = jobs
    if max_sequences is not None:
        taken: Counter = Counter()
        wanted = []
        for job in jobs:
            if taken[job["label"]] < max_sequences:
                wanted.append(job)
                taken[job["label"]] += 1
    todo = [j for j in wanted if not (out / j["name"]).is_dir()]
    done_frames = sum(j["frames"] for j in wanted) - sum(j["frames"] for j in todo)
    workers = max(1, min(workers or _default_workers(), len(todo) or 1))
    if todo:
        log.info("simulating %d frames in %d sequences (%s; rigs: %s; appearance: %s) into %s with %d worker "
                 "process%s%s", sum(j["frames"] for j in todo), len(todo), ", ".join(request.scenes),
                 _describe(request.rigs), "randomised" if request.appearance else "plain", out, workers,
                 "" if workers == 1 else "es",
                 f"; resuming: {len(wanted) - len(todo)} sequences already done" if resumed else "")
    bar = _progress_bar(sum(j["frames"] for j in wanted), done_frames, progress)
    try:
        _run_jobs(todo, out, workers, bar)
    except BaseException:
        bar.close()
        for stale in out.glob(f".*{PARTIAL_SUFFIX}"):
            shutil.rmtree(stale, ignore_errors=True)
        kept = _complete_sequences(out, jobs)
        if kept:
            log.warning("simulation stopped: %d of %d sequences are complete in %s; run the same command again "
                        "to resume", len(kept), len(jobs), out)
        else:
            shutil.rmtree(out, ignore_errors=True)
        raise
    bar.close()
    meta = {"ground_truth": "rendered", "seed": seed, "scenes": list(request.scenes), "frames_per_scene": frames,
            "request": request.to_dict()}
    if len(wanted) < len(jobs):
        return {**frame_set_summary("simulator", _complete_sequences(out, wanted), **meta), "complete": False}
    summary = frame_set_summary("simulator", _complete_sequences(out, jobs), **meta)
    (out / "dataset.json").write_text(json.dumps(summary, indent=2))
    (out / GENERATION_FILE).unlink()
    return summary


def _describe(rigs) -> str:
    if isinstance(rigs, dict):
        return "random (custom distribution)"
    if isinstance(rigs, (list, tuple)):
        return ", ".join(rigs)
    return str(rigs)


def ensure_simulated_dataset(root: str | Path, scenes: Sequence[str], frames: int, *,
                             max_sequences: int | None = None, labels=None, **kwargs) -> FrameDataset:
    """The frame set at ``root``, generated (or its generation resumed) first when incomplete
    (training configs use this so that they run on a fresh checkout). With ``max_sequences``
    only that many sequences per world type are made sure of, for miniature runs."""
    root = Path(root)
    if not (root / "dataset.json").is_file():
        summary = write_simulated_dataset(root, scenes, frames, max_sequences=max_sequences, **kwargs)
        if not summary.get("complete", True):
            log.info("%s: using %d of the data set's sequences (a miniature run; a full run generates the rest "
                     "and keeps these)", root, len(summary["sequences"]))
            return FrameDataset(root, labels, summary=summary)
    return FrameDataset(root, labels)
