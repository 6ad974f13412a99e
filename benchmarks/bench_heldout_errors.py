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

With ``--real-root DIR`` (7-Scenes redkitchen), the same for the real set's two inputs, and for
every set a second table: the AbsRel of each completion at the points binned by classical's own
error there (< 0.5 %: smooth surfaces it fills almost exactly; > 10 %: depth edges), which says
whether a model loses where interpolation is easy or where it is hard. A third table bins the
points by their distance to the nearest input point (pixels at the image's size), and a fourth
gives, per set, the share of points each completion gets exactly (relative error < 1e-5: a copy
of a measured value) and how many distinct depth values the held-out points take: a sensor that
quantises depth (the kitchen's Kinect, in steps of about 1 cm at 2 m) rewards copying a
neighbour's value over any interpolation.
"""

from __future__ import annotations

import argparse
import itertools

import cv2
import numpy as np
from tqdm import tqdm

from depth_core.generalisation import build_suite, split_scan
from depth_core.inference import load_estimator
from depth_core.inference.classical import ClassicalBackend

MAX_DEPTH = 80.0
BANDS = (0.02, 0.1, 0.3)
CLASSICAL_BINS = (0.0, 0.005, 0.02, 0.1, np.inf)   # bins of classical's own error
DISTANCE_BINS = (0.0, 5.0, 10.0, 20.0, 40.0, np.inf)  # pixels from a held-out point to the nearest input point
EXACT = 1e-5     # a relative error this small: the completion copied a measured value


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
    """Relative error at every held-out point, not finite where ``pred`` has no depth (the same
    points for every completion, so that they can be binned alike)."""
    ok = (held > 1e-3) & (held < MAX_DEPTH)
    return np.abs(pred[ok] - held[ok]) / held[ok]


def binned_by_reference(reference: np.ndarray, errors: dict[str, np.ndarray],
                        bins=CLASSICAL_BINS) -> list[dict]:
    """Per bin of ``reference`` (classical's relative error at each point): the share of the
    points and each completion's mean relative error there (NaN for an empty bin)."""
    rows = []
    scored = np.isfinite(reference) & np.all([np.isfinite(e) for e in errors.values()], axis=0)
    for lo, hi in itertools.pairwise(bins):
        inside = scored & (reference >= lo) & (reference < hi)
        rows.append({"from": lo, "to": hi, "share": float(inside.sum() / max(scored.sum(), 1)),
                     **{k: float(e[inside].mean()) if inside.any() else float("nan") for k, e in errors.items()}})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="default", help="comma-separated registry names or model files")
    ap.add_argument("--suite-root", default="data/generalisation_suite")
    ap.add_argument("--real-root", default=None, help="7-Scenes redkitchen folder: add its two inputs")
    args = ap.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    ests = {m: load_estimator(m, backend="onnxruntime") for m in models}
    classical = ClassicalBackend()
    sets = build_suite(args.suite_root, real_root=args.real_root, progress=False)
    errors: dict[str, list] = {}
    per_set: dict[str, dict[str, list]] = {}
    points: dict[str, dict[str, list]] = {}     # per set, every point's error, for the bins
    distance: dict[str, list] = {}               # per set, every point's distance to the nearest input
    values: dict[str, set] = {}                  # per set, the distinct held-out depths (mm)
    sims = {s.name for s in sets if s.kind == "sim"}

    def add(key: str, name: str, pred: np.ndarray, held: np.ndarray) -> None:
        with np.errstate(invalid="ignore"):
            e = _rel_errors(pred, held)
        points.setdefault(name, {}).setdefault(key, []).append(e)
        e = e[np.isfinite(e)]
        if name in sims:
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
            add("classical", suite_set.name, ref, held)
            ok = (held > 1e-3) & (held < MAX_DEPTH)   # the points _rel_errors scores, in its order
            far = cv2.distanceTransform((given <= 0).astype(np.uint8), cv2.DIST_L2, 5)
            distance.setdefault(suite_set.name, []).append(far[ok])
            values.setdefault(suite_set.name, set()).update(np.unique(np.round(held[ok] * 1000)).tolist())
            if suite_set.kind == "real":    # the bins only: the bounds need a rendered truth
                for m, est in ests.items():
                    add(m, suite_set.name, est.predict(rgb, K, given).depth, held)
                continue
            truth = np.where(truth > 0, truth, ref)
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
    print("\nAbsRel at the held-out points, binned by classical's own error at each point "
          "(share of the points; the simulated sets pooled, then each real input):")
    keys = ["classical", *ests]
    print("\n| set | classical's error | share | " + " | ".join(keys) + " |")
    print("|---|---|---|" + "---|" * len(keys))
    groups = {"simulated suite": sorted(sims), **{n: [n] for n in points if n not in sims}}
    for label, names in groups.items():
        pooled = {k: np.concatenate([e for n in names for e in points[n][k]]) for k in keys}
        for row in binned_by_reference(pooled["classical"], pooled):
            span = f"> {row['from']:.1%}" if np.isinf(row["to"]) else f"{row['from']:.1%}–{row['to']:.1%}"
            print(f"| {label} | {span} | {row['share']:.1%} | " + " | ".join(f"{row[k]:.4f}" for k in keys) + " |")
        print(f"| {label} | all | 100% | " + " | ".join(f"{np.nanmean(pooled[k]):.4f}" for k in keys) + " |")
    print("\nAbsRel at the held-out points, binned by their distance to the nearest input point (pixels):")
    print("\n| set | distance | share | " + " | ".join(keys) + " |")
    print("|---|---|---|" + "---|" * len(keys))
    for label, names in groups.items():
        pooled = {k: np.concatenate([e for n in names for e in points[n][k]]) for k in keys}
        far = np.concatenate([d for n in names for d in distance[n]])
        for row in binned_by_reference(far, pooled, DISTANCE_BINS):
            span = f"> {row['from']:.0f}" if np.isinf(row["to"]) else f"{row['from']:.0f}–{row['to']:.0f}"
            print(f"| {label} | {span} | {row['share']:.1%} | " + " | ".join(f"{row[k]:.4f}" for k in keys) + " |")
    print("\nExact copies (relative error < 1e-5) and the held-out points' distinct depths (to the mm):")
    print("\n| set | distinct depths | " + " | ".join(f"exact, {k}" for k in keys) + " |")
    print("|---|---|" + "---|" * len(keys))
    for label, names in groups.items():
        pooled = {k: np.concatenate([e for n in names for e in points[n][k]]) for k in keys}
        distinct = len(set().union(*(values[n] for n in names)))
        print(f"| {label} | {distinct} | " + " | ".join(f"{np.mean(pooled[k][np.isfinite(pooled[k])] < EXACT):.1%}"
                                                    for k in keys) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
