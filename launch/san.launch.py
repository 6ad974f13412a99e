"""Placeholder until san_node exists: declares the launch arguments of the design and says so.

Usage (once built with colcon): ros2 launch depth_ros san.launch.py
"""

from launch.actions import DeclareLaunchArgument, LogInfo
from launch.substitutions import LaunchConfiguration

from launch import LaunchDescription

ARGUMENTS = {
    "namespace": ("", "namespace of the node and its topics"),
    "params_file": ("", "parameter YAML (default: the package's config/san.yaml)"),
    "model": ("default", "registry name, 'default', 'classical', or a model file"),
    "backend": ("auto", "auto | tensorrt | onnxruntime | torch | classical"),
    "use_lidar": ("true", "use LiDAR points when they arrive (depth completion)"),
}


def generate_launch_description() -> LaunchDescription:
    actions = [DeclareLaunchArgument(name, default_value=default, description=doc)
               for name, (default, doc) in ARGUMENTS.items()]
    actions.append(LogInfo(msg=["depth_ros: san_node is not implemented yet (model=",
                                LaunchConfiguration("model"), ", backend=", LaunchConfiguration("backend"), ")"]))
    return LaunchDescription(actions)
