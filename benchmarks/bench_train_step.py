"""Training step time on the CPU: float32 vs bfloat16 autocast, contiguous vs channels-last
tensors, in one run. A SAN stage-2 step (RGB encoder frozen; prediction and completion passes
from one encoding; backward through SAN and decoder) or a stage-1 step, median over ``--runs``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_train_step.py --stage san --batch 4

These are the settings `depth-core train` uses (``amp``, ``channels_last`` in the config).
"""

from __future__ import annotations

import argparse
import platform

import torch
from _timing import median_ms

from depth_core.losses import multiscale_silog
from depth_core.models import create_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="san_resnet18")
    parser.add_argument("--stage", choices=("rgb", "san"), default="san")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--height", type=int, default=192)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = create_model(args.model, san_channels=[16, 32, 64, 128, 256]).train()
    frozen = "encoder." if args.stage == "san" else "san."
    for name, p in model.named_parameters():
        p.requires_grad_(not name.startswith(frozen))
    if args.stage == "san":
        model.encoder.eval()
    passes = ("prediction", "completion") if args.stage == "san" else ("prediction",)
    b, h, w = args.batch, args.height, args.width
    image = torch.rand(b, 3, h, w)
    gt = torch.rand(b, 1, h, w) * 40 + 1
    sparse = gt * (torch.rand(b, 1, h, w) < 0.05)
    bf16_native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    print(f"{args.model} stage {args.stage}, batch {b} at {h}x{w}, {torch.get_num_threads()} threads, "
          f"{platform.processor() or platform.machine()}, native bf16: {bf16_native}")
    results = {}
    for bf16 in (False, True):
        for channels_last in (False, True):
            fmt = torch.channels_last if channels_last else torch.contiguous_format
            model.to(memory_format=fmt)
            x, s = image.to(memory_format=fmt), sparse.to(memory_format=fmt)

            def step(x=x, s=s, bf16=bf16):
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    out = model.forward_passes(x, s, passes)
                loss = sum(multiscale_silog([i.float() for i in o["inv_depths"]], gt) for o in out.values())
                model.zero_grad(set_to_none=True)
                loss.backward()

            results[(bf16, channels_last)] = median_ms(step, args.runs)
    base = results[(False, False)]
    print("| precision | layout | ms/step | speed-up |\n|---|---|---|---|")
    for (bf16, cl), ms in results.items():
        print(f"| {'bfloat16' if bf16 else 'float32'} | {'channels-last' if cl else 'contiguous'} | {ms:.0f} "
              f"| {base / ms:.2f}x |")


if __name__ == "__main__":
    main()
