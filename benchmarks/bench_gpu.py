"""GPU inference of the default model, all backends in one run: torch eager, ONNX Runtime (CUDA),
and TensorRT FP32 / FP16 / INT8, at batch 1, at 640x192 and 1216x352. For each: the median
latency of the network call (host arrays in, host arrays out: uploads and downloads included),
frames/s, and the median relative depth difference to torch eager in completion mode.

    .venv/bin/python benchmarks/bench_gpu.py --out docs/gpu_benchmark.md

Backends that cannot run here get a row saying why (so the script also runs on a CPU machine,
where it measures torch and ONNX Runtime on the CPU). INT8 calibrates on a small simulated frame
set written to a temporary folder. Engines are built into a temporary cache, so the build times
printed are cold builds.
"""

from __future__ import annotations

import argparse
import logging
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _timing import median_ms

from depth_core.inference import BackendError, CalibrationError, load_estimator
from depth_core.inference.preprocess import prepare_inputs
from depth_core.models import create_model

SIZES = ((192, 640), (352, 1216))


def _frame(h: int, w: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    rgb = (rng.uniform(size=(h, w, 3)) * 255).astype(np.uint8)
    K = np.array([[0.58 * w, 0, w / 2 - 0.5], [0, 0.58 * w, h / 2 - 0.5], [0, 0, 1]])
    sparse = np.zeros((h, w), np.float32)
    rows, cols = rng.integers(h // 3, h, 5000), rng.integers(0, w, 5000)
    sparse[rows, cols] = rng.uniform(2, 80, 5000)
    return rgb, K, sparse


def _median_rel(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b) & (b > 0)
    return float(np.median(np.abs(a[ok] - b[ok]) / b[ok]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--sizes", default="640x192,1216x352", help="comma-separated WxH")
    parser.add_argument("--backends", default="torch,onnxruntime,tensorrt-fp32,tensorrt-fp16,tensorrt-int8")
    parser.add_argument("--calibration-frames", type=int, default=40, help="INT8: simulated frames to calibrate on")
    parser.add_argument("--out", help="also write the markdown table here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    sizes = [tuple(int(v) for v in s.lower().split("x"))[::-1] for s in args.sizes.split(",")]
    backends = args.backends.split(",")
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else (platform.processor() or "CPU")
    header = (f"# {args.model} at batch 1 on {device}; torch {torch.__version__}; median of {args.runs} runs after "
              f"{args.warmup} warm-up; latency = backend call with host arrays (copies included)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        calibration = None
        if any(b == "tensorrt-int8" for b in backends):
            from depth_core.data import write_simulated_dataset

            calibration = tmp / "calibration"
            scenes = ["street", "yard", "indoor"]
            write_simulated_dataset(calibration, scenes, max(1, args.calibration_frames // len(scenes)), seed=7,
                                    progress=False)
        for h, w in sizes:
            net = create_model("san_resnet18" if args.model == "default" else args.model,
                               pretrained=True).eval()
            rgb, K, sparse = _frame(h, w)
            image, sparse_net, _, _ = prepare_inputs(rgb, K, sparse, h, w)
            reference = None
            for name in backends:
                kind, _, precision = name.partition("-")
                t0 = time.perf_counter()
                try:
                    est = load_estimator(net, kind, input_size=(h, w), precision=precision or "fp16",
                                         calibration=calibration, cache=tmp / "cache")
                except (BackendError, CalibrationError, ValueError) as exc:
                    rows.append((f"{w}x{h}", name, None, None, None, None, str(exc).split(" (")[0]))
                    continue
                setup_s = time.perf_counter() - t0
                run = est.backend.run

                def call(run=run, image=image, sparse=sparse_net):
                    return run(image, sparse)

                ms = median_ms(call, args.runs, warmup=args.warmup)
                depth = est.predict(rgb, K, sparse).depth
                if kind == "torch":
                    reference = depth
                parity = None if reference is None else _median_rel(depth, reference)
                rows.append((f"{w}x{h}", name, ms, 1000 / ms, parity, setup_s, est.description))
                print(f"{w}x{h} {name}: {ms:.3f} ms", flush=True)
    lines = [header, "", "| input | backend | median ms | frames/s | median rel. diff to torch | load/build s | "
                         "what ran |", "|---|---|---|---|---|---|---|"]
    for size, name, ms, fps, parity, setup_s, what in rows:
        if ms is None:
            lines.append(f"| {size} | {name} | - | - | - | - | not run: {what} |")
        else:
            par = "-" if parity is None else f"{parity:.1e}"
            lines.append(f"| {size} | {name} | {ms:.3f} | {fps:.0f} | {par} | {setup_s:.0f} | {what} |")
    by = {(r[0], r[1]): r[2] for r in rows if r[2] is not None}
    for size in {r[0] for r in rows}:
        if (size, "torch") in by and (size, "tensorrt-fp16") in by:
            lines.append(f"\nTensorRT FP16 speed-up over torch eager at {size}: "
                         f"{by[(size, 'torch')] / by[(size, 'tensorrt-fp16')]:.1f}x")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
