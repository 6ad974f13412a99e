#!/usr/bin/env bash
# The Quick start's main job: simulate a drive as a rosbag, replay it through san_node's frame
# pipeline with the default model (and the classical baseline), and print the summary table and
# where the report is. Run scripts/setup.sh first.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bin=.venv/bin
"$bin/depth-ros-sim" --out runs/demo_bag --frames 30 --scene street --seed 100 --overwrite --quiet
"$bin/depth-ros-eval" runs/demo_bag --image-topic /camera/image_raw --camera-info-topic /camera/camera_info \
  --lidar-topic /lidar/points --model default --out runs/demo_eval --overwrite --quiet
