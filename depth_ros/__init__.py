"""depth_ros: the ROS 2 half: message conversions, bags and (later) the node, the shared frame
pipeline and replay evaluation. Thin on purpose; the work happens in ``depth_core``."""

__version__ = "0.1.0"
