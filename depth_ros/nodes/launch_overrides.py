"""What the launch files' arguments set on the node, kept out of the launch files (which need the
ROS ``launch`` package) so that it is tested everywhere."""

from __future__ import annotations

__all__ = ["BOOLEANS", "OVERRIDABLE", "parameter_overrides"]

# Launch argument -> node parameter; an empty argument leaves the parameter file's value.
# use_sim_time is every ROS node's own: true when replaying a bag with `ros2 bag play --clock`.
OVERRIDABLE = ("model", "backend", "use_lidar", "use_sim_time")
BOOLEANS = ("use_lidar", "use_sim_time")

_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def parameter_overrides(arguments: dict[str, str]) -> dict:
    """The node parameters given on the launch command line: only the non-empty ones, so that a
    ``params_file`` (or the package's config/san.yaml) decides everything else. ``use_lidar`` and
    ``use_sim_time`` are read as booleans; anything else is an error that names it."""
    out = {}
    for name in OVERRIDABLE:
        value = (arguments.get(name) or "").strip()
        if not value:
            continue
        if name in BOOLEANS:
            if value.lower() not in _TRUE + _FALSE:
                raise ValueError(f"{name}:={value}: expected true or false")
            out[name] = value.lower() in _TRUE
        else:
            out[name] = value
    return out
