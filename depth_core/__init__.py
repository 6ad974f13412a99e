"""depth_core: the ROS-free half of depth_ros: geometry, simulation, data sets, metrics, models,
losses, training, evaluation, export and inference. It never imports rclpy, sensor_msgs, cv_bridge
or rosbags, so everything here runs in a notebook or on a training cluster.

The models, their losses and metrics follow these papers (docstrings cite them by first author):

- FuSaNet (Fusion-Net and Saliency-Net, the normalized Hessian loss): the FuSaNet paper.
- Chen et al., "Improving Monocular Depth Estimation by Leveraging Structural Awareness and
  Complementary Datasets", ECCV 2020: the structure-aware model and incremental data-set mixing.
- Jun et al., "Depth Map Decomposition for Monocular Depth Estimation", ECCV 2022: the
  decomposition model and the ordinal metrics.
- Guizilini et al., "Sparse Auxiliary Networks for Unified Monocular Depth Prediction and
  Completion", CVPR 2021: SAN, the package's default family.
- Alhashim & Wonka, "High Quality Monocular Depth Estimation via Transfer Learning", 2018:
  DenseDepth and the structure measures.
"""

__version__ = "0.1.0"
