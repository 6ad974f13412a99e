"""Ray casting against primitives whose answers are known in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from depth_core.sim.raycast import BOX, CYLINDER, GROUND, NO_HIT, SPHERE, Primitives, cast_rays


def _cast(prims, origin, dirs, ground_z=None):
    dirs = np.asarray(dirs, dtype=np.float64)
    everything = np.arange(len(dirs))
    return cast_rays(prims, np.asarray(origin, float), dirs, ((k, everything, 0.0) for k in range(len(prims.kind))),
                     ground_z=ground_z)


def test_box_sphere_cylinder_and_ground_distances():
    prims = Primitives()
    prims.add_box((10.0, 0.0, 1.0), (1.0, 2.0, 1.0), material=5)               # front face at x = 9
    prims.add_sphere((0.0, 20.0, 1.0), 2.0, material=6)                           # nearest point y = 18
    prims.add_cylinder(-7.0, 0.0, 0.0, 3.0, 0.5, material=7)                      # side at x = -6.5
    prims.freeze()
    origin = (0.0, 0.0, 1.0)
    dirs = [(1, 0, 0), (0, 1, 0), (-1, 0, 0), (0, 0, -1), (0, -1, 0.5)]
    hits = _cast(prims, origin, dirs, ground_z=0.0)
    np.testing.assert_allclose(hits.t[:4], [9.0, 18.0, 6.5, 1.0])
    assert list(hits.prim) == [0, 1, 2, GROUND, NO_HIT]
    np.testing.assert_allclose(hits.normal[:4], [[-1, 0, 0], [0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-6)
    assert prims.kind.tolist() == [BOX, SPHERE, CYLINDER]


def test_yawed_box_normals_and_nearest_hit_wins():
    prims = Primitives()
    prims.add_box((5.0, 0.0, 0.0), (1.0, 1.0, 1.0), material=1, yaw=np.pi / 4)   # a corner points at the origin
    prims.add_box((8.0, 0.0, 0.0), (0.5, 3.0, 3.0), material=2)                  # behind it
    prims.freeze()
    hits = _cast(prims, (0.0, 0.0, 0.0), [(1, 0, 0), (1, 0.3, 0)])
    assert hits.t[0] == pytest.approx(5.0 - np.sqrt(2.0))
    assert hits.prim[0] == 0 and hits.prim[1] in (0, 1)
    n = hits.normal[1]
    assert n @ np.array([1, 0.3, 0]) < 0  # faces the ray
    assert np.linalg.norm(n) == pytest.approx(1.0)


def test_cylinder_cap_is_hit_from_above():
    prims = Primitives()
    prims.add_cylinder(0.0, 0.0, 0.0, 1.0, 0.5, material=3)
    prims.freeze()
    hits = _cast(prims, (0.1, 0.0, 3.0), [(0, 0, -1)])
    assert hits.t[0] == pytest.approx(2.0)
    np.testing.assert_allclose(hits.normal[0], [0, 0, 1])


def test_culling_restricts_tests_to_the_given_rays():
    prims = Primitives()
    prims.add_box((5.0, 0.0, 0.0), (1.0, 1.0, 1.0), material=1)
    prims.freeze()
    dirs = np.array([(1.0, 0, 0), (1.0, 0.01, 0)])
    hits = cast_rays(prims, np.zeros(3), dirs, iter([(0, np.array([1]), 0.0)]), ground_z=None)
    assert hits.prim.tolist() == [NO_HIT, 0]
