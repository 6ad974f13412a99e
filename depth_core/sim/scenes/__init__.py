"""Scene families: each builds a :class:`World` from a random generator, a frame count and the
distance travelled per frame."""

from __future__ import annotations

from dataclasses import dataclass

from .common import Lighting, World
from .corridor import build_corridor
from .forest import build_forest
from .highway import build_highway
from .indoor import build_indoor
from .orchard import build_orchard
from .parking import build_parking
from .street import build_street
from .warehouse import build_warehouse
from .yard import build_yard

BUILDERS = {"street": build_street, "indoor": build_indoor, "yard": build_yard, "highway": build_highway,
            "parking": build_parking, "warehouse": build_warehouse,
            "corridor": build_corridor, "forest": build_forest, "orchard": build_orchard}


@dataclass(frozen=True)
class SceneInfo:
    speed: float              # m/s of the robot along the trajectory
    max_depth: float          # metres; rendered depth beyond is invalid
    max_mount_height: float   # highest camera/LiDAR mount that stays below any ceiling (inf outdoors)
    indoor: bool


SCENE_INFO: dict[str, SceneInfo] = {
    "street": SceneInfo(8.0, 250.0, float("inf"), False),
    "indoor": SceneInfo(0.5, 20.0, 2.2, True),
    "yard": SceneInfo(1.5, 120.0, float("inf"), False),
    "highway": SceneInfo(20.0, 250.0, float("inf"), False),
    "parking": SceneInfo(2.0, 150.0, float("inf"), False),
    "warehouse": SceneInfo(1.5, 60.0, 4.5, True),
    "corridor": SceneInfo(1.0, 40.0, 2.2, True),
    "forest": SceneInfo(1.5, 120.0, float("inf"), False),
    "orchard": SceneInfo(1.2, 120.0, float("inf"), False),   # not in the default model's training
}

__all__ = ["BUILDERS", "SCENE_INFO", "Lighting", "SceneInfo", "World", "build_corridor", "build_forest",
           "build_highway", "build_indoor", "build_orchard", "build_parking", "build_street", "build_warehouse",
           "build_yard"]
