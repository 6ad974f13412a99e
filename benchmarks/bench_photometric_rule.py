"""The accumulation's photometric rule and its correction of the odometry on real images of a
static scene (issue 25). First: how many good past points the rule drops, and how many of those it
drops are off anyway. Second: with each frame's pose knocked off by a drift-like error (3 cm and
0.5 deg, or 1 cm and 0.1 deg, in random directions), how much of the error aligning the image to the past points
(``CameraShades.align``) takes out, judged against the recording's pose and, since the recording's
poses are not exact either, by how well the past depth moved by each pose agrees with the current
frame's depth. The 7-Scenes kitchen has no
LiDAR: each "past sweep" is 2000 random depth pixels of a frame 5, 10, 15 or 20 frames back
(0.17-0.67 s of a hand-held Kinect: auto-exposure, motion blur, JPEG, the depth's registration to
colour), moved into the current frame by the recording's poses; "off" means more than 3 % from the
current frame's depth where the point lands. Nothing moves in the scene, so every drop of a good
point is a false alarm.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_photometric_rule.py --data data/redkitchen
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np
from tqdm import tqdm

from depth_core.data.sevenscenes import SevenScenesDataset
from depth_core.geometry import CameraIntrinsics, make_transform, transform_points
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
            z, truth, scored = _landing(moved, now["depth"], cam)
            off = scored & (np.abs(z - truth) > 0.03 * truth)
            for t, tolerance in tolerances.items():
                dropped = scored & ~shades_now.keep(moved, shade, tolerance)
                stats[t] += [scored.sum(), off.sum(), dropped.sum(), (dropped & off).sum()]
    print_rule(stats)
    for cm, deg in ((0.0, 0.0), (1.0, 0.1), (3.0, 0.5)):
        print_alignment(alignment(ds, args.every, cm, deg), cm, deg)


def alignment(ds, every: int, cm: float, deg: float) -> dict:
    """Per frame: the pose error before and after aligning its image to 2000 points of the frame
    10 back (their shades read there), the odometry's guess being the true pose times an error of
    ``cm`` and ``deg`` in random directions."""
    rng = np.random.default_rng(1)
    judge_rng = np.random.default_rng(2)      # its own draws: the alignment's inputs as before it
    errors = {"before": [], "after": [], "refused": 0, "agreement": []}
    for i in tqdm(range(max(LAGS), len(ds), every), desc="alignment", unit="frame"):
        now, then = ds[i], ds[i - 10]
        h, w = now["depth"].shape
        cam = CameraIntrinsics.from_matrix(now["K"], w, h)
        ys, xs = np.nonzero(then["depth"] > 0)
        cloud = backproject(then["depth"], then["K"]).reshape(h, w, 3)      # once: both draws read it
        pick = rng.choice(len(ys), min(2000, len(ys)), replace=False)
        points = cloud[ys[pick], xs[pick]]
        shade = CameraShades(then["rgb"], np.eye(4), cam).sample(points)
        true = np.linalg.inv(now["T_world_base"]) @ then["T_world_base"]      # then's camera -> now's
        axis, direction = rng.normal(size=3), rng.normal(size=3)
        error = make_transform(cv2.Rodrigues(axis / np.linalg.norm(axis) * np.radians(deg))[0],
                               direction / np.linalg.norm(direction) * cm / 100)
        guess = error @ true
        T = CameraShades(now["rgb"], np.eye(4), cam).align(transform_points(guess, points), shade)
        errors["before"].append(_pose_error(guess, true))
        if T is None:
            errors["refused"] += 1
            T = np.eye(4)
        errors["after"].append(_pose_error(T @ guess, true))
        # The geometric judge: 20000 depth pixels of the frame back, moved by each pose, against
        # the current frame's depth where they land (median relative difference).
        pick = judge_rng.choice(len(ys), min(20000, len(ys)), replace=False)
        every_point = cloud[ys[pick], xs[pick]]
        errors["agreement"].append([_agreement(transform_points(pose, every_point), now["depth"], cam)
                                    for pose in (true, guess, T @ guess)])
    return errors


def _landing(points: np.ndarray, depth: np.ndarray, cam: CameraIntrinsics):
    """The points' depths, ``depth`` at the pixels where they land (0 outside), and which of them
    land on a measured pixel."""
    h, w = depth.shape
    z = points[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.rint(cam.fx * points[:, 0] / z + cam.cx)
        v = np.rint(cam.fy * points[:, 1] / z + cam.cy)
    inside = (z > 0.1) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
    truth = np.zeros(len(z))
    truth[inside] = depth[v[inside].astype(int), u[inside].astype(int)]
    return z, truth, inside & (truth > 0)


def _agreement(points: np.ndarray, depth: np.ndarray, cam: CameraIntrinsics) -> float:
    """Median relative difference between the points' depths and ``depth`` where they land."""
    z, truth, scored = _landing(points, depth, cam)
    return float(np.median(np.abs(z[scored] - truth[scored]) / truth[scored]))


def _pose_error(T, truth) -> tuple[float, float]:
    """(cm, deg) between two poses."""
    d = T @ np.linalg.inv(truth)
    return 100 * float(np.linalg.norm(d[:3, 3])), float(np.degrees(np.linalg.norm(cv2.Rodrigues(d[:3, :3])[0])))


def print_alignment(errors: dict, cm: float, deg: float) -> None:
    before, after = np.array(errors["before"]), np.array(errors["after"])
    print(f"\n| pose knocked off by {cm:g} cm and {deg:g} deg: error, median over frames | translation (cm) "
          "| rotation (deg) |")
    print("|---|---|---|")
    print(f"| the odometry's guess | {np.median(before[:, 0]):.2f} | {np.median(before[:, 1]):.3f} |")
    print(f"| aligned to the image ({errors['refused']} of {len(before)} refused: guess kept) | "
          f"{np.median(after[:, 0]):.2f} | {np.median(after[:, 1]):.3f} |")
    recorded, guess, aligned = np.median(np.array(errors["agreement"]), axis=0)
    print(f"\nDepth agreement (median over frames of the median relative difference between the past "
          f"depth moved by the pose and the current depth): recorded pose {100 * recorded:.2f} %, "
          f"the guess {100 * guess:.2f} %, aligned {100 * aligned:.2f} %")


def print_rule(stats: dict) -> None:
    print("\n| tolerance (log) | past points | > 3 % off | dropped | of those > 3 % off | good points dropped "
          "| off points dropped |")
    print("|---|---|---|---|---|---|---|")
    for t, (n, off, dropped, both) in stats.items():
        print(f"| {t} | {n} | {off / n:.1%} | {dropped / n:.1%} | {both / max(dropped, 1):.0%} | "
              f"{(dropped - both) / (n - off):.1%} | {both / max(off, 1):.0%} |")


if __name__ == "__main__":
    main()
