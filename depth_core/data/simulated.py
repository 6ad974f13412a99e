"""The simulated training set (``depth-core simulate``): procedural worlds written as a frame set
(see :mod:`depth_core.data.frames`), one generated world per sequence, labelled by scene."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..sim import SCENES, Simulator, default_config
from ..utils import atomic_output_dir
from .frames import FrameSetWriter, project_with_rings

__all__ = ["ensure_simulated_dataset", "sequence_seed", "write_simulated_dataset"]


def sequence_seed(seed: int, scene: str, sequence: int) -> int:
    """The world seed of one sequence: independent streams per (seed, scene, sequence)."""
    return int(np.random.SeedSequence([seed, SCENES.index(scene), sequence]).generate_state(1)[0])


def write_simulated_dataset(out: str | Path, scenes: Sequence[str], frames: int, *, seed: int = 0,
                            sequence_length: int = 50, width: int | None = None, height: int | None = None,
                            overwrite: bool = False, progress: bool = True) -> dict:
    """Render ``frames`` frames of each scene into ``out`` and return the ``dataset.json`` summary."""
    for scene in scenes:
        if scene not in SCENES:
            raise ValueError(f"scene must be one of {', '.join(SCENES)}; got '{scene}'")
    if frames < 1 or sequence_length < 1:
        raise ValueError(f"frames and sequence_length must be >= 1, got {frames} and {sequence_length}")
    with atomic_output_dir(out, overwrite=overwrite) as staging:
        writer = FrameSetWriter(staging, source="simulator")
        bar = tqdm(total=frames * len(scenes), desc="simulating", unit="frame", disable=None if progress else True)
        for scene in scenes:
            for s in range(math.ceil(frames / sequence_length)):
                n = min(sequence_length, frames - s * sequence_length)
                world_seed = sequence_seed(seed, scene, s)
                sim = Simulator(default_config(scene, width=width, height=height), seed=world_seed, frames=n)
                extra = {"seed": world_seed, "lidar": sim.config.to_dict()["lidar"], "rate_hz": sim.config.rate_hz}
                with writer.sequence(f"{scene}_{s:04d}", sim.intrinsics, sim.rig.T_cam_lidar, scene, extra) as seq:
                    for frame in sim:
                        sparse, rings = project_with_rings(frame.lidar_points, frame.lidar_ring, sim.rig.T_cam_lidar,
                                                           sim.intrinsics)
                        seq.add(frame.rgb, frame.depth, sparse, rings, frame.stamp_ns, frame.T_world_base)
                        bar.update()
        bar.close()
        summary = writer.finish(seed=seed, scenes=list(scenes), frames_per_scene=frames)
    return summary


def ensure_simulated_dataset(root: str | Path, scenes: Sequence[str], frames: int, **kwargs) -> Path:
    """``root`` if it already holds a frame set, else generate it there first (used by training
    configs so that they run on a fresh checkout)."""
    root = Path(root)
    if not (root / "dataset.json").is_file():
        write_simulated_dataset(root, scenes, frames, **kwargs)
    return root
