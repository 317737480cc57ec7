"""The published preset through Snakemake: the authors' models are imported, never trained, and
go through the same sampling, evaluation and aggregation as trained models, ending in the
comparison with the authors' table. Uses ../shared/published (or ODESDEGAP_PUBLISHED_DIR)."""

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from published_paths import SHARED, needs
from test_workflow import make_checkout, planned_jobs, snakemake

REPO = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.workflow, needs(SHARED)]
PRESET = "presets/published.yaml"


def override(path: Path, **extra) -> str:
    """The two-line override a user writes to point at their download (plus test sizes)."""
    settings = {"published": {"checkpoints_dir": str(SHARED / "ODESDEGap-checkpoints"),
                              "histograms_dir": str(SHARED / "ODESDEGap-precomputed_dists")},
                **extra}
    path.write_text(yaml.safe_dump(settings))
    return str(path)


def test_the_published_preset_imports_instead_of_training(tmp_path):
    checkout = make_checkout(tmp_path / "plan")
    jobs = planned_jobs(checkout, PRESET, override(tmp_path / "paths.yaml"))
    assert "train" not in jobs and "pretrain" not in jobs
    assert jobs["import_published"] == 12 and jobs["sample"] == 24 and jobs["evaluate"] == 12
    assert jobs["published_table"] == 1 and jobs["published_comparison"] == 1


def test_a_small_published_run_ends_in_the_comparison(tmp_path):
    checkout = make_checkout(tmp_path / "run")
    small = override(tmp_path / "small.yaml", datasets=["circles"], fp_weights=[1.0],
                     sampling={"n_samples": 400, "chunk_size": 400, "steps": 40,
                               "refine_last": 2},
                     data={"n_reference": 400, "n_train": 400},
                     evaluation={"residual_points": 256})
    snakemake(checkout, "--configfile", PRESET, small)
    meta = json.loads((checkout / "results/models/circles/w1/seed0/model.json").read_text())
    assert meta["imported_from"].endswith("circles2_net__FP_weight_1.0__iteration_100000")
    assert len(meta["imported_sha256"]) == 64 and meta["training"] is None
    comparison = pd.read_csv(checkout / "results/tables/published_comparison.csv")
    assert list(comparison["pair"]) == ["ode-sde", "ode-data", "sde-data"]
    assert (comparison["floor"] > 0).all() and comparison["theirs"].notna().all()
    assert not (checkout / "results/figures/training_curves.png").exists()
