"""Inference latency of a model on CPU backends, in one run: torch eager vs ONNX Runtime, plus
the classical completion. Batch 1, median over ``--runs`` after warm-up.

    .venv/bin/python benchmarks/bench_inference.py --model san_resnet18 --height 192 --width 640

Uses the shipped weights when they exist, else initial weights (latency does not depend on them).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile

import numpy as np
import torch
from _timing import median_ms

from depth_core.inference import load_estimator
from depth_core.models import create_model, pretrained_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="san_resnet18")
    parser.add_argument("--height", type=int, default=192)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pretrained = pretrained_path(args.model).is_file()
    torch.manual_seed(0)
    model = create_model(args.model, pretrained=pretrained, input_height=args.height, input_width=args.width).eval()
    h, w = args.height, args.width
    rng = np.random.default_rng(0)
    image = (rng.uniform(size=(h, w, 3)) * 255).astype(np.uint8)
    K = np.array([[0.58 * w, 0, w / 2 - 0.5], [0, 0.58 * w, h / 2 - 0.5], [0, 0, 1]])
    sparse = np.zeros((h, w), np.float32)
    rows, cols = rng.integers(h // 3, h, 5000), rng.integers(0, w, 5000)
    sparse[rows, cols] = rng.uniform(2, 80, 5000)

    print(f"# {args.model} ({'shipped' if pretrained else 'initial'} weights) at {w}x{h}, batch 1, "
          f"{args.threads} threads, torch {torch.__version__}, {platform.processor() or platform.machine()}")
    with tempfile.TemporaryDirectory() as cache:
        estimators = {
            "torch": load_estimator(model, "torch"),
            "onnxruntime": load_estimator(model, "onnxruntime", cache=cache, threads=args.threads),
            "classical": load_estimator("classical"),
        }
        results = {}
        for name, est in estimators.items():
            for mode, sp in (("prediction", None), ("completion", sparse)):
                if name == "classical" and sp is None:
                    continue
                results[(name, mode)] = median_ms(lambda e=est, s=sp: e.predict(image, K, s), args.runs, warmup=3)
    print("| backend | mode | median ms (predict, incl. pre/post-processing) |")
    print("|---|---|---|")
    for (name, mode), ms in results.items():
        print(f"| {name} | {mode} | {ms:.1f} |")
    for mode in ("prediction", "completion"):
        ratio = results[("torch", mode)] / results[("onnxruntime", mode)]
        print(f"ORT speed-up over torch, {mode}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
