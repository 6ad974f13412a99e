#!/usr/bin/env bash
# One short GPU session's checks, run from the repository root on a GPU machine whose python3 has
# torch (CUDA), numpy, scipy, opencv, onnx and onnxruntime (no setup needed: PYTHONPATH=.):
# what GPU stack is there, our CUDA buffer helpers (the TensorRT backend's device memory, through
# torch and through pycuda when importable) round trip, the GPU benchmark, and the inference tests.
# Results go to ${OUT:-/tmp/device_check}.
set -uo pipefail
out="${OUT:-/tmp/device_check}"; mkdir -p "$out"
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1 DEPTH_ROS_CACHE=/tmp/depth_ros_cache
py="${PYTHON:-python3}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
$py -c "import torch, onnxruntime as o; print('torch', torch.__version__, 'cuda', torch.version.cuda, '| onnxruntime', o.__version__, o.get_available_providers())"
$py -c "import tensorrt as t; print('tensorrt', t.__version__)" 2>&1 | tail -1
echo "libnvinfer entries: $(ldconfig -p | grep -c nvinfer)"
$py - <<'PY'
import threading

import numpy as np

from depth_core.inference import BackendError
from depth_core.inference.tensorrt.cuda import PyCuda, TorchCuda, tensorrt_unavailable

# The TensorRT backend's device memory: pinned host and device buffers, uploads and downloads on
# its own stream, from the main thread and from a worker thread (as san_node's inference thread).
a = np.random.default_rng(0).random((1, 3, 352, 1216), dtype=np.float32)
for api in (TorchCuda, PyCuda):
    try:
        cuda = api()
    except BackendError as exc:
        print(f"{api.__name__}: not available: {exc}")
        continue

    def trip(cuda=cuda):
        cuda.enter()
        try:
            host, dev, back = (cuda.host_empty(a.shape, a.dtype), cuda.device_empty(a.shape, a.dtype),
                               cuda.host_empty(a.shape, a.dtype))
            np.copyto(cuda.host_view(host), a)
            cuda.upload(host, dev)
            cuda.download(dev, back)
            cuda.synchronize()
            print(f"{api.__name__} {cuda.properties()} on {threading.current_thread().name}: round trip exact "
                  f"{np.array_equal(cuda.host_view(back), a)}, pointer and stream set "
                  f"{cuda.ptr(dev) != 0 and cuda.stream_handle() != 0}")
            del host, dev, back   # freed inside the context (pycuda warns otherwise)
        finally:
            cuda.leave()

    trip()
    worker = threading.Thread(target=trip, name="worker")
    worker.start()
    worker.join()
print("tensorrt_unavailable():", tensorrt_unavailable())
PY
timeout 240 $py benchmarks/bench_gpu.py --backends "${BACKENDS:-torch,onnxruntime,tensorrt-fp32,tensorrt-fp16,tensorrt-int8}" \
    --runs "${RUNS:-200}" --warmup 20 --calibration-frames 6 --out "$out/gpu.md" 2>&1 | tail -20
timeout 300 $py -m pytest -q -p no:cacheprovider tests/core/test_tensorrt.py tests/core/test_estimator.py \
    tests/core/test_loading.py tests/core/test_backends.py tests/core/test_export.py 2>&1 | tail -25
