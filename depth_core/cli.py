"""``depth-core``: the offline tool (``depth-core <command> --help``)."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

from .sim import SCENES
from .sim.rigs import RIG_PRESETS
from .utils import CALIBRATION_HELP, PRECISION_CHOICES, PRECISION_HELP, ArgumentParser, image_size, positive_int
from .utils.files import OutputError

log = logging.getLogger("depth_core.eval")


def _simulate(args) -> int:
    from .data import write_simulated_dataset

    t0 = time.perf_counter()
    rigs = args.rigs.split(",")
    summary = write_simulated_dataset(
        args.out, args.scene, args.frames, seed=args.seed, sequence_length=args.sequence_length,
        width=args.width, height=args.height, rigs=rigs[0] if len(rigs) == 1 else rigs,
        appearance=args.appearance == "random", workers=args.workers, overwrite=args.overwrite,
        progress=not args.quiet)
    elapsed = time.perf_counter() - t0
    print(f"wrote {summary['samples']} samples in {len(summary['sequences'])} sequences "
          f"({', '.join(args.scene)}; rigs {args.rigs}, {args.appearance} look) to {args.out} in {elapsed:.1f} s")
    return 0


def _export(args) -> int:
    from .export import export_onnx
    from .inference import DEFAULT_MODEL
    from .models import create_model, list_models, load_model

    t0 = time.perf_counter()
    name = DEFAULT_MODEL if args.model == "default" else args.model
    if name in list_models():
        model = create_model(name, pretrained=not args.no_pretrained)
    elif Path(args.model).is_file():
        model = load_model(args.model)
    else:
        raise ValueError(f"--model: '{args.model}' is neither a registered model ({', '.join(list_models())}) "
                         "nor an existing .safetensors file")
    if args.camera:
        if args.height or args.width or args.dynamic:
            raise ValueError("--camera sets the input size: give it or --height/--width/--dynamic, not both")
        args.height, args.width = network_input_size(model.config, *args.camera)
    path = export_onnx(model, args.out, height=args.height, width=args.width, dynamic=args.dynamic, opset=args.opset)
    h, w = args.height or model.config.input_height, args.width or model.config.input_width
    shape = "dynamic batch/height/width" if args.dynamic else f"{w}x{h}"
    print(f"exported {model.config.name} to {path} ({shape}, opset {args.opset}, "
          f"{path.stat().st_size / 2**20:.1f} MiB) in {time.perf_counter() - t0:.1f} s; onnx.checker passed")
    return 0


def _train(args) -> int:
    from .train import Trainer, load_train_config
    from .train.trainer import Interrupted

    cfg = load_train_config(args.config, args.overrides)
    out = Path(args.out or Path("runs") / Path(args.config).stem)
    t0 = time.perf_counter()
    trainer = Trainer(cfg, out, max_steps=args.max_steps, resume=args.resume, progress=not args.quiet)
    try:
        path = trainer.fit()
    except Interrupted as stop:
        if int(os.environ.get("RANK", "0")) == 0:
            import shlex

            where = f"checkpoint {stop.checkpoint}" if stop.checkpoint else "no step had finished: nothing saved"
            again = ["depth-core", "train", args.config, *args.overrides, "--out", str(out), "--resume"]
            if args.max_steps:
                again += ["--max-steps", str(args.max_steps)]
            print(f"interrupted at step {stop.step}: {where}; continue with: {shlex.join(again)}", file=sys.stderr)
        return 130
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"trained {trainer.model_name} in {time.perf_counter() - t0:.0f} s: {path} (logs and config in {out})")
        if trainer.report is not None:
            print(f"\nOn the {len(trainer.val)} held-out frames (report: {out / 'report.md'}):\n")
            print(trainer.report["table"])
            print(f"\nRun the node with it:  ros2 launch depth_ros san.launch.py model:={path}"
                  f"\n  (a venv install:     .venv/bin/san_node --ros-args -p model:={path} "
                  "-r image:=/camera/image_raw -r camera_info:=/camera/camera_info -r lidar_points:=/lidar/points)"
                  f"\nReplay a bag with it: depth-ros-eval BAG --model {path} --image-topic /camera/image_raw "
                  "--camera-info-topic /camera/camera_info --lidar-topic /lidar/points --out RUN_eval"
                  "\n  (the topics are depth-ros-sim's and depth-ros-dataset's defaults: use your bag's)")
    return 0


def _eval(args) -> int:
    from .data import DatasetConfig, build_dataset
    from .evaluate import evaluate, held_out_protocol, sparse_ground_truth, write_report
    from .inference import load_estimator

    labels = args.labels.split(",") if args.labels else None
    dataset = build_dataset(DatasetConfig(type=args.data_type, root=args.data, depth_root=args.depth_root,
                                          velodyne_root=args.velodyne_root,
                                          split=args.split, splits=args.splits, labels=labels,
                                          sparse_pattern=args.sparse_pattern, depth_to_color=args.depth_to_color))
    est = load_estimator(args.model, args.backend, input_size=args.input_size, pretrained=not args.no_pretrained,
                         precision=args.precision, calibration=args.calibration)
    classical = load_estimator("classical") if args.baselines else None
    sweep = tuple(float(v) for v in args.sweep.split(",")) if args.sweep else ()
    held_out = held_out_protocol(sparse_ground_truth(dataset))
    if held_out:   # scored at the points it was given, a completion would score its own input
        log.info("%s: the ground truth is the LiDAR: the completion gets %.0f%% of each scan and is scored at the "
                 "rest, as training's report does", args.data, 100 * held_out["input_fraction"])
    result = evaluate(est, dataset, args.protocol, flip=args.flip, median_scaling=args.median_scaling,
                      samples=args.samples, sweep=sweep, classical=classical,
                      baselines=("median",) if args.baselines else (), gt_region=args.gt_region,
                      progress=not args.quiet, **held_out)
    result["data"] = {"type": args.data_type, "root": args.data, "labels": labels}
    files = write_report(result, args.out, title=f"{est.name} on {Path(args.data).name}")
    from .evaluate import metrics_table

    print(metrics_table(result["rows"]), end="")
    print(f"wrote {', '.join(str(f) for f in files)}")
    return 0


def network_input_size(config, height: int, width: int) -> tuple[int, int]:
    """(height, width) of the network input for camera images of ``width`` x ``height``: the
    aspect-kept canonical size for canonical-camera models, else the configured size."""
    from .inference.preprocess import canonical_size

    if config.canonical_focal is None:
        return config.input_height, config.input_width
    return canonical_size(height, width, config.input_height * config.input_width)[1]


def _build_engine(args) -> int:
    from .inference import EngineSpec, build_model_engine
    from .inference.tensorrt.engine_cache import read_sidecar

    t0 = time.perf_counter()
    if args.camera:
        if args.input_size or args.dynamic:
            raise ValueError("--camera sets the input size: give it or --input-size/--dynamic, not both")
        from .inference.loading import resolve_model as _resolve

        source = _resolve(args.model, not args.no_pretrained)
        if source.net is None:
            raise ValueError("--camera needs a registry model or a .safetensors file (an .onnx file has its size)")
        args.input_size = network_input_size(source.net.config, *args.camera)
    path = build_model_engine(
        args.model, precision=args.precision, input_size=args.input_size, dynamic=args.dynamic,
        min_size=args.min_size, opt_size=args.opt_size, max_size=args.max_size, calibration=args.calibration,
        calibration_samples=args.calibration_samples, out=args.out, force=args.force,
        timing_cache=args.timing_cache, workspace_gib=args.workspace, pretrained=not args.no_pretrained,
        progress=not args.quiet)
    record = read_sidecar(path)
    spec = EngineSpec(record["onnx_sha256"], record["precision"], record["shapes"], record.get("calibration"))
    print(f"{record['model_config']['name']} engine, {spec.describe()}, for "
          f"{record['gpu_name']} (sm {record['compute_capability']}), TensorRT {record['tensorrt_version']}: "
          f"{path} ({path.stat().st_size / 2**20:.1f} MiB, built in {record['build_seconds']} s; "
          f"{time.perf_counter() - t0:.1f} s now); sidecar {path.name}.json")
    return 0


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="depth-core",
                            description="depth_ros offline tools: data, training, export, TensorRT engines.")
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
    sim.add_argument("--rigs", default="scene",
                     help="scene: each world type's fixed rig (default); random: a new camera, LiDAR and mounting "
                          "for every sequence; or rig presets, comma-separated, cycled over the sequences "
                          f"({', '.join(RIG_PRESETS)})")
    sim.add_argument("--appearance", default="plain", choices=("plain", "random"),
                     help="random: a new sky, sun with shadows, exposure, white balance and camera effects "
                          "for every sequence (default plain)")
    sim.add_argument("--workers", type=positive_int, help="parallel processes (default: one per core)")
    sim.add_argument("--width", type=positive_int, help="camera width (default: per scene)")
    sim.add_argument("--height", type=positive_int, help="camera height (default: per scene)")
    sim.add_argument("--overwrite", action="store_true",
                     help="replace --out if it exists (an interrupted run's --out is resumed without it)")
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
    exp.add_argument("--camera", type=image_size, help="WxH of the camera's images: the network size follows "
                     "(canonical-camera models such as the default keep the aspect ratio)")
    exp.add_argument("--opset", type=positive_int, default=17, help="ONNX opset, >= 17 (default 17)")
    exp.add_argument("--no-pretrained", action="store_true", help="registry models: initial weights")
    exp.set_defaults(func=_export)

    tr = sub.add_parser("train", help="train a model from a YAML config (torchrun for several processes)",
                        description="Train from CONFIG (YAML with only the differences from the defaults in "
                                    "depth_core/train/config.py), with key=value overrides on top, e.g. "
                                    "batch_size=2 stages.1.lr=5e-5. Runs data-parallel under torchrun.")
    tr.add_argument("config", help="training YAML, e.g. config/train/san_efficientnet_lite0_random.yaml")
    tr.add_argument("overrides", nargs="*", help="key=value overrides (dotted keys, list indices)")
    tr.add_argument("--max-steps", type=positive_int, help="run a miniature of the schedule with this many steps")
    tr.add_argument("--out", help="run folder (default runs/<config name>)")
    tr.add_argument("--resume", action="store_true", help="continue from the run folder's latest checkpoint")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.set_defaults(func=_train)

    ev = sub.add_parser("eval", help="evaluate a model on a data set (metrics.json, metrics.md, plots)",
                        description="Evaluate prediction and completion (and baselines) of a model on a data set "
                                    "under a benchmark protocol.")
    ev.add_argument("--model", default="default", help="registry name, 'default', or a model file")
    ev.add_argument("--backend", default="auto", help="auto | tensorrt | onnxruntime | torch")
    ev.add_argument("--precision", default="auto", choices=PRECISION_CHOICES, help=PRECISION_HELP)
    ev.add_argument("--calibration", help=CALIBRATION_HELP)
    ev.add_argument("--no-pretrained", action="store_true", help="registry models: initial weights")
    ev.add_argument("--data", required=True, help="data set root (KITTI: raw root; NYU .mat: the file)")
    ev.add_argument("--data-type", default="frames",
                    choices=("frames", "kitti", "nyu_mat", "nyu_folder", "folder", "sevenscenes"))
    ev.add_argument("--sparse-pattern", default="beams32",
                    help="sevenscenes: sparse input sampled from the depth: beams<N>, random<N> or none "
                         "(default beams32)")
    ev.add_argument("--depth-to-color", action="store_true",
                    help="sevenscenes: re-render the depth in the colour camera, with its own intrinsics (the raw "
                         "depth is offset from the colour image; see docs/datasets.md)")
    ev.add_argument("--depth-root", help="KITTI data_depth_annotated root")
    ev.add_argument("--velodyne-root", help="KITTI data_depth_velodyne root, where the velodyne_raw inputs are "
                                            "(default: --depth-root)")
    ev.add_argument("--split", help="KITTI split file, or NYU 'train' / 'test'")
    ev.add_argument("--splits", help="NYU splits.mat")
    ev.add_argument("--labels", help="frames: comma-separated sequence labels (scenes) to keep")
    ev.add_argument("--protocol", default="none", choices=("kitti", "kitti_eigen", "nyu", "none"),
                    help="kitti: Garg crop, 80 m; kitti_eigen: Eigen crop, 80 m; nyu: Eigen crop, 10 m; none: 80 m")
    ev.add_argument("--gt-region", default="dense", choices=("dense", "lidar_fov"),
                    help="dense: every ground-truth pixel; lidar_fov: only pixels inside the LiDAR's vertical "
                         "field of view and range, as KITTI's LiDAR-derived ground truth (frame sets only)")
    ev.add_argument("--flip", action="store_true", help="average with the mirrored image's prediction")
    ev.add_argument("--median-scaling", action="store_true", help="scale each prediction to the median of the gt")
    ev.add_argument("--samples", type=positive_int, help="evaluate this many evenly spaced images (default all)")
    ev.add_argument("--sweep", help="comma-separated LiDAR input fractions, e.g. 0,0.01,0.05,0.2,1")
    ev.add_argument("--baselines", action="store_true", help="add classical-completion and constant-median rows")
    ev.add_argument("--input-size", type=lambda t: t if t == "native" else image_size(t),
                    help="'native' (each image at its own size) or WxH for the network input (default: the "
                         "model's own: its pixel budget for a canonical-camera model, where it was trained)")
    ev.add_argument("--out", required=True, help="report folder")
    ev.add_argument("--quiet", action="store_true", help="no progress bar")
    ev.set_defaults(func=_eval)

    be = sub.add_parser("build-engine", help="build a TensorRT engine (FP32, FP16, INT8) with its sidecar",
                        description="Build a TensorRT 10 engine of a registry model, .safetensors or .onnx file "
                                    "for this machine's GPU, with a sidecar JSON recording the ONNX hash, GPU name "
                                    "and compute capability, TensorRT version, precision and shapes. An up-to-date "
                                    "engine is reused; a stale one (other GPU, TensorRT, graph, precision or "
                                    "shapes) is rebuilt. Needs pip install 'depth_ros[tensorrt]' and a CUDA GPU.")
    be.add_argument("--model", default="default", help="registry name, 'default', .safetensors or .onnx file")
    be.add_argument("--precision", default="fp16", choices=("fp32", "fp16", "int8"), help="default fp16")
    be.add_argument("--input-size", type=image_size, help="WxH of a static engine (default: the model's)")
    be.add_argument("--camera", type=image_size, help="WxH of the camera's images: the engine's input size follows "
                    "(canonical-camera models such as the default keep the aspect ratio)")
    be.add_argument("--dynamic", action="store_true", help="a dynamic-shape profile (--min/--opt/--max-size)")
    be.add_argument("--min-size", type=image_size, help="dynamic: smallest WxH (default 64x64)")
    be.add_argument("--opt-size", type=image_size, help="dynamic: WxH to tune for (default: the model's)")
    be.add_argument("--max-size", type=image_size, help="dynamic: largest WxH (default 2048x1088)")
    be.add_argument("--calibration", help="INT8: a frame set (depth-core simulate / depth-ros-dataset) or a folder "
                                          "of images like the robot's camera sees (default: a built-in simulated set)")
    be.add_argument("--calibration-samples", type=positive_int, default=200,
                    help="INT8: evenly spaced samples to calibrate on (default 200)")
    be.add_argument("--timing-cache", help="timing cache file (default: one per GPU and TensorRT version in the "
                                           "cache folder)")
    be.add_argument("--workspace", type=float, help="builder workspace limit in GiB (default: TensorRT's)")
    be.add_argument("--out", help="engine file (default: the engine cache, where load_estimator finds it)")
    be.add_argument("--force", action="store_true", help="rebuild even when an up-to-date engine exists")
    be.add_argument("--no-pretrained", action="store_true", help="registry models: initial weights")
    be.add_argument("--quiet", action="store_true", help="no progress bar")
    be.set_defaults(func=_build_engine)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .data import DataFileError
    from .export import ExportError
    from .inference import BackendError
    from .models import ModelFileError

    parser = build_parser()
    # Training overrides (key=value) may come after options too: collect them from the leftovers.
    args, extra = parser.parse_known_args(argv)
    if args.command == "train":
        args.overrides = list(args.overrides) + [e for e in extra if "=" in e and not e.startswith("-")]
        extra = [e for e in extra if e not in args.overrides]
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except OutputError as exc:
        print(f"depth-core {args.command}: error: --out: {exc}", file=sys.stderr)
    except (ModelFileError, ExportError, DataFileError, BackendError, FileNotFoundError, ValueError) as exc:
        print(f"depth-core {args.command}: error: {exc}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
