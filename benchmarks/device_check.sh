#!/usr/bin/env bash
# One short GPU session's checks, run from the repository root on a GPU machine whose python3 has
# torch (CUDA), numpy, scipy, opencv, onnx and onnxruntime (no setup needed: PYTHONPATH=.):
# what GPU stack is there, our CUDA buffer helper (the TensorRT backend's device memory) round
# trip, the GPU benchmark, and the inference tests. Results go to ${OUT:-/tmp/device_check}.
set -uo pipefail
out="${OUT:-/tmp/device_check}"; mkdir -p "$out"
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1 DEPTH_ROS_CACHE=/tmp/depth_ros_cache
py="${PYTHON:-python3}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
$py -c "import torch, onnxruntime as o; print('torch', torch.__version__, 'cuda', torch.version.cuda, '| onnxruntime', o.__version__, o.get_available_providers())"
$py -c "import tensorrt as t; print('tensorrt', t.__version__)" 2>&1 | tail -1
echo "libnvinfer entries: $(ldconfig -p | grep -c nvinfer)"
$py - <<'PY'
import numpy as np
from depth_core.inference.tensorrt_backend import _TorchCuda, tensorrt_unavailable
cuda = _TorchCuda()
a = np.random.default_rng(0).random((1, 3, 352, 1216), dtype=np.float32)
host, dev, back = cuda.host_empty(a.shape, a.dtype), cuda.device_empty(a.shape, a.dtype), cuda.host_empty(a.shape, a.dtype)
np.copyto(cuda.host_view(host), a); cuda.upload(host, dev); cuda.download(dev, back); cuda.synchronize()
print("CUDA buffer helper:", cuda.properties(), "round trip exact:", np.array_equal(cuda.host_view(back), a),
      "pointer and stream set:", cuda.ptr(dev) != 0 and cuda.stream_handle() != 0)
print("tensorrt_unavailable():", tensorrt_unavailable())
PY
timeout 240 $py benchmarks/bench_gpu.py --backends "${BACKENDS:-torch,onnxruntime,tensorrt-fp32,tensorrt-fp16,tensorrt-int8}" \
    --runs "${RUNS:-200}" --warmup 20 --calibration-frames 6 --out "$out/gpu.md" 2>&1 | tail -20
timeout 300 $py -m pytest -q -p no:cacheprovider tests/core/test_tensorrt.py tests/core/test_inference.py \
    tests/core/test_export.py 2>&1 | tail -25
