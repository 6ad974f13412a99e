"""Launch san_node for image-only depth (models without a LiDAR input, e.g. densedepth, fusanet,
structure_aware, decomposition; or a SAN model on a robot without LiDAR).

    ros2 launch depth_ros image_only.launch.py image:=/camera/image_raw \
        camera_info:=/camera/camera_info model:=densedepth
"""

import os

from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration

from launch import LaunchDescription

ARGUMENTS = {
    "namespace": ("", "namespace of the node and its topics"),
    "params_file": ("", "parameter YAML (default: the package's config/san.yaml)"),
    "model": ("", "registry name or model file (empty: the parameter file's)"),
    "backend": ("", "auto | tensorrt | onnxruntime | torch (empty: the parameter file's)"),
    "image": ("image", "input image topic"),
    "camera_info": ("camera_info", "input camera_info topic"),
    "use_sim_time": ("", "true: follow /clock, as when replaying a bag with `ros2 bag play --clock` (empty: false)"),
}


def generate_launch_description() -> LaunchDescription:
    args = [DeclareLaunchArgument(name, default_value=default, description=doc)
            for name, (default, doc) in ARGUMENTS.items()]
    san = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(os.path.dirname(__file__), "san.launch.py")),
        launch_arguments={**{name: LaunchConfiguration(name) for name in ARGUMENTS}, "use_lidar": "false"}.items())
    return LaunchDescription([*args, san])
