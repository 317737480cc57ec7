"""The published preset through Snakemake: the authors' models are imported, never trained, and
go through the same sampling, evaluation and aggregation as trained models, ending in the
comparison with the authors' table. The checkout's own copy is filled by the fetch command from
the published files the tests found (published_paths), and the preset runs on it with no
override of its paths."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from published_paths import SHARED, needs
from workflow_runs import make_checkout, planned_jobs, snakemake

REPO = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.workflow, needs(SHARED)]
PRESET = "presets/published.yaml"


def filled_checkout(root: Path) -> Path:
    """A checkout whose resources/published was filled as a user fills it, offline."""
    checkout = make_checkout(root)
    result = subprocess.run([sys.executable, "-m", "odesdegap.published.fetch", "--source",
                             str(SHARED)], cwd=checkout, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(checkout / "workflow_scripts")})
    assert result.returncode == 0, result.stderr
    assert "39 files copied" in result.stdout and "verified" in result.stdout
    return checkout


def sizes(path: Path, **settings) -> str:
    path.write_text(yaml.safe_dump(settings))
    return str(path)


def test_the_published_preset_imports_instead_of_training(tmp_path):
    checkout = filled_checkout(tmp_path / "plan")
    jobs = planned_jobs(checkout, PRESET)
    assert "train" not in jobs and "pretrain" not in jobs
    assert jobs["import_published"] == 12 and jobs["sample"] == 24 and jobs["evaluate"] == 12
    assert jobs["published_table"] == 1 and jobs["published_comparison"] == 1


def test_a_small_published_run_ends_in_the_comparison(tmp_path):
    checkout = filled_checkout(tmp_path / "run")
    small = sizes(tmp_path / "small.yaml", datasets=["circles"], fp_weights=[1.0],
                     sampling={"n_samples": 400, "chunk_size": 400, "steps": 40,
                               "refine_last": 2},
                     data={"n_reference": 400, "n_train": 400},
                     evaluation={"residual_points": 256})
    snakemake(checkout, "--configfile", PRESET, small)
    meta = json.loads((checkout / "results/models/circles/w1/seed0/model.json").read_text())
    assert meta["imported_from"] == ("resources/published/ODESDEGap-checkpoints/circles2/w1.0/"
                                     "circles2_net__FP_weight_1.0__iteration_100000")
    assert len(meta["imported_sha256"]) == 64 and meta["training"] is None
    comparison = pd.read_csv(checkout / "results/tables/published_comparison.csv")
    assert list(comparison["pair"]) == ["ode-sde", "ode-data", "sde-data"]
    assert (comparison["floor"] > 0).all() and comparison["theirs"].notna().all()
    assert not (checkout / "results/figures/training_curves.png").exists()
