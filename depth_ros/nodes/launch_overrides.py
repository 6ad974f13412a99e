"""What the launch files' arguments set on the node, kept out of the launch files (which need the
ROS ``launch`` package) so that it is tested everywhere."""

from __future__ import annotations

__all__ = ["OVERRIDABLE", "parameter_overrides"]

# Launch argument -> node parameter; an empty argument leaves the parameter file's value.
OVERRIDABLE = ("model", "backend", "use_lidar")

_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def parameter_overrides(arguments: dict[str, str]) -> dict:
    """The node parameters given on the launch command line: only the non-empty ones, so that a
    ``params_file`` (or the package's config/san.yaml) decides everything else. ``use_lidar`` is
    read as a boolean; anything else is an error that names it."""
    out = {}
    for name in OVERRIDABLE:
        value = (arguments.get(name) or "").strip()
        if not value:
            continue
        if name == "use_lidar":
            if value.lower() not in _TRUE + _FALSE:
                raise ValueError(f"use_lidar:={value}: expected true or false")
            out[name] = value.lower() in _TRUE
        else:
            out[name] = value
    return out
