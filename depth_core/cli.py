"""``depth-core``: the offline tool (``depth-core <command> --help``)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .sim import SCENES
from .utils import ArgumentParser, positive_int
from .utils.files import OutputError


def _simulate(args) -> int:
    from .data import write_simulated_dataset

    t0 = time.perf_counter()
    summary = write_simulated_dataset(
        args.out, args.scene, args.frames, seed=args.seed, sequence_length=args.sequence_length,
        width=args.width, height=args.height, overwrite=args.overwrite, progress=not args.quiet)
    elapsed = time.perf_counter() - t0
    print(f"wrote {summary['samples']} samples in {len(summary['sequences'])} sequences "
          f"({', '.join(args.scene)}) to {args.out} in {elapsed:.1f} s")
    return 0


def _export(args) -> int:
    from .export import export_onnx
    from .models import create_model, list_models, load_model

    t0 = time.perf_counter()
    if args.model in list_models():
        model = create_model(args.model, pretrained=not args.no_pretrained)
    elif Path(args.model).is_file():
        model = load_model(args.model)
    else:
        raise ValueError(f"--model: '{args.model}' is neither a registered model ({', '.join(list_models())}) "
                         "nor an existing .safetensors file")
    path = export_onnx(model, args.out, height=args.height, width=args.width, dynamic=args.dynamic, opset=args.opset)
    h, w = args.height or model.config.input_height, args.width or model.config.input_width
    shape = "dynamic batch/height/width" if args.dynamic else f"{w}x{h}"
    print(f"exported {model.config.name} to {path} ({shape}, opset {args.opset}, "
          f"{path.stat().st_size / 2**20:.1f} MiB) in {time.perf_counter() - t0:.1f} s; onnx.checker passed")
    return 0


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="depth-core", description="depth_ros offline tools: data, training, export.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    sim = sub.add_parser("simulate", help="write a simulated training set (RGB, 16-bit depth PNGs, calibration)",
                         description="Render procedural worlds into an on-disk training set: RGB PNGs, KITTI-style "
                                     "16-bit depth PNGs (value/256 m, 0 = invalid) for ground truth and projected "
                                     "LiDAR, and intrinsics/extrinsics as JSON.")
    sim.add_argument("--out", required=True, help="output folder (must not exist unless --overwrite)")
    sim.add_argument("--frames", type=positive_int, default=200, help="frames per scene (default 200)")
    sim.add_argument("--scene", nargs="+", choices=SCENES, default=list(SCENES),
                     help="scene families to render (default: all)")
    sim.add_argument("--seed", type=int, default=0, help="base seed; the output is a pure function of it")
    sim.add_argument("--sequence-length", type=positive_int, default=50,
                     help="frames per generated world (default 50)")
    sim.add_argument("--width", type=positive_int, help="camera width (default: per scene)")
    sim.add_argument("--height", type=positive_int, help="camera height (default: per scene)")
    sim.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    sim.add_argument("--quiet", action="store_true", help="no progress bar")
    sim.set_defaults(func=_simulate)

    exp = sub.add_parser("export", help="export a model to ONNX (inputs image, sparse_depth; output depth)",
                         description="Export a registry model or a .safetensors model file to one ONNX graph with "
                                     "inputs 'image' [B,3,H,W] (RGB in [0,1]) and 'sparse_depth' [B,1,H,W] (metres, "
                                     "0 = missing) and output 'depth' [B,1,H,W] metres, checked with onnx.checker.")
    exp.add_argument("--model", required=True, help="registry name or path to a .safetensors model")
    exp.add_argument("--out", required=True, help="output .onnx file")
    exp.add_argument("--height", type=positive_int, help="input height (default: the model config's)")
    exp.add_argument("--width", type=positive_int, help="input width (default: the model config's)")
    exp.add_argument("--dynamic", action="store_true", help="symbolic batch, height and width")
    exp.add_argument("--opset", type=positive_int, default=17, help="ONNX opset, >= 17 (default 17)")
    exp.add_argument("--no-pretrained", action="store_true", help="registry models: initial weights")
    exp.set_defaults(func=_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .export import ExportError
    from .models import ModelFileError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except OutputError as exc:
        print(f"depth-core {args.command}: error: --out: {exc}", file=sys.stderr)
    except (ModelFileError, ExportError, FileNotFoundError, ValueError) as exc:
        print(f"depth-core {args.command}: error: {exc}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
