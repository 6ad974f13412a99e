"""The ``depth-core`` command line."""

from __future__ import annotations

import json

import torch

from depth_core.cli import main as depth_core_main
from depth_core.models import create_model, save_model


def test_eval_reports_rows_sweep_and_plot(tmp_path, frames, capsys):
    model = tmp_path / "m.safetensors"

    torch.manual_seed(0)
    save_model(create_model("san_resnet18", san_channels=[8, 8, 16, 16, 32]), model)
    out = tmp_path / "report"
    assert depth_core_main(["eval", "--model", str(model), "--backend", "torch", "--data", str(frames), "--baselines",
                            "--sweep", "0,0.2,1", "--flip", "--out", str(out), "--quiet"]) == 0
    result = json.loads((out / "metrics.json").read_text())
    assert set(result["rows"]) == {"prediction", "completion", "classical", "median"}
    assert [r["fraction"] for r in result["sweep"]] == [0.0, 0.2, 1.0]
    assert (out / "sparsity_sweep.png").stat().st_size > 1000 and "| completion |" in (out / "metrics.md").read_text()
    assert "| classical |" in capsys.readouterr().out
    assert depth_core_main(["eval", "--data", str(tmp_path / "nope"), "--out", str(out)]) == 2
    assert "nope/dataset.json: not found" in capsys.readouterr().err
