"""One data set as a configuration names it: its type, folder and views (frame range, ground
truth); :func:`~depth_core.data.build_dataset` opens it."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DatasetConfig"]


@dataclass
class DatasetConfig:
    type: str = "frames"             # frames | simulated | kitti | nyu_mat | nyu_folder | folder | sevenscenes
    root: str = ""                   # the data set's folder (KITTI: the raw data root; NYU .mat: the file)
    depth_root: str | None = None    # KITTI: data_depth_annotated root
    velodyne_root: str | None = None  # KITTI: data_depth_velodyne root (velodyne_raw inputs); default depth_root
    split: str | None = None         # KITTI: split file; NYU .mat: 'train' | 'test'
    splits: str | None = None        # NYU .mat: splits.mat
    labels: list | None = None       # frames / simulated: keep these sequence labels (scene families)
    weight: float | None = None      # sampling weight; default K / k_i (each data set equally often)
    start_step: int = 0              # incremental mixing: the data set joins at this step (Chen et al., ECCV 2020)
    depth_scale: float = 1 / 256.0   # folder: metres per depth PNG unit
    sparse_pattern: str = "beams32"  # sevenscenes: sparse input sampled from the depth: beams<N> (a spinning
    #                                  LiDAR at the camera), random<N> (N random pixels) or none
    depth_to_color: bool = False     # sevenscenes: re-render the depth in the colour camera (its own K;
    #                                  see docs/datasets.md: the raw depth is not registered to the colour)
    frames: list | None = None       # [start, stop]: only these frames of each sequence, in time order (Python
    #                                  slice: [0, 120], [-100, null]); null = all
    ground_truth: str = "depth"      # depth: the set's ground truth; lidar: its sparse LiDAR points instead (a
    #                                  robot with no depth camera: what fine-tuning on a bag would have)
    simulate: dict = field(default_factory=dict)  # simulated: generated (or resumed) at root when missing:
    #                                  {scenes: [...], frames: N, seed: S, sequence_length: L,
    #                                   rigs: scene | random | {distribution overrides} | [presets],
    #                                   appearance: false | true | {overrides}, workers: N}
