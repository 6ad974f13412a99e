"""Offline evaluation of an estimator on a data set under a benchmark protocol, with the rows a
depth-completion paper reports: prediction, completion, the classical completion baseline, and a
per-image constant-median baseline; plus a sparsity sweep (input fraction of LiDAR points) and, for
a model with a confidence, the sparsification of each row."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .data.views import LIDAR_TRUTHS
from .geometry import lidar_fov_mask
from .inference import DepthEstimator, DepthResult
from .metrics import Sparsification, average_metrics, compute_depth_metrics, crop_mask, sparsification_table
from .utils.visual import line_plot

__all__ = ["GT_REGIONS", "HELD_OUT_INPUT_FRACTION", "PROTOCOLS", "SWEEP_XLABEL", "Protocol", "evaluate",
           "flip_averaged", "held_out_protocol", "plot_sweep", "sparse_ground_truth", "subsample_points",
           "sweep_series", "sweep_table", "write_report"]


@dataclass(frozen=True)
class Protocol:
    crop: str | None
    min_depth: float
    max_depth: float


PROTOCOLS = {
    "kitti": Protocol("garg", 1e-3, 80.0),          # Garg crop, 80 m cap (Guizilini et al., CVPR 2021, Table 1)
    "kitti_eigen": Protocol("eigen_kitti", 1e-3, 80.0),
    "nyu": Protocol("eigen_nyu", 1e-3, 10.0),       # Eigen crop, 10 m cap
    "none": Protocol(None, 1e-3, 80.0),
}


#: Which ground-truth pixels count. ``dense``: all of them (simulated sets have a depth for every
#: pixel). ``lidar_fov``: only those inside the LiDAR's vertical field of view and range, as in
#: KITTI, whose ground truth is accumulated LiDAR and so never covers what the scanner cannot see
#: (the sky, the tops of buildings, above a 16-beam scanner's 15 degrees).
GT_REGIONS = ("dense", "lidar_fov")


def restrict_ground_truth(sample: dict, region: str) -> np.ndarray:
    """The sample's ground truth [H,W] metres with pixels outside ``region`` set to 0 (invalid)."""
    gt = sample["depth"]
    if region == "dense":
        return gt
    if region != "lidar_fov":
        raise ValueError(f"gt_region: expected one of {', '.join(GT_REGIONS)}, got '{region}'")
    lidar, T = sample.get("lidar"), sample.get("T_cam_lidar")
    if not lidar or T is None:
        raise ValueError(f"gt_region lidar_fov: sample {sample.get('id', '?')} has no LiDAR model or extrinsic "
                         "(frame sets written by depth-core simulate carry them in calib.json)")
    # A one-pixel margin: the outermost beams land in pixels whose centres lie up to a pixel
    # beyond the field of view.
    margin = float(np.degrees(1.0 / sample["K"][1, 1]))
    inside = lidar_fov_mask(gt, sample["K"], T, lidar["fov_down_deg"], lidar["fov_up_deg"], lidar["max_range"],
                            lidar.get("min_range", 0.0), margin)
    return np.where(inside, gt, 0).astype(gt.dtype)


def flip_averaged(est: DepthEstimator, rgb: np.ndarray, K: np.ndarray, sparse: np.ndarray | None) -> DepthResult:
    """The mean of the prediction on the image and on its mirror image, mirrored back. Every
    output is un-flipped (depth and confidence), and the mirrored K has cx' = W - 1 - cx."""
    a = est.predict(rgb, K, sparse)
    K_flip = np.array(K, dtype=np.float64)
    K_flip[0, 2] = rgb.shape[1] - 1 - K_flip[0, 2]
    b = est.predict(np.ascontiguousarray(rgb[:, ::-1]), K_flip,
                    None if sparse is None else np.ascontiguousarray(sparse[:, ::-1]))

    def mean(x, y):
        if x is None or y is None:
            return None
        return np.nanmean(np.stack([x, y[:, ::-1]]), axis=0).astype(np.float32)

    return DepthResult(mean(a.depth, b.depth), mean(a.confidence, b.confidence), a.mode, a.n_points)


def subsample_points(sparse: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray | None:
    """Each point of ``sparse`` kept with probability ``fraction``; None for 0, all of them for 1."""
    if fraction <= 0:
        return None
    if fraction >= 1:
        return sparse
    return np.where(rng.uniform(size=sparse.shape) < fraction, sparse, 0).astype(np.float32)


#: Against LiDAR ground truth the completion gets this share of each scan and is scored at the
#: rest (the generalisation benchmark's protocol too).
HELD_OUT_INPUT_FRACTION = 0.3


def sparse_ground_truth(dataset) -> bool:
    """Whether ``dataset`` records that its ground truth is the LiDAR (one scan or accumulated
    ones: frame sets from bags, ``ground_truth: lidar`` views) rather than a depth image.
    Completion against such ground truth is scored at points held out of its input. Sets that
    record nothing (KITTI, older frame sets) keep the all-points protocol."""
    return getattr(dataset, "ground_truth", None) in LIDAR_TRUTHS


def held_out_protocol(sparse_truth: bool) -> dict:
    """:func:`evaluate`'s completion-input keywords for LiDAR (``sparse_truth``) or depth-image
    ground truth."""
    return {"input_fraction": HELD_OUT_INPUT_FRACTION, "score_given": False} if sparse_truth else {}


def evaluate(est: DepthEstimator, dataset, protocol: str = "none", *, flip: bool = False, median_scaling: bool = False,
             samples: int | None = None, sweep: tuple[float, ...] = (), baselines: tuple[str, ...] = ("median",),
             classical: DepthEstimator | None = None, seed: int = 0, max_depth: float | None = None,
             gt_region: str = "dense", input_fraction: float = 1.0, score_given: bool = True,
             progress: bool = True) -> dict:
    """Metrics averaged over images (KITTI convention) for each row, and the sweep.

    Rows: ``prediction`` (no sparse input), ``completion`` (the sample's sparse points;
    only for models that take them, as is the sweep: an image-only model would repeat its prediction),
    ``classical`` (when given), ``median`` (every pixel = the image's median ground truth: what a
    network that knows nothing but the typical distance would score). ``max_depth`` overrides
    the protocol's cap; ``gt_region`` restricts the ground truth (:data:`GT_REGIONS`).

    ``input_fraction`` of the points (random, seeded per image) are the completion's and the
    classical baseline's input; with ``score_given`` False those rows and the sweep are scored
    only where no point was given: against LiDAR ground truth, the points held out of the input
    (the generalisation benchmark's protocol), since a completion reproduces the points it is given.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol: expected one of {', '.join(PROTOCOLS)}, got '{protocol}'")
    p = PROTOCOLS[protocol]
    if not est.uses_sparse_depth:
        sweep = ()
    if max_depth is not None:
        p = Protocol(p.crop, p.min_depth, max_depth)
    n = len(dataset) if samples is None else min(samples, len(dataset))
    picks = np.unique(np.linspace(0, len(dataset) - 1, n).round().astype(int))
    per_row: dict[str, list] = {}
    per_sweep: dict[float, list] = {f: [] for f in sweep}
    run = flip_averaged if flip else (lambda e, r, k, s: e.predict(r, k, s))

    ranked: dict[str, Sparsification] = {}

    def score(name, pred, gt, confidence=None):
        m = compute_depth_metrics(pred, gt, p.min_depth, p.max_depth, crop=p.crop, median_scaling=median_scaling)
        per_row.setdefault(name, []).append(m)
        if confidence is not None:
            inside = np.where(crop_mask(p.crop, *gt.shape), gt, 0)
            if median_scaling:   # ranked as the row is scored
                pred = pred * m.get("median_scale", 1.0)
            ranked.setdefault(name, Sparsification(p.min_depth, p.max_depth)).add(pred, inside, confidence)
        return m

    for i in tqdm(picks, desc="evaluating", unit="image", disable=None if progress else True):
        s = dataset[int(i)]
        rgb, K, gt, sparse = s["rgb"], s["K"], restrict_ground_truth(s, gt_region), s["sparse_depth"]
        has_points = bool((sparse > 0).any())
        out = run(est, rgb, K, None)
        score("prediction", out.depth, gt, out.confidence)
        given = sparse if input_fraction >= 1 else subsample_points(sparse, input_fraction,
                                                               np.random.default_rng([seed, int(i), 1]))
        if has_points and given is not None and (given > 0).any():
            gt_given = gt if score_given else _without(gt, given)
            if est.uses_sparse_depth:
                out = run(est, rgb, K, given)
                score("completion", out.depth, gt_given, out.confidence)
            if classical is not None:
                score("classical", classical.predict(rgb, K, given).depth, gt_given)
        if "median" in baselines:
            # The median of the pixels it is scored on (inside the protocol's crop).
            valid = (gt > p.min_depth) & (gt < p.max_depth) & crop_mask(p.crop, *gt.shape)
            if valid.any():
                score("median", np.full(gt.shape, np.median(gt[valid]), np.float32), gt)
        rng = np.random.default_rng([seed, int(i)])
        for fraction in sweep:
            sub = subsample_points(sparse, fraction, rng) if has_points else None
            target = gt if score_given or sub is None else _without(gt, sub)
            m = compute_depth_metrics(run(est, rgb, K, sub).depth, target, p.min_depth, p.max_depth, crop=p.crop,
                                      median_scaling=median_scaling)
            per_sweep[fraction].append(m)
    result = {"protocol": protocol, "gt_region": gt_region, "flip": flip, "median_scaling": median_scaling,
              "input_fraction": input_fraction, "score_given": score_given, "images": len(picks),
              "estimator": est.description, "rows": {k: average_metrics(v) for k, v in per_row.items()}}
    if sweep:
        result["sweep"] = [{"fraction": f, **average_metrics(v)} for f, v in per_sweep.items()]
    if ranked:
        result["sparsification"] = {name: r.curve() for name, r in ranked.items()}
    return result


def _without(gt: np.ndarray, given: np.ndarray) -> np.ndarray:
    """The ground truth where no point was given."""
    return np.where(given > 0, 0, gt).astype(gt.dtype)


_TABLE_KEYS = ("abs_rel", "sq_rel", "rmse", "rmse_log", "silog", "delta1", "delta2", "delta3", "mae", "irmse")


def metrics_table(rows: dict) -> str:
    header = "| row | " + " | ".join(_TABLE_KEYS) + " | images |\n|---|" + "---|" * (len(_TABLE_KEYS) + 1) + "\n"
    lines = [f"| {name} | " + " | ".join(f"{m[k]:.4f}" if k.startswith(("abs", "sq", "delta", "rmse_log"))
                                        else f"{m[k]:.3f}" for k in _TABLE_KEYS) + f" | {m['images']} |"
             for name, m in rows.items() if m.get("images")]
    return header + "\n".join(lines) + "\n"


def write_report(result: dict, out: str | Path, title: str = "Evaluation") -> list[Path]:
    """``metrics.json``, ``metrics.md`` and, with a sweep, ``sparsity_sweep.png`` in ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(result, indent=2))
    md = [f"# {title}", "", f"{result['estimator']}; protocol `{result['protocol']}`, flip averaging "
          f"{'on' if result['flip'] else 'off'}, median scaling {'on' if result['median_scaling'] else 'off'}, "
          f"ground truth {result.get('gt_region', 'dense')}, "
          f"{result['images']} images.", ""]
    if result.get("input_fraction", 1.0) < 1 or not result.get("score_given", True):
        md += [f"Completion input: {result['input_fraction']:.0%} of each image's points; scored "
               f"{'everywhere' if result['score_given'] else 'only where no point was given'}.", ""]
    md += [metrics_table(result["rows"])]
    written = [out / "metrics.json", out / "metrics.md"]
    if result.get("sweep"):
        written.append(plot_sweep(result["sweep"], out / "sparsity_sweep.png"))
        md += sweep_table(result["sweep"])
    md += sparsification_table(result.get("sparsification", {}))
    (out / "metrics.md").write_text("\n".join(md) + "\n")
    return written


#: The x axis of every sparsity-sweep plot.
SWEEP_XLABEL = "LiDAR points used as input (%; 0 % plotted at 0.1 %)"


def _scored(sweep: list[dict]) -> list[dict]:
    """The sweep's fractions at which some image was scored."""
    return [r for r in sweep if "abs_rel" in r]


def sweep_table(sweep: list[dict]) -> list[str]:
    """The report's sparsity-sweep section (markdown lines): a table of AbsRel, RMSE and delta1
    per input fraction, and the ``sparsity_sweep.png`` beside it (:func:`plot_sweep`)."""
    return ["## Sparsity sweep", "", "| input fraction | AbsRel | RMSE | delta1 |", "|---|---|---|---|",
            *(f"| {r['fraction']:.0%} | {r['abs_rel']:.4f} | {r['rmse']:.3f} | {r['delta1']:.4f} |"
              for r in _scored(sweep)),
            "", "![sparsity sweep](sparsity_sweep.png)", ""]


def sweep_series(sweep: list[dict]) -> tuple[list[float], list[float]]:
    """The sweep as a plot's (input %, AbsRel) series; 0 % is plotted at 0.1 % on the log axis."""
    rows = _scored(sweep)
    return [max(r["fraction"], 1e-3) * 100 for r in rows], [r["abs_rel"] for r in rows]


def plot_sweep(sweep: list[dict], path: Path, label: str = "AbsRel") -> Path:
    """The sparsity-sweep PNG: AbsRel against the share of LiDAR input, log x."""
    return line_plot(path, {label: sweep_series(sweep)}, SWEEP_XLABEL, "AbsRel", "Sparsity sweep", log_x=True)
