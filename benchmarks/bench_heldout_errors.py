"""Where completion error at held-out LiDAR points comes from, and what bounds it: the
generalisation suite's simulated sets, 30 % of each scan in, scored at the other 70 % (the
suite's protocol and split).

    .venv/bin/python benchmarks/bench_heldout_errors.py --models default,san_efficientnet_lite0_sel

Prints, over all held-out points of the suite:

- for classical and each model, the share of points more than 2 / 10 / 30 % off and the share of
  the AbsRel sum they carry (is the error everywhere, or at a few points across depth edges?);
- AbsRel relative to classical (suite mean) of reference completions that no model can run, as
  bounds:
  - ``truth``: the rendered dense depth itself (what a perfect camera-depth model would score:
    held-out LiDAR points are not always the surface the camera sees);
  - ``truth at the network's size``: the rendered inverse depth averaged down to the network's
    resolution and resized back bilinearly (a perfect model that runs at 512x160);
  - ``choice guided by truth``: per pixel, the input measurement within 8 px nearest to the
    rendered depth (how far a choice among measurements can go with a perfect guide);
  - the same choice guided by each model's own completion.
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np
from tqdm import tqdm

from depth_core.generalisation import build_suite, split_scan
from depth_core.inference import load_estimator
from depth_core.inference.classical import ClassicalBackend

MAX_DEPTH = 80.0
BANDS = (0.02, 0.1, 0.3)


def choose_nearest_in_value(guide: np.ndarray, sparse: np.ndarray, reach: int = 8) -> np.ndarray:
    """Per pixel, the measurement within ``reach`` px (a disc) whose log depth is nearest the
    guide's; the guide where there is none."""
    h, w = sparse.shape
    best = np.full((h, w), np.inf, np.float32)
    out = guide.astype(np.float32).copy()
    log_guide = np.log(np.maximum(guide, 1e-3))
    padded = np.pad(sparse, reach)
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            if dy * dy + dx * dx > reach * reach:
                continue
            cand = padded[reach + dy: reach + dy + h, reach + dx: reach + dx + w]
            cost = np.where(cand > 0, np.abs(np.log(np.maximum(cand, 1e-3)) - log_guide), np.inf)
            better = cost < best
            best[better], out[better] = cost[better], cand[better]
    return out


def _rel_errors(pred: np.ndarray, held: np.ndarray) -> np.ndarray:
    ok = (held > 1e-3) & (held < MAX_DEPTH) & np.isfinite(pred)
    return np.abs(pred[ok] - held[ok]) / held[ok]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="default", help="comma-separated registry names or model files")
    ap.add_argument("--suite-root", default="data/generalisation_suite")
    args = ap.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    ests = {m: load_estimator(m, backend="onnxruntime") for m in models}
    classical = ClassicalBackend()
    sets = build_suite(args.suite_root, progress=False)
    errors: dict[str, list] = {}
    per_set: dict[str, dict[str, list]] = {}

    def add(key: str, name: str, pred: np.ndarray, held: np.ndarray) -> None:
        e = _rel_errors(pred, held)
        errors.setdefault(key, []).append(e)
        per_set.setdefault(name, {}).setdefault(key, []).append(float(e.mean()) if e.size else np.nan)

    for suite_set in tqdm(sets, desc="suite", unit="set"):
        data = suite_set.dataset
        for i in range(len(data)):
            s = data[i]
            rgb, K, truth = s["rgb"], s["K"], s["depth"]
            given, held = split_scan(s["sparse_depth"], np.random.default_rng([0, i]))
            if not (given > 0).any() or not (held > 0).any():
                continue
            ref = classical.run(None, given[None, None])["depth"][0, 0]
            truth = np.where(truth > 0, truth, ref)
            add("classical", suite_set.name, ref, held)
            add("truth", suite_set.name, truth, held)
            if ests:   # the first model's network size
                (h, w), _ = next(iter(ests.values())).network_size(*truth.shape)
                small = cv2.resize(1 / truth, (w, h), interpolation=cv2.INTER_AREA)
                add("truth at the network's size", suite_set.name,
                    1 / cv2.resize(small, truth.shape[::-1], interpolation=cv2.INTER_LINEAR), held)
            add("choice guided by truth", suite_set.name, choose_nearest_in_value(truth, given), held)
            for m, est in ests.items():
                depth = est.predict(rgb, K, given).depth
                depth = np.where(np.isfinite(depth), depth, ref)
                add(m, suite_set.name, depth, held)
                add(f"choice guided by {m}", suite_set.name, choose_nearest_in_value(depth, given), held)

    print("\n| completion | AbsRel / classical (suite mean) | " +
          " | ".join(f"points > {int(b * 100)} % off (share of AbsRel)" for b in BANDS) + " |")
    print("|---|---|" + "---|" * len(BANDS))
    base = np.mean([np.nanmean(v["classical"]) for v in per_set.values()])
    for key, chunks in errors.items():
        e = np.concatenate(chunks)
        mean = np.mean([np.nanmean(v[key]) for v in per_set.values()])
        bands = " | ".join(f"{(e > b).mean():.1%} ({e[e > b].sum() / e.sum():.0%})" for b in BANDS)
        print(f"| {key} | {mean / base:.2f} | {bands} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
