"""TensorRT deployment: the engine sidecar and rebuild policy, INT8 calibration sets, the
package importing without TensorRT, and the errors users get. The policy tests run everywhere,
with stand-ins for TensorRT's builder and engine loader passed in; the ones that build and run
engines need TensorRT 10 and a CUDA GPU and skip without them, saying so."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import cv2
import numpy as np
import pytest

from depth_core.inference import (
    BackendError,
    CalibrationError,
    CalibrationSet,
    CorruptEngineError,
    EngineError,
    EngineSpec,
    Platform,
    StaleEngineError,
    load_estimator,
)
from depth_core.inference.tensorrt import (
    cached_engine,
    open_cached_engine,
    open_engine,
    profile_shapes,
    tensorrt_unavailable,
)
from depth_core.inference.tensorrt.engine_cache import (
    engine_file_name,
    expected_build_seconds,
    file_sha256,
    read_sidecar,
    record_build_seconds,
    sidecar_path,
    verify_engine,
    write_sidecar,
)

TRT_MISSING = tensorrt_unavailable()
needs_tensorrt = pytest.mark.skipif(TRT_MISSING is not None, reason=f"needs TensorRT and a CUDA GPU: {TRT_MISSING}")
without_tensorrt = pytest.mark.skipif(TRT_MISSING is None, reason="TensorRT is usable here: this checks its absence")

HERE = Platform(gpu_name="NVIDIA H200", compute_capability="9.0", tensorrt_version="10.16.1.11")
SHAPES = profile_shapes(["image", "sparse_depth"], (192, 640))
SPEC = EngineSpec(onnx_sha256="a" * 64, precision="fp16", shapes=SHAPES)


def _engine(tmp_path, spec=SPEC, platform=HERE, data=b"\x01serialized engine\x02" * 100):
    """An engine file and its sidecar as build-engine writes them. The bytes stand for a serialized
    engine: the policy under test only hashes them."""
    path = tmp_path / "model.engine"
    path.write_bytes(data)
    write_sidecar(path, spec, platform, model_config={"name": "san_resnet18"}, onnx_path=None, build_seconds=42.0)
    return path


def test_sidecar_records_the_build_and_a_matching_engine_passes(tmp_path):
    path = _engine(tmp_path)
    record = verify_engine(path, HERE, SPEC)
    assert record == read_sidecar(path)
    assert sidecar_path(path).name == "model.engine.json"
    assert record["engine_sha256"] == file_sha256(path) and record["engine_bytes"] == path.stat().st_size
    assert (record["gpu_name"], record["compute_capability"], record["tensorrt_version"]) == \
        ("NVIDIA H200", "9.0", "10.16.1.11")
    assert record["precision"] == "fp16" and record["shapes"]["image"] == [[1, 3, 192, 640]] * 3
    assert record["build_seconds"] == 42.0


@pytest.mark.parametrize("field, other", [
    ("gpu_name", Platform("NVIDIA GeForce RTX 4090", "9.0", "10.16.1.11")),
    ("compute_capability", Platform("NVIDIA H200", "8.9", "10.16.1.11")),
    ("tensorrt_version", Platform("NVIDIA H200", "9.0", "10.8.0.43")),
])
def test_an_engine_built_for_another_gpu_or_tensorrt_never_passes(tmp_path, field, other):
    path = _engine(tmp_path)
    with pytest.raises(StaleEngineError, match=f"built for another setup \\({field}: built for") as info:
        verify_engine(path, other)
    assert [d[0] for d in info.value.differences] == [field]
    assert info.value.differences[0][1] == getattr(HERE, field)
    assert info.value.differences[0][2] == getattr(other, field)


@pytest.mark.parametrize("field, wanted", [
    ("onnx_sha256", EngineSpec(onnx_sha256="b" * 64, precision="fp16", shapes=SHAPES)),
    ("precision", EngineSpec(onnx_sha256="a" * 64, precision="fp32", shapes=SHAPES)),
    ("shapes", EngineSpec(onnx_sha256="a" * 64, precision="fp16",
                          shapes=profile_shapes(["image", "sparse_depth"], (352, 1216)))),
    ("calibration", EngineSpec(onnx_sha256="a" * 64, precision="int8", shapes=SHAPES, calibration="c" * 64)),
])
def test_an_engine_of_another_graph_precision_or_shape_is_stale(tmp_path, field, wanted):
    path = _engine(tmp_path)
    with pytest.raises(StaleEngineError) as info:
        verify_engine(path, HERE, wanted)
    assert field in [d[0] for d in info.value.differences]


def test_a_corrupt_or_truncated_engine_is_caught_before_tensorrt_sees_it(tmp_path):
    path = _engine(tmp_path)
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptEngineError, match="model.engine: the file's contents do not match its sidecar"):
        verify_engine(path, HERE)
    path.write_bytes(bytes(data[:50]))
    with pytest.raises(CorruptEngineError, match="50 bytes"):
        verify_engine(path, HERE)


def test_an_engine_without_a_readable_sidecar_is_refused(tmp_path):
    path = tmp_path / "foreign.engine"
    path.write_bytes(b"built elsewhere by trtexec")
    with pytest.raises(EngineError, match="foreign.engine: no sidecar foreign.engine.json"):
        verify_engine(path, HERE)
    sidecar_path(path).write_text("{not json")
    with pytest.raises(EngineError, match="foreign.engine.json: unreadable engine sidecar"):
        verify_engine(path, HERE)
    sidecar_path(path).write_text(json.dumps({"format": "depth_ros-engine", "version": 99}))
    with pytest.raises(EngineError, match="sidecar version 99"):
        verify_engine(path, HERE)
    sidecar_path(path).write_text(json.dumps({"format": "depth_ros-engine", "version": 1, "gpu_name": "x"}))
    with pytest.raises(EngineError, match="sidecar lacks engine_sha256"):
        verify_engine(path, HERE)
    with pytest.raises(FileNotFoundError, match="missing.engine: engine file not found"):
        verify_engine(tmp_path / "missing.engine", HERE)


def test_the_engine_cache_key_changes_with_everything_an_engine_depends_on():
    name = engine_file_name("san_resnet18", SPEC, HERE)
    assert name.startswith("san_resnet18_fp16_640x192_") and name.endswith(".engine")
    assert engine_file_name("san_resnet18", EngineSpec("a" * 64, "fp16", json.loads(json.dumps(SHAPES))), HERE) == name
    others = [
        engine_file_name("san_resnet18", SPEC, Platform("NVIDIA A100-SXM4-80GB", "8.0", "10.16.1.11")),
        engine_file_name("san_resnet18", SPEC, Platform("NVIDIA H200", "9.0", "10.16.0.72")),
        engine_file_name("san_resnet18", EngineSpec("b" * 64, "fp16", SHAPES), HERE),
        engine_file_name("san_resnet18", EngineSpec("a" * 64, "fp32", SHAPES), HERE),
        engine_file_name("san_resnet18", EngineSpec("a" * 64, "int8", SHAPES, calibration="c" * 64), HERE),
        engine_file_name("san_resnet18", EngineSpec("a" * 64, "fp16", profile_shapes(["image"], (192, 640))), HERE),
    ]
    assert len({name, *others}) == 1 + len(others)
    dynamic = EngineSpec("a" * 64, "fp16", profile_shapes(["image"], None, opt=(192, 640)))
    assert dynamic.dynamic and "_dynamic_" in engine_file_name("m", dynamic, HERE)
    assert dynamic.describe() == "FP16 at 64x64..2048x1088 (opt 640x192)"


def test_engine_spec_and_profile_validation():
    with pytest.raises(ValueError, match="an INT8 engine needs a calibration set"):
        EngineSpec("a" * 64, "int8", SHAPES)
    with pytest.raises(ValueError, match="precision: expected one of fp32, fp16, int8, got 'fp64'"):
        EngineSpec("a" * 64, "fp64", SHAPES)
    with pytest.raises(EngineError, match="ONNX inputs \\['mask'\\] are not depth_ros inputs"):
        profile_shapes(["image", "mask"], (192, 640))
    with pytest.raises(ValueError, match="4000x3000 is outside 64x64..2048x1088"):
        profile_shapes(["image"], None, opt=(3000, 4000))
    shapes = profile_shapes(["image", "sparse_depth"], None, opt=(192, 640), min_size=(96, 320), max_size=(384, 1280))
    assert shapes["sparse_depth"] == [[1, 1, 96, 320], [1, 1, 192, 640], [1, 1, 384, 1280]]


def test_the_rebuild_log_line_quotes_the_time_the_last_build_took(tmp_path):
    history = tmp_path / "build_times.json"
    assert expected_build_seconds("fp16", None, history) == 120.0          # nothing known: first-build estimate
    assert expected_build_seconds("fp16", {"precision": "fp16", "build_seconds": 75.0}, history) == 75.0
    record_build_seconds(history, "fp16", 33.3)
    record_build_seconds(history, "int8", 200.0)
    assert expected_build_seconds("fp16", {"precision": "fp16", "build_seconds": 75.0}, history) == 33.3
    assert expected_build_seconds("int8", None, history) == 200.0
    history.write_text("{broken")
    assert expected_build_seconds("fp32", None, history) == 60.0


def test_engine_cache_builds_once_reuses_and_rebuilds_stale_or_corrupt_engines(tmp_path, caplog):
    builds = []
    build = _standin_build(builds)

    def run(**kw):
        build.platform = platform
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="depth_core.inference"):
            path = cached_engine(onnx, SPEC, model_name="san_resnet18", model_config={"name": "san_resnet18"},
                                 cache=tmp_path / "cache", platform=platform, build=build, **kw)
        return path, " | ".join(r.getMessage() for r in caplog.records)

    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"graph")
    platform = HERE
    path, log = run()
    assert path.parent == tmp_path / "cache" / "engines" and path.name == engine_file_name("san_resnet18", SPEC, HERE)
    assert "building a TensorRT FP16 at 640x192 engine of san_resnet18 for NVIDIA H200 (sm 9.0), TensorRT " \
           "10.16.1.11 because no engine yet: this takes about 2 min, once" in log
    assert run() == (path, f"using TensorRT engine {path} (FP16 at 640x192, {HERE.describe()})")
    assert len(builds) == 1

    # Another TensorRT: the cache key differs, so the cached engine is never picked up.
    platform = Platform("NVIDIA H200", "9.0", "10.8.0.43")
    other, log = run()
    assert other != path and len(builds) == 2 and "because no engine yet" in log

    # A fixed engine path (as a launch file names one): stale, corrupt or forced means rebuilt.
    fixed = tmp_path / "robot.engine"
    platform = HERE
    run(engine_path=fixed)
    platform = Platform("NVIDIA RTX A2000", "8.6", "10.16.1.11")
    _, log = run(engine_path=fixed)
    assert "because the existing one was built for another setup (gpu_name: built for NVIDIA H200, here NVIDIA " \
           "RTX A2000; compute_capability: built for 9.0, here 8.6): this takes about 75 s" in log
    verify_engine(fixed, platform, SPEC)
    fixed.write_bytes(b"half an engine")
    _, log = run(engine_path=fixed)
    assert "because the existing one cannot be used" in log and "do not match its sidecar" in log
    _, log = run(engine_path=fixed, force=True)
    assert "because a rebuild was asked for" in log
    assert len(builds) == 6


def _standin_build(builds):
    """Stands in for TensorRT's builder (absent here): writes an engine file and its sidecar, as
    build_engine does, for the platform it is given."""
    def build(onnx_path, path, spec, *, model_config, cache, calibration=None, **_):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"engine {len(builds)}".encode() * 50)
        write_sidecar(path, spec, build.platform, model_config=model_config, onnx_path=onnx_path, build_seconds=75.0,
                      calibration_source=calibration and str(calibration.source),
                      calibration_samples=calibration and calibration.samples)
        builds.append(path)
    return build


def _verifying_opener(path, platform):
    """What TensorRTBackend checks before TensorRT sees the file."""
    return verify_engine(path, platform)


def test_a_cached_engine_tensorrt_cannot_load_is_built_anew_once(tmp_path, caplog):
    """Its sidecar matches, yet TensorRT refuses the bytes (a driver update, a bad disk): one
    rebuild, saying why; a second refusal is the user's error, not a rebuild loop."""
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"graph")
    builds, opened = [], []
    build = _standin_build(builds)
    build.platform = HERE

    def opener(path, platform):
        opened.append(path)
        if len(opened) <= refusals:
            raise CorruptEngineError(f"{path}: TensorRT cannot deserialize it")
        return verify_engine(path, platform)

    kw = {"model_name": "san_resnet18", "model_config": {"name": "san_resnet18"}, "cache": tmp_path / "cache",
          "platform": HERE, "build": build, "opener": opener}
    refusals = 1
    with caplog.at_level(logging.INFO, logger="depth_core.inference"):
        record = open_cached_engine(onnx, SPEC, **kw)
    assert record["gpu_name"] == HERE.gpu_name and len(builds) == 2 and len(opened) == 2
    assert any("because " + str(opened[0]) + ": TensorRT cannot deserialize it" in r.getMessage()
               for r in caplog.records)
    refusals, opened[:] = 2, []
    with pytest.raises(CorruptEngineError):
        open_cached_engine(onnx, SPEC, **kw)
    assert len(opened) == 2 and len(builds) == 3


def test_a_users_stale_engine_is_rebuilt_from_its_onnx_graph_or_refused(tmp_path, caplog):
    onnx = tmp_path / "san.onnx"
    onnx.write_bytes(b"the graph")
    spec = EngineSpec(file_sha256(onnx), "fp16", SHAPES)
    engine = tmp_path / "san.engine"
    engine.write_bytes(b"built on the lab machine" * 10)
    write_sidecar(engine, spec, HERE, model_config={"name": "san_resnet18"}, onnx_path=onnx)
    builds = []
    build = _standin_build(builds)
    robot = Platform("Orin (nvgpu)", "8.7", "10.3.0")
    build.platform = robot

    # Matching: opened as it is.
    assert open_engine(engine, platform=HERE, build=build, opener=_verifying_opener)["gpu_name"] == HERE.gpu_name
    assert builds == []
    # On the robot: rebuilt in place from the graph the sidecar names, saying why.
    with caplog.at_level(logging.INFO, logger="depth_core.inference"):
        record = open_engine(engine, platform=robot, cache=tmp_path / "cache", build=build, opener=_verifying_opener)
    assert builds == [engine] and record["gpu_name"] == "Orin (nvgpu)" and record["tensorrt_version"] == "10.3.0"
    line = next(r.getMessage() for r in caplog.records if "building a TensorRT" in r.getMessage())
    assert "san.engine: built for another setup (gpu_name: built for NVIDIA H200, here Orin (nvgpu)" in line
    # Its graph changed since: refused, with the command that rebuilds it, and nothing built.
    onnx.write_bytes(b"another graph")
    with pytest.raises(EngineError, match="not available unchanged to rebuild it automatically: rebuild it here: "
                                          "depth-core build-engine --model .*san.onnx --precision fp16 --out"):
        open_engine(engine, platform=HERE, build=build, opener=_verifying_opener)
    # Corrupt bytes: the same.
    engine.write_bytes(b"truncated")
    with pytest.raises(EngineError, match="do not match its sidecar.*not available unchanged"):
        open_engine(engine, platform=robot, build=build, opener=_verifying_opener)
    assert len(builds) == 1


def test_a_users_stale_int8_engine_needs_its_calibration_set_unchanged(tmp_path):
    onnx = tmp_path / "san.onnx"
    onnx.write_bytes(b"the graph")
    images = tmp_path / "calib"
    images.mkdir()
    for i in range(2):
        cv2.imwrite(str(images / f"{i}.png"), np.full((96, 320, 3), 40 * i, np.uint8))
    calib = CalibrationSet(images, 192, 640, samples=2, sparse=True)
    spec = EngineSpec(file_sha256(onnx), "int8", SHAPES, calibration=calib.fingerprint())
    engine = tmp_path / "san.engine"
    engine.write_bytes(b"int8 engine" * 10)
    write_sidecar(engine, spec, HERE, model_config={"name": "san_resnet18"}, onnx_path=onnx,
                  calibration_source=str(images), calibration_samples=2)
    builds = []
    build = _standin_build(builds)
    build.platform = robot = Platform("NVIDIA H200", "9.0", "10.16.0.72")
    assert open_engine(engine, platform=robot, cache=tmp_path / "c", build=build, opener=_verifying_opener)
    assert builds == [engine]                       # same images, same samples: same fingerprint, rebuilt
    cv2.imwrite(str(images / "1.png"), np.full((96, 320, 3), 200, np.uint8))
    with pytest.raises(EngineError, match="its INT8 calibration set has changed since"):
        open_engine(engine, platform=HERE, build=build, opener=_verifying_opener)
    (images / "0.png").unlink()
    (images / "1.png").unlink()
    with pytest.raises(EngineError, match="its INT8 calibration set is gone"):
        open_engine(engine, platform=HERE, build=build, opener=_verifying_opener)


# --- calibration sets ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def frame_set(tmp_path_factory):
    from depth_core.data import write_simulated_dataset

    root = tmp_path_factory.mktemp("calib") / "frames"
    write_simulated_dataset(root, ["street"], 6, seed=3, width=320, height=96, progress=False)
    return root


def test_a_frame_set_calibrates_both_modes_at_the_network_size(frame_set):
    calib = CalibrationSet(frame_set, 64, 160, samples=4)
    assert len(calib) == 4 and calib.kind == "frame set"
    samples = list(calib)
    for image, sparse in samples:
        assert image.shape == (1, 3, 64, 160) and image.dtype == np.float32 and 0 <= image.min() <= image.max() <= 1
        assert sparse.shape == (1, 1, 64, 160) and sparse.dtype == np.float32
    # every other sample without its LiDAR: prediction-mode ranges are calibrated too
    assert [bool(np.any(s > 0)) for _, s in samples] == [True, False, True, False]
    assert all(not np.any(s > 0) for _, s in CalibrationSet(frame_set, 64, 160, samples=4, sparse=False))
    assert "every other one without LiDAR" in calib.describe()


def test_an_image_folder_calibrates_prediction_and_its_fingerprint_follows_the_data(tmp_path):
    folder = tmp_path / "images"
    (folder / "day").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(folder / "day" / f"{i}.png"), rng.integers(0, 255, (120, 200, 3), dtype=np.uint8))
    calib = CalibrationSet(folder, 64, 160)
    assert len(calib) == 3 and calib.kind == "image folder"
    assert all(image.shape == (1, 3, 64, 160) and not sparse.any() for image, sparse in calib)
    first = calib.fingerprint()
    assert CalibrationSet(folder, 64, 160).fingerprint() == first
    assert CalibrationSet(folder, 96, 320).fingerprint() != first                     # another input size
    cv2.imwrite(str(folder / "day" / "1.png"), rng.integers(0, 255, (120, 200, 3), dtype=np.uint8))
    assert CalibrationSet(folder, 64, 160).fingerprint() != first                     # other pixels


def test_a_missing_calibration_set_is_a_clear_error(tmp_path):
    # (None is the built-in simulated set: tests/core/test_int8.py.)
    with pytest.raises(CalibrationError, match="nowhere: calibration set not found"):
        CalibrationSet(tmp_path / "nowhere", 192, 640)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CalibrationError, match="empty: no .png or .jpg images"):
        CalibrationSet(tmp_path / "empty", 192, 640)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "dataset.json").write_text("{")
    with pytest.raises(CalibrationError, match="calibration set: .*dataset.json: not valid JSON"):
        CalibrationSet(tmp_path / "broken", 192, 640)
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(CalibrationError, match="expected a folder"):
        CalibrationSet(tmp_path / "file.png", 192, 640)


# --- what users see without TensorRT ---------------------------------------------------------

@pytest.mark.slow
def test_the_package_imports_without_importing_tensorrt():
    code = ("import sys, depth_core.inference, depth_core.inference.tensorrt; "
            "print(sorted(m for m in ('tensorrt', 'pycuda') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "[]", run.stderr


@without_tensorrt
def test_asking_for_tensorrt_where_it_is_missing_says_how_to_get_it():
    with pytest.raises(BackendError, match="TensorRT is not available here: .*depth_ros\\[tensorrt\\]"):
        load_estimator("san_resnet18", "tensorrt", pretrained=False)


@without_tensorrt
def test_an_engine_file_where_tensorrt_is_missing_is_refused_naming_it(tmp_path):
    path = _engine(tmp_path)
    with pytest.raises(BackendError, match="model.engine: TensorRT is not available here"):
        load_estimator(str(path))


def test_an_engine_file_runs_only_on_the_tensorrt_backend(tmp_path):
    path = _engine(tmp_path)
    with pytest.raises(BackendError, match="a TensorRT engine runs only on the tensorrt backend, not 'onnxruntime'"):
        load_estimator(str(path), "onnxruntime")


def test_a_bad_int8_calibration_set_fails_before_anything_slow(tmp_path):
    with pytest.raises(CalibrationError, match="absent: calibration set not found"):
        load_estimator("san_resnet18", "tensorrt", pretrained=False, precision="int8", calibration=tmp_path / "absent")
    with pytest.raises(ValueError, match="precision: expected one of auto, fp32, fp16, int8"):
        load_estimator("san_resnet18", "tensorrt", pretrained=False, precision="half")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "depth_core.cli", "build-engine", *args],
                          capture_output=True, text=True, timeout=300)


def test_build_engine_command_line_errors(tmp_path, in_process):
    from depth_core.cli import main

    def build_engine(*args):
        code, _, err = in_process(main, ["build-engine", *args])
        return code, err

    if tensorrt_unavailable() is not None:   # INT8 without --calibration: the built-in set, once TensorRT is there
        code, err = build_engine("--precision", "int8", "--no-pretrained")
        assert code == 2 and "TensorRT is not available here" in err
    code, err = build_engine("--precision", "int8", "--calibration", str(tmp_path / "absent"), "--no-pretrained")
    assert code == 2 and f"error: {tmp_path / 'absent'}: calibration set not found" in err
    code, err = build_engine("--dynamic", "--input-size", "640x192", "--no-pretrained")
    assert code == 2 and "give an input size or a dynamic profile, not both" in err
    code, err = build_engine("--max-size", "1280x384", "--no-pretrained")
    assert code == 2 and "min/opt/max sizes describe a dynamic profile" in err
    engine = _engine(tmp_path)
    code, err = build_engine("--model", str(engine))
    assert code == 2 and "already an engine" in err


@pytest.mark.slow
@without_tensorrt
def test_build_engine_without_tensorrt_says_so(tmp_path):
    run = _cli("--no-pretrained", "--out", str(tmp_path / "x.engine"))
    assert run.returncode == 2, run.stderr
    assert "depth-core build-engine: error: TensorRT is not available here" in run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "x.engine").exists()


# --- on a GPU with TensorRT ------------------------------------------------------------------

def _frame(h=192, w=640, seed=0):
    rng = np.random.default_rng(seed)
    rgb = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), (0, 0), 3)
    K = np.array([[0.58 * w, 0, w / 2 - 0.5], [0, 0.58 * w, h / 2 - 0.5], [0, 0, 1]])
    sparse = np.zeros((h, w), np.float32)
    rows, cols = rng.integers(h // 3, h, 3000), rng.integers(0, w, 3000)
    sparse[rows, cols] = rng.uniform(2, 60, 3000)
    return rgb, K, sparse


def _median_rel(a, b):
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.median(np.abs(a[ok] - b[ok]) / b[ok]))


@needs_tensorrt
@pytest.mark.parametrize("precision, tolerance", [("fp32", 1e-3), ("fp16", 1e-2)])
def test_tensorrt_engine_matches_torch(tmp_path, precision, tolerance):
    rgb, K, sparse = _frame()
    reference = load_estimator("default", "torch")
    engine = load_estimator("default", "tensorrt", precision=precision, cache=tmp_path)
    assert engine.backend.name == "tensorrt" and precision.upper() in engine.description
    for sp in (None, sparse):
        want, got = reference.predict(rgb, K, sp), engine.predict(rgb, K, sp)
        assert got.mode == want.mode
        assert _median_rel(got.depth, want.depth) < tolerance
    engine.close()
    with pytest.raises(BackendError, match="was closed"):
        engine.predict(rgb, K, sparse)


@needs_tensorrt
def test_engine_cache_reuses_then_rebuilds_a_stale_engine(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="depth_core.inference"):
        first = load_estimator("default", "tensorrt", precision="fp32", cache=tmp_path)
        path = first.backend.path
        built = path.stat().st_mtime_ns
        load_estimator("default", "tensorrt", precision="fp32", cache=tmp_path)
        assert path.stat().st_mtime_ns == built
        assert any("using TensorRT engine" in r.getMessage() for r in caplog.records)
        record = json.loads(sidecar_path(path).read_text())
        record["tensorrt_version"] = "10.0.0.1"     # as if built by another TensorRT
        sidecar_path(path).write_text(json.dumps(record))
        caplog.clear()
        again = load_estimator("default", "tensorrt", precision="fp32", cache=tmp_path)
    rebuild = next(r.getMessage() for r in caplog.records if "building a TensorRT" in r.getMessage())
    assert "tensorrt_version: built for 10.0.0.1" in rebuild and "this takes about" in rebuild
    assert again.backend.path == path and path.stat().st_mtime_ns != built
    verify_engine(path, again.backend.platform)


@needs_tensorrt
def test_a_user_engine_that_is_stale_or_corrupt_is_rebuilt_from_its_onnx_or_refused(tmp_path):
    from depth_core.inference import build_model_engine

    out = tmp_path / "san.engine"
    build_model_engine("default", precision="fp16", out=out, cache=tmp_path / "cache")
    rgb, K, sparse = _frame()
    good = load_estimator(str(out)).predict(rgb, K, sparse).depth

    # Bytes that TensorRT rejects, with a sidecar that vouches for them: deserialization fails,
    # the engine is rebuilt from the ONNX graph the sidecar names.
    out.write_bytes(b"\0" * 4096)
    record = json.loads(sidecar_path(out).read_text())
    record.update(engine_sha256=file_sha256(out), engine_bytes=4096)
    sidecar_path(out).write_text(json.dumps(record))
    rebuilt = load_estimator(str(out), cache=tmp_path / "cache")
    assert _median_rel(rebuilt.predict(rgb, K, sparse).depth, good) < 1e-2

    # Without its ONNX graph a stale engine cannot be rebuilt: refused, never run.
    record = json.loads(sidecar_path(out).read_text())
    (tmp_path / "other.onnx").write_bytes(b"")
    record.update(gpu_name="another GPU", onnx_path=str(tmp_path / "other.onnx"))
    sidecar_path(out).write_text(json.dumps(record))
    with pytest.raises(EngineError, match="gpu_name: built for another GPU.*not available unchanged"):
        load_estimator(str(out))


@needs_tensorrt
def test_int8_engine_calibrates_on_a_frame_set_and_runs(tmp_path, frame_set):
    rgb, K, sparse = _frame()
    est = load_estimator("default", "tensorrt", precision="int8", calibration=frame_set, cache=tmp_path)
    depth = est.predict(rgb, K, sparse).depth
    assert np.isfinite(depth).mean() > 0.9
    assert any((tmp_path / "calibration").iterdir())    # ranges kept for the next build


@needs_tensorrt
def test_dynamic_profile_runs_any_size_inside_it_and_refuses_others(tmp_path):
    est = load_estimator("default", "tensorrt", precision="fp16", input_size="native", cache=tmp_path)
    for h, w in ((192, 640), (352, 1216)):
        rgb, K, sparse = _frame(h, w)
        assert est.predict(rgb, K, sparse).depth.shape == (h, w)
    rgb, K, _ = _frame(1200, 2200)
    with pytest.raises(BackendError, match="outside the engine's profile"):
        est.predict(rgb, K)


def test_layers_that_run_in_float32_stay_float32_in_an_fp16_engine(tmp_path):
    """The default's plane fill is half-precision-unsafe (centred moments). Its ONNX name scope is
    stored in the exported graph, and the engine builder pins exactly the floating-point layers
    under it to float32 (TensorRT's network and types stood in for: TensorRT cannot run here)."""
    from types import SimpleNamespace

    import onnx

    from depth_core.export import export_onnx, onnx_float32_scopes
    from depth_core.inference import DEFAULT_MODEL
    from depth_core.inference.tensorrt.build import pin_float32
    from depth_core.models import create_model

    path = export_onnx(create_model(DEFAULT_MODEL), tmp_path / "default.onnx")
    scopes = onnx_float32_scopes(path)
    assert scopes == ["/model/plane/"]
    names = [n.name for n in onnx.load(str(path)).graph.node]
    assert any(n.startswith("/model/plane/") and "Conv" in n for n in names)   # the scope names real layers
    assert onnx_float32_scopes(export_onnx(create_model("san_resnet18", san_channels=[8, 8, 16, 16, 32]),
                                           tmp_path / "r18.onnx", height=64, width=96)) == []

    trt = SimpleNamespace(float32="float32", float16="float16", bool="bool", int64="int64")

    class Layer:
        def __init__(self, name, *dtypes):
            self.name, self.dtypes, self.precision, self.types = name, dtypes, None, {}
            self.num_outputs = len(dtypes)

        def get_output(self, j):
            return SimpleNamespace(dtype=self.dtypes[j])

        def set_output_type(self, j, dtype):
            self.types[j] = dtype

    layers = [Layer("/model/encoder/stem/Conv", "float32"), Layer("/model/plane/Conv", "float32"),
              Layer("/model/plane/Greater", "bool"), Layer("/model/plane/Shape", "int64"),
              Layer("/model/plane/Div_3", "float32")]
    network = SimpleNamespace(num_layers=len(layers), get_layer=layers.__getitem__)
    assert pin_float32(trt, network, scopes) == ["/model/plane/Conv", "/model/plane/Div_3"]
    assert [layer.precision for layer in layers] == [None, "float32", None, None, "float32"]
    assert layers[1].types == {0: "float32"} and layers[2].types == {} and layers[0].types == {}
    assert pin_float32(trt, network, []) == []
