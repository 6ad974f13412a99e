"""The accumulation's photometric rule on real images of a static scene (issue 25): how many good
past points it drops, and how many of those it drops are off anyway. The 7-Scenes kitchen has no
LiDAR: each "past sweep" is 2000 random depth pixels of a frame 5, 10, 15 or 20 frames back
(0.17-0.67 s of a hand-held Kinect: auto-exposure, motion blur, JPEG, the depth's registration to
colour), moved into the current frame by the recording's poses; "off" means more than 3 % from the
current frame's depth where the point lands. Nothing moves in the scene, so every drop of a good
point is a false alarm.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_photometric_rule.py --data data/redkitchen
"""

from __future__ import annotations

import argparse

import numpy as np
from tqdm import tqdm

from depth_core.data.sevenscenes import SevenScenesDataset
from depth_core.geometry import CameraIntrinsics, transform_points
from depth_core.geometry.projection import backproject
from depth_core.geometry.sweeps import CameraShades

LAGS = (5, 10, 15, 20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a 7-Scenes sequence folder (frames with poses)")
    parser.add_argument("--tolerances", nargs="+", default=["0.05", "0.1", "0.15", "0.2", "auto"],
                        help="log brightness; 'auto': the accumulation's (3x the robust spread, within 0.04-0.3)")
    parser.add_argument("--every", type=int, default=25, help="score every Nth frame")
    parser.add_argument("--points", type=int, default=2000, help="points per past frame")
    args = parser.parse_args()
    ds = SevenScenesDataset(args.data, sparse="none", depth_to_color=True)
    rng = np.random.default_rng(0)
    tolerances = {t: (0.04, 0.3) if t == "auto" else float(t) for t in args.tolerances}
    stats = {t: np.zeros(4, np.int64) for t in tolerances}     # scored, off, dropped, dropped and off
    for i in tqdm(range(max(LAGS), len(ds), args.every), desc="frames", unit="frame"):
        now = ds[i]
        h, w = now["depth"].shape
        cam = CameraIntrinsics.from_matrix(now["K"], w, h)
        shades_now = CameraShades(now["rgb"], np.eye(4), cam)
        for lag in LAGS:
            then = ds[i - lag]
            ys, xs = np.nonzero(then["depth"] > 0)
            pick = rng.choice(len(ys), min(args.points, len(ys)), replace=False)
            points = backproject(then["depth"], then["K"]).reshape(h, w, 3)[ys[pick], xs[pick]]
            shade = CameraShades(then["rgb"], np.eye(4), cam).sample(points)
            moved = transform_points(np.linalg.inv(now["T_world_base"]) @ then["T_world_base"], points)
            z = moved[:, 2]
            with np.errstate(divide="ignore", invalid="ignore"):
                u = np.rint(cam.fx * moved[:, 0] / z + cam.cx)
                v = np.rint(cam.fy * moved[:, 1] / z + cam.cy)
            inside = (z > 0.1) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
            truth = np.zeros(len(moved))
            truth[inside] = now["depth"][v[inside].astype(int), u[inside].astype(int)]
            scored = inside & (truth > 0)
            off = scored & (np.abs(z - truth) > 0.03 * truth)
            for t, tolerance in tolerances.items():
                dropped = scored & ~shades_now.keep(moved, shade, tolerance)
                stats[t] += [scored.sum(), off.sum(), dropped.sum(), (dropped & off).sum()]
    print("\n| tolerance (log) | past points | > 3 % off | dropped | of those > 3 % off | good points dropped "
          "| off points dropped |")
    print("|---|---|---|---|---|---|---|")
    for t, (n, off, dropped, both) in stats.items():
        print(f"| {t} | {n} | {off / n:.1%} | {dropped / n:.1%} | {both / max(dropped, 1):.0%} | "
              f"{(dropped - both) / (n - off):.1%} | {both / max(off, 1):.0%} |")


if __name__ == "__main__":
    main()
