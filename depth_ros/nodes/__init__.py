"""ROS 2 nodes."""
