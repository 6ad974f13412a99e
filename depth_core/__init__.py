"""depth_core: the ROS-free half of depth_ros (geometry, simulation, data, metrics, and later
models, losses, training, export and inference). It never imports rclpy, sensor_msgs, cv_bridge
or rosbags, so everything here runs in a notebook or on a training cluster."""

__version__ = "0.1.0"
