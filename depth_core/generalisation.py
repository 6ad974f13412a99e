"""The generalisation benchmark: held-out rigs times world types, with seeds no training uses,
plus real RGB-D frames, scored the same way for every model and next to the classical baseline.

Each simulated set is one rig preset (:data:`~depth_core.sim.rigs.HELD_OUT_RIGS`) in one world
type, generated with a randomised look from :data:`SUITE_SEED`. Per image:

- **prediction**: the camera alone, against the dense ground truth: AbsRel, delta1, the
  median ratio gt/pred (1 = right metric scale), and the per-image constant-median oracle (every
  pixel at the image's median ground truth) for comparison;
- **completion at held-out LiDAR points**: 30 % of the scan's points are the input, the other
  70 % are the ground truth; the classical completion of the same input on the same points;
- **dense completion**: the same completion against the dense ground truth (and classical).

Real sets (7-Scenes layout) use a 32-beam pattern and 500 random points sampled from their depth.

Sparse inputs, as most robots have them, each scored at the rest of the scan: every 4th ring of
the LiDAR (where the set knows its rings), and 500 random points of the scan; with every 4th
ring, the same model is also given a constant grey image instead of the photograph (what the
image adds). For a model with a confidence, the sparsification of its completion at held-out
points and of its prediction: the AbsRel of the most confident half of the points against all.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .data import write_simulated_dataset
from .data.frames import FrameDataset
from .evaluate import HELD_OUT_INPUT_FRACTION
from .metrics import Sparsification, compute_depth_metrics
from .sim.rigs import HELD_OUT_RIGS

__all__ = ["SUITE_SEED", "SUITE_WORLDS", "SuiteSet", "build_suite", "evaluate_suite", "split_scan", "suite_tables",
           "write_suite_report"]

log = logging.getLogger("depth_core.generalisation")

#: Base seed of every simulated suite set. Training configs use seeds 0 (training) and 1000
#: (validation); world seeds are hashed from (seed, world, sequence), so the suite's worlds are
#: not in any training set.
SUITE_SEED = 7_770_000
SUITE_WORLDS = ("street", "parking", "warehouse")
INPUT_FRACTION = HELD_OUT_INPUT_FRACTION
MAX_DEPTH = 80.0
# Per set: prediction AbsRel and delta1, median gt/pred, the per-image constant-median oracle's
# AbsRel, completion and classical AbsRel at the held-out points and against the dense depth.
KEYS = ("pred_abs_rel", "pred_delta1", "scale", "median_abs_rel", "comp_held", "classical_held", "comp_dense",
        "classical_dense")
# Sparse inputs (at the rest of the scan): every 4th ring with the photograph, with a grey image,
# and classical; 500 random scan points and classical; the sparsification ratios (the most
# confident half's AbsRel over all points') of completion (held-out points) and prediction.
SPARSE_KEYS = ("comp_ring4", "comp_ring4_grey", "classical_ring4", "comp_pts500", "classical_pts500",
               "comp_conf50", "pred_conf50")
RING_EVERY, SPARSE_POINTS = 4, 500
GREY = 128


@dataclass
class SuiteSet:
    name: str            # e.g. "street/vga60" or "redkitchen/beams32"
    kind: str            # "sim" | "real"
    dataset: object      # indexable: items as depth_core data sets return them


def build_suite(root: str | Path, *, rigs=HELD_OUT_RIGS, worlds=SUITE_WORLDS, frames: int = 6,
                sequence_length: int = 2, real_root: str | Path | None = None, real_stride: int = 20,
                real_depth_to_color: bool = True, workers: int | None = None,
                progress: bool = True) -> list[SuiteSet]:
    """The suite's sets, generating missing simulated ones under ``root`` (``root/WORLD_RIG``).
    The real set's depth is re-rendered in its colour camera, with that camera's intrinsics
    (``real_depth_to_color``; 7-Scenes' raw depth is not registered to its colour images)."""
    root = Path(root)
    sets = []
    for world in worlds:
        for rig in rigs:
            folder = root / f"{world}_{rig}"
            if not (folder / "dataset.json").is_file():
                write_simulated_dataset(folder, [world], frames, seed=SUITE_SEED, sequence_length=sequence_length,
                                        rigs=rig, appearance=True, workers=workers, progress=progress)
            sets.append(SuiteSet(f"{world}/{rig}", "sim", FrameDataset(folder)))
    if real_root is not None:
        from .data.sevenscenes import SevenScenesDataset

        for pattern in ("beams32", "random500"):
            data = SevenScenesDataset(real_root, sparse=pattern, stride=real_stride,
                                      depth_to_color=real_depth_to_color)
            sets.append(SuiteSet(f"{Path(real_root).name}/{pattern}", "real", data))
    return sets


def split_scan(sparse: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The input (``INPUT_FRACTION`` of the points) and the held-out rest, as two sparse maps."""
    points = sparse > 0
    take = points & (rng.uniform(size=sparse.shape) < INPUT_FRACTION)
    return np.where(take, sparse, 0).astype(np.float32), np.where(points & ~take, sparse, 0).astype(np.float32)


def _score(pred: np.ndarray, gt: np.ndarray) -> dict:
    return compute_depth_metrics(pred, gt, 1e-3, MAX_DEPTH)


def _median_ratio(pred: np.ndarray, gt: np.ndarray) -> float:
    valid = (gt > 1e-3) & (gt < MAX_DEPTH) & np.isfinite(pred) & (pred > 0)
    return float(np.median(gt[valid] / pred[valid])) if valid.any() else float("nan")


def _mean(values: list[float]) -> float:
    values = [v for v in values if np.isfinite(v)]
    return float(np.mean(values)) if values else float("nan")


def _sparse_inputs(s: dict, rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"ring4": (input, held out), "pts500": ...}`` from the sample's scan (ring4 only where
    the set knows its rings)."""
    scan = s["sparse_depth"]
    points = scan > 0
    out = {}
    ring = s.get("ring")
    if ring is not None:
        take = points & (ring >= 0) & (ring % RING_EVERY == 0)
        out["ring4"] = take
    idx = np.flatnonzero(points)
    if idx.size > SPARSE_POINTS:
        take = np.zeros(scan.size, bool)
        take[rng.choice(idx, SPARSE_POINTS, replace=False)] = True
        out["pts500"] = take.reshape(scan.shape)
    return {k: (np.where(t, scan, 0).astype(np.float32), np.where(points & ~t, scan, 0).astype(np.float32))
            for k, t in out.items()}


def evaluate_set(est, classical, suite_set: SuiteSet, *, seed: int = 0, progress: bool = True) -> dict:
    """Scores of one estimator (and the classical baseline) on one set, averaged over images."""
    rows: dict[str, list] = {k: [] for k in KEYS + SPARSE_KEYS}
    ranked = {"comp": Sparsification(1e-3, MAX_DEPTH), "pred": Sparsification(1e-3, MAX_DEPTH)}
    data = suite_set.dataset
    for i in tqdm(range(len(data)), desc=suite_set.name, unit="image", leave=False, disable=not progress):
        s = data[i]
        rgb, K, gt = s["rgb"], s["K"], s["depth"]
        out = est.predict(rgb, K, None)
        pred = out.depth
        if out.confidence is not None:
            ranked["pred"].add(pred, gt, out.confidence)
        m = _score(pred, gt)
        rows["pred_abs_rel"].append(m["abs_rel"])
        rows["pred_delta1"].append(m["delta1"])
        rows["scale"].append(_median_ratio(pred, gt))
        valid = (gt > 1e-3) & (gt < MAX_DEPTH)
        if valid.any():
            rows["median_abs_rel"].append(_score(np.full(gt.shape, np.median(gt[valid]), np.float32), gt)["abs_rel"])
        sparse_in, held = split_scan(s["sparse_depth"], np.random.default_rng([seed, i]))
        if (sparse_in > 0).any() and (held > 0).any():
            ref = classical.predict(rgb, K, sparse_in).depth
            rows["classical_held"].append(_score(ref, held)["abs_rel"])
            rows["classical_dense"].append(_score(ref, gt)["abs_rel"])
            if est.uses_sparse_depth:
                done = est.predict(rgb, K, sparse_in)
                rows["comp_held"].append(_score(done.depth, held)["abs_rel"])
                rows["comp_dense"].append(_score(done.depth, gt)["abs_rel"])
                if done.confidence is not None:
                    ranked["comp"].add(done.depth, held, done.confidence)
        for name, (given, rest) in _sparse_inputs(s, np.random.default_rng([seed, i, 2])).items():
            if not (given > 0).any() or not (rest > 0).any():
                continue
            rows[f"classical_{name}"].append(_score(classical.predict(rgb, K, given).depth, rest)["abs_rel"])
            if est.uses_sparse_depth:
                rows[f"comp_{name}"].append(_score(est.predict(rgb, K, given).depth, rest)["abs_rel"])
                if name == "ring4":
                    grey = np.full_like(rgb, GREY)
                    rows["comp_ring4_grey"].append(_score(est.predict(grey, K, given).depth, rest)["abs_rel"])
    out = {k: _mean(v) for k, v in rows.items()}
    for key, r in ranked.items():
        curve = {c["kept"]: c["abs_rel"] for c in r.curve()}
        if curve.get(1.0):
            out[f"{key}_conf50"] = curve[0.5] / curve[1.0]
            out[f"{key}_sparsification"] = [{"kept": k, "abs_rel": v} for k, v in curve.items()]
            out[f"{key}_calibration"] = r.calibration()
    out["images"] = len(data)
    return out


def evaluate_suite(estimators: dict, classical, sets: list[SuiteSet], *, progress: bool = True) -> dict:
    """``{model: {set name: scores}}`` for every estimator on every set."""
    results = {}
    for name, est in estimators.items():
        log.info("generalisation suite: %s on %d sets", est.description, len(sets))
        results[name] = {s.name: {"kind": s.kind, **evaluate_set(est, classical, s, progress=progress)} for s in sets}
    return results


def _summary_rows(per_set: dict) -> dict:
    """Mean rows over the simulated suite, for the comparison with the targets."""
    sim = [v for v in per_set.values() if v["kind"] == "sim"]
    if not sim:
        return {}
    return {"simulated suite mean": {"kind": "summary", "images": sum(v["images"] for v in sim),
                                     **{k: _mean([v.get(k, float("nan")) for v in sim])
                                        for k in KEYS + SPARSE_KEYS}}}


def _fmt(v: float, digits: int = 3) -> str:
    return "n/a" if not np.isfinite(v) else f"{v:.{digits}f}"


def suite_tables(results: dict) -> dict[str, str]:
    """One markdown table per model: a row per set, then the mean over the simulated suite."""
    tables = {}
    header = ("| set | images | prediction AbsRel | δ1 | scale gt/pred | median oracle AbsRel | "
              "completion AbsRel (held-out points) | classical (same points) | ratio | dense completion AbsRel | "
              "classical dense |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
    for model, per_set in results.items():
        lines = []
        for name, v in {**per_set, **_summary_rows(per_set)}.items():
            ratio = _ratio(v["comp_held"], v["classical_held"])
            label = f"**{name}**" if v["kind"] == "summary" else name
            lines.append(f"| {label} | {v['images']} | {_fmt(v['pred_abs_rel'])} | {_fmt(v['pred_delta1'])} | "
                         f"{_fmt(v['scale'], 2)} | {_fmt(v['median_abs_rel'])} | {_fmt(v['comp_held'])} | "
                         f"{_fmt(v['classical_held'])} | "
                         f"{_fmt(ratio, 2)} | {_fmt(v['comp_dense'])} | {_fmt(v['classical_dense'])} |")
        tables[model] = header + "\n".join(lines) + "\n\n" + _sparse_table(per_set)
    return tables


def _ratio(a: float, b: float) -> float:
    return a / b if np.isfinite(a) and np.isfinite(b) and b > 0 else float("nan")


def _sparse_table(per_set: dict) -> str:
    """Sparse inputs at the rest of the scan, what the image adds, and the confidence's ranking."""
    lines = ["| set | every 4th ring: completion | classical | ratio | grey image | photo / grey | "
             "500 points: completion | classical | ratio | completion: most confident 50 % / all | "
             "prediction: most confident 50 % / all |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, v in {**per_set, **_summary_rows(per_set)}.items():
        g = {k: v.get(k, float("nan")) for k in SPARSE_KEYS}
        label = f"**{name}**" if v["kind"] == "summary" else name
        lines.append(f"| {label} | {_fmt(g['comp_ring4'])} | {_fmt(g['classical_ring4'])} | "
                     f"{_fmt(_ratio(g['comp_ring4'], g['classical_ring4']), 2)} | {_fmt(g['comp_ring4_grey'])} | "
                     f"{_fmt(_ratio(g['comp_ring4'], g['comp_ring4_grey']), 2)} | {_fmt(g['comp_pts500'])} | "
                     f"{_fmt(g['classical_pts500'])} | {_fmt(_ratio(g['comp_pts500'], g['classical_pts500']), 2)} | "
                     f"{_fmt(g['comp_conf50'], 2)} | {_fmt(g['pred_conf50'], 2)} |")
    return "\n".join(lines) + "\n"


def _plot(model: str, per_set: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(per_set)
    x = np.arange(len(names))
    series = [("prediction", "pred_abs_rel"), ("completion (held-out points)", "comp_held"),
              ("classical (held-out points)", "classical_held")]
    fig, ax = plt.subplots(figsize=(max(8.0, 0.5 * len(names) + 2), 4.2))
    width = 0.8 / len(series)
    for j, (label, key) in enumerate(series):
        values = [per_set[n][key] for n in names]
        ax.bar(x + (j - 1) * width, np.nan_to_num(values, nan=0.0), width, label=label)
    ax.set_xticks(x, names, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("AbsRel")
    ax.set_title(f"{model}: held-out rigs, worlds and real frames")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_suite_report(results: dict, out: str | Path, descriptions: dict | None = None) -> list[Path]:
    """``results.json`` and, per model, ``MODEL.md`` (its table) and ``MODEL.png`` (a bar chart)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    written = [out / "results.json"]
    for model, table in suite_tables(results).items():
        slug = model.replace("/", "_")
        png = _plot(model, results[model], out / f"{slug}.png")
        title = (descriptions or {}).get(model, model)
        (out / f"{slug}.md").write_text(f"# Generalisation: {title}\n\n{table}\n![{model}]({png.name})\n")
        written += [out / f"{slug}.md", png]
    return written
