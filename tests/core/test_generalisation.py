"""The generalisation benchmark on a tiny suite: one held-out rig in one world, plus a small real
set in the 7-Scenes layout."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from depth_core.generalisation import KEYS, SPARSE_KEYS, build_suite, evaluate_suite, suite_tables, write_suite_report
from depth_core.inference import load_estimator


def _seven_scenes_fixture(root, frames: int = 3) -> None:
    """A tilted floor and a wall in front of a 64x48 camera, written as 7-Scenes writes it."""
    root.mkdir()
    K = np.array([[58.5, 0, 31.5], [0, 58.5, 23.5], [0, 0, 1]])
    np.savetxt(root / "camera-intrinsics.txt", K)
    v, u = np.mgrid[0:48, 0:64]
    for i in range(frames):
        depth = 2.0 + 0.03 * v + 0.2 * i                 # metres: a smooth slope, farther each frame
        mm = (depth * 1000).astype(np.uint16)
        mm[:3, :5] = 0                                    # holes
        cv2.imwrite(str(root / f"frame-{i:06d}.depth.png"), mm)
        rgb = np.stack([u * 4, v * 5, np.full_like(u, 100 + 20 * i)], -1).astype(np.uint8)
        cv2.imwrite(str(root / f"frame-{i:06d}.color.jpg"), rgb)
        np.savetxt(root / f"frame-{i:06d}.pose.txt", np.eye(4))


@pytest.mark.slow
def test_the_suite_table_has_every_set_and_the_classical_baseline(tmp_path):
    real = tmp_path / "kitchen"
    _seven_scenes_fixture(real)
    sets = build_suite(tmp_path / "suite", rigs=["low_robot"], worlds=["yard"], frames=2, sequence_length=2,
                       real_root=real, real_stride=1, workers=1, progress=False)
    assert [s.name for s in sets] == ["yard/low_robot", "kitchen/beams32", "kitchen/random500"]
    assert (tmp_path / "suite" / "yard_low_robot" / "dataset.json").is_file()
    rig = sets[0].dataset[0]["rig"]
    assert rig["name"] == "low_robot" and rig["appearance"] is not None     # held-out rig, randomised look

    est = load_estimator("san_efficientnet_lite0_spn", "torch")     # a model with a confidence
    results = evaluate_suite({"default": est}, load_estimator("classical"), sets, progress=False)
    rows = results["default"]
    assert set(rows) == {"yard/low_robot", "kitchen/beams32", "kitchen/random500"}
    for name, r in rows.items():
        assert r["images"] == (2 if name.startswith("yard") else 3)
        for key in KEYS:
            assert np.isfinite(r[key]), (name, key)
        assert 0 <= r["pred_delta1"] <= 1 and r["scale"] > 0
    # On a smooth slope the classical interpolation of 30 % of the points is nearly exact.
    assert rows["kitchen/random500"]["classical_held"] < 0.05
    # Sparse inputs: every 4th ring where rings are known (with the photograph and a grey image),
    # 500 scan points where the scan has more; the default's confidence ranks its errors.
    for key in SPARSE_KEYS:
        assert np.isfinite(rows["yard/low_robot"][key]), key
    assert np.isfinite(rows["kitchen/beams32"]["comp_ring4_grey"])
    assert not np.isfinite(rows["kitchen/random500"]["comp_pts500"])       # 500 points: none left to score
    assert [c["kept"] for c in rows["yard/low_robot"]["comp_sparsification"]] == [1.0, 0.75, 0.5, 0.25]

    table = suite_tables(results)["default"]
    main, sparse = table.strip().split("\n\n")
    assert main.count("\n") == 2 + 3 - 1 + 1    # header, three sets, the simulated-suite mean
    assert "| yard/low_robot | 2 |" in main and "**simulated suite mean**" in main
    assert sparse.count("\n") == 2 + 3 and "grey image" in sparse and "most confident 50 %" in sparse
    files = write_suite_report(results, tmp_path / "report", {"default": est.description})
    names = sorted(f.name for f in files)
    assert names == ["default.md", "default.png", "results.json"]
    assert json.loads((tmp_path / "report" / "results.json").read_text())["default"]["yard/low_robot"]["images"] == 2
    assert cv2.imread(str(tmp_path / "report" / "default.png")) is not None


def test_the_suite_is_generated_once_and_reused(tmp_path):
    kwargs = dict(rigs=["vga60"], worlds=["street"], frames=1, sequence_length=1, workers=1, progress=False)
    build_suite(tmp_path, **kwargs)
    stamp = (tmp_path / "street_vga60" / "dataset.json").stat().st_mtime_ns
    again = build_suite(tmp_path, **kwargs)
    assert (tmp_path / "street_vga60" / "dataset.json").stat().st_mtime_ns == stamp
    assert len(again[0].dataset) == 1
    with pytest.raises(ValueError, match="unknown rig"):
        build_suite(tmp_path, rigs=["nope"], worlds=["street"], frames=1, progress=False)


@pytest.mark.slow
def test_the_benchmark_runs_the_models_at_another_input_size(tmp_path, in_process):
    # benchmarks/bench_generalisation.py --input-size: the operating point of a canonical-camera
    # model (about W*H pixels in each camera's aspect ratio), each row named MODEL@WxH by the size
    # it runs at (each side a multiple of 32).
    sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
    try:
        import bench_generalisation
    finally:
        sys.path.pop(0)
    code, _, err = in_process(bench_generalisation.main, ["--input-size", "64"])
    assert code == 2 and "expected WxH, e.g. 640x192, got '64'" in err
    argv = ["--models", "default", "--backend", "torch", "--input-size", "200x64", "--rigs", "vga60",
            "--worlds", "street", "--frames", "1", "--sequence-length", "1", "--workers", "1",
            "--suite-root", str(tmp_path / "suite"), "--out", str(tmp_path / "report"), "--quiet"]
    code, out, _ = in_process(bench_generalisation.main, argv)
    assert code == 0 and "at about 12288 pixels" in out
    rows = json.loads((tmp_path / "report" / "results.json").read_text())
    assert list(rows) == ["default@192x64"] and rows["default@192x64"]["street/vga60"]["images"] == 1
    assert (tmp_path / "report" / "default@192x64.md").is_file()
