"""Launch san_node: dense depth and pseudo-LiDAR from a camera (+ LiDAR).

    ros2 launch depth_ros san.launch.py image:=/camera/image_raw camera_info:=/camera/camera_info \
        lidar:=/velodyne_points model:=default backend:=auto use_lidar:=true

model, backend, use_lidar and use_sim_time given here override the parameter file (params_file:=, default the
package's config/san.yaml); left out, the file's values stand.

Sets the Fast DDS large-message profile for the node unless you have chosen your own.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from depth_ros.nodes.launch_overrides import OVERRIDABLE, parameter_overrides
from launch import LaunchDescription

ARGUMENTS = {
    "namespace": ("", "namespace of the node and its topics"),
    "params_file": ("", "parameter YAML (default: the package's config/san.yaml)"),
    "model": ("", "registry name, 'default', 'classical', or a model file (empty: the parameter file's)"),
    "backend": ("", "auto | tensorrt | onnxruntime | torch | classical (empty: the parameter file's)"),
    "use_lidar": ("", "true | false: use LiDAR points when they arrive (empty: the parameter file's)"),
    "use_sim_time": ("", "true: follow /clock, as when replaying a bag with `ros2 bag play --clock` (empty: false)"),
    "image": ("image", "input image topic"),
    "camera_info": ("camera_info", "input camera_info topic"),
    "lidar": ("lidar_points", "input PointCloud2 topic"),
    "odom": ("odom", "input nav_msgs/Odometry topic (used where TF has no odom -> base transform)"),
    "executable": ("san_node", "node executable"),
}


def _node(context):
    get = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    share = get_package_share_directory("depth_ros")
    params_file = get("params_file") or os.path.join(share, "config", "san.yaml")
    return [Node(
        package="depth_ros", executable=get("executable"), name="san_node", namespace=get("namespace"),
        output="screen", emulate_tty=True,
        # The arguments given on the command line override the parameter file; the others leave it.
        parameters=[params_file, parameter_overrides({name: get(name) for name in OVERRIDABLE})],
        remappings=[("image", get("image")), ("image/compressed", get("image") + "/compressed"),
                    ("camera_info", get("camera_info")), ("lidar_points", get("lidar")), ("odom", get("odom"))],
    )]


def _profile():
    from depth_ros.transport import FASTDDS_PROFILE

    if os.environ.get("FASTRTPS_DEFAULT_PROFILES_FILE") or os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE"):
        return []
    return [SetEnvironmentVariable("FASTRTPS_DEFAULT_PROFILES_FILE", str(FASTDDS_PROFILE))]


def generate_launch_description() -> LaunchDescription:
    args = [DeclareLaunchArgument(name, default_value=default, description=doc)
            for name, (default, doc) in ARGUMENTS.items()]
    return LaunchDescription([*args, *_profile(), OpaqueFunction(function=_node)])
