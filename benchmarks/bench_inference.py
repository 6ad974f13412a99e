"""Inference latency of models on CPU backends, in one run: torch eager vs ONNX Runtime, plus
the classical completion. Batch 1, the whole ``DepthEstimator.predict`` call (input checks,
preprocessing, network, postprocessing), median over ``--runs`` after warm-up. The cases are timed
in turn (a warm-up call and 5 timed calls of each per round), so the ratios hold on a machine
whose speed drifts.

    .venv/bin/python benchmarks/bench_inference.py --runs 20 \
        --case default@1242x375 --case san_resnet18@640x192 [--int8]

Each ``--case MODEL@WIDTHxHEIGHT`` is a rendered street frame of that size for that model, with
its depth at about 4 % of the pixels as the LiDAR; models with a canonical camera (the default)
resize it keeping its aspect ratio, the others to their fixed input size (here set to the case's
size). The content matters: the estimator's upsampling at depth edges runs where the network's
depth has edges (``--noise``: a uniform-noise image and random depths, its worst case). The last
lines give the ONNX Runtime speed-up of the first case over each other case, completion mode.
Shipped weights are used where they exist, else initial weights (the network's own time does
not depend on them).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile

import numpy as np
import torch
from _timing import interleaved_median_ms

from depth_core.inference import DEFAULT_MODEL, load_estimator
from depth_core.inference.quantize import cpu_int8_description
from depth_core.models import create_model, pretrained_path
from depth_core.sim import Simulator, default_config


def _case(text: str) -> tuple[str, int, int]:
    try:
        model, size = text.split("@")
        w, h = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MODEL@WIDTHxHEIGHT, got '{text}'") from None
    return (DEFAULT_MODEL if model == "default" else model), h, w


def _inputs(h: int, w: int, rng: np.random.Generator, noise: bool = False):
    """A rendered street frame at ``w`` x ``h`` and its depth at random pixels of its lower two
    thirds (about 4 % of the pixels, a 64-beam LiDAR's density, at every size); with ``noise`` a
    uniform-noise image and random depths instead (the estimator's worst case: its upsampling at
    depth edges then runs on nearly every pixel)."""
    n = 5000 * h * w // (640 * 192)   # the same LiDAR density at every image size
    rows, cols = rng.integers(h // 3, h, n), rng.integers(0, w, n)
    sparse = np.zeros((h, w), np.float32)
    if noise:
        image = (rng.uniform(size=(h, w, 3)) * 255).astype(np.uint8)
        K = np.array([[0.58 * w, 0, w / 2 - 0.5], [0, 0.58 * w, h / 2 - 0.5], [0, 0, 1]])
        sparse[rows, cols] = rng.uniform(2, 80, n)
        return image, K, sparse
    sim = Simulator(default_config("street", width=w, height=h), seed=0, frames=1)
    frame = sim.render(0)
    depth = np.nan_to_num(frame.depth, nan=0.0, posinf=0.0)
    sparse[rows, cols] = depth[rows, cols]
    return frame.rgb, sim.intrinsics.K, sparse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", type=_case, action="append", help="MODEL@WIDTHxHEIGHT (repeatable; default: "
                        "default@1242x375 and san_resnet18@640x192)")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--no-torch", action="store_true", help="ONNX Runtime and classical only")
    parser.add_argument("--noise", action="store_true",
                        help="time a uniform-noise image with random depths instead of a rendered street frame (the "
                             "worst case for the upsampling at depth edges)")
    parser.add_argument("--int8", action="store_true",
                        help="also each model's INT8 ONNX Runtime graph (built-in calibration; quantised once per "
                             "run, in the run's own cache)")
    args = parser.parse_args()
    cases = args.case or [_case("default@1242x375"), _case("san_resnet18@640x192")]
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    print(f"# batch 1, {args.threads} threads, torch {torch.__version__}, {platform.processor() or platform.machine()}"
          f", int8 dot products: {cpu_int8_description()}")
    calls = {}
    with tempfile.TemporaryDirectory() as cache:
        for name, h, w in cases:
            pretrained = pretrained_path(name).is_file()
            torch.manual_seed(0)
            model = create_model(name, pretrained=pretrained).eval()
            if model.config.canonical_focal is None:
                model = create_model(name, pretrained=pretrained, input_height=h, input_width=w).eval()
            label = f"{name} @ {w}x{h} ({'shipped' if pretrained else 'initial'} weights)"
            image, K, sparse = _inputs(h, w, rng, args.noise)
            backends = {"onnxruntime": load_estimator(model, "onnxruntime", cache=cache, threads=args.threads)}
            if args.int8:
                backends["onnxruntime int8"] = load_estimator(model, "onnxruntime", cache=cache, threads=args.threads,
                                                              precision="int8")
            if not args.no_torch:
                backends["torch"] = load_estimator(model, "torch")
            for backend, est in backends.items():
                for mode, sp in (("prediction", None), ("completion", sparse)):
                    calls[(label, backend, mode)] = lambda e=est, s=sp, i=image, k=K: e.predict(i, k, s)
            classical = load_estimator("classical")
            calls[(f"classical @ {w}x{h}", "classical", "completion")] = (
                lambda c=classical, i=image, k=K, s=sparse: c.predict(i, k, s))
        # Interleaved: each round times every case in a short block, so the drift cannot favour one.
        results = interleaved_median_ms(calls, args.runs, warmup=3)
    print("| model @ input | backend | mode | median ms |")
    print("|---|---|---|---|")
    for (label, backend, mode), ms in results.items():
        print(f"| {label} | {backend} | {mode} | {ms:.1f} |")
    ort = {label: ms for (label, backend, mode), ms in results.items()
           if backend == "onnxruntime" and mode == "completion"}
    first, *others = ort
    for other in others:
        print(f"ONNX Runtime completion: {first} is {ort[other] / ort[first]:.2f}x faster than {other}")
    int8 = {label: ms for (label, backend, mode), ms in results.items()
            if backend == "onnxruntime int8" and mode == "completion"}
    if first in int8:
        print(f"ONNX Runtime completion: {first} in INT8 ({int8[first]:.1f} ms) is {ort[first] / int8[first]:.2f}x "
              "its float graph")
        for other in others:
            print(f"ONNX Runtime completion: {first} in INT8 is {ort[other] / int8[first]:.2f}x faster than {other} "
                  "in float")


if __name__ == "__main__":
    main()
