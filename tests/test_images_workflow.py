"""End to end, images: the real workflow on scikit-learn's digits (offline) with a tiny U-Net,
through FID (clean-fid, classifier features), sample grids and the tables."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from workflow_runs import make_checkout, planned_jobs, snakemake

PRESET = ".test/smoke_images.yaml"
PAIRS = ("ode_data", "sde_data", "ode_sde")

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    checkout = make_checkout(tmp_path_factory.mktemp("images"))
    snakemake(checkout, "--configfile", PRESET)
    return checkout


def test_fid_table_has_every_pair_finite_with_the_extractor_named(image_run):
    preset = yaml.safe_load((image_run / PRESET).read_text())
    runs = pd.read_csv(image_run / "results/tables/fid.csv")
    assert len(runs) == len(preset["fp_weights"]) * len(preset["seeds"])
    assert set(runs.extractor) == {"classifier"} and set(runs.dataset) == {"digits"}
    columns = [f"{metric}_{pair}" for metric in ("fid", "kid") for pair in PAIRS]
    assert np.isfinite(runs[columns].to_numpy()).all()
    assert (runs[[f"fid_{pair}" for pair in PAIRS]] >= 0).all().all()
    summary = (image_run / "results/tables/fid_summary.md").read_text()
    assert "classifier" in summary and "fid_ode_sde" in summary
    accuracy = json.loads((image_run / "results/classifiers/digits/model.json").read_text())
    assert accuracy["test_accuracy"] > 0.8 and runs.classifier_accuracy.iloc[0] == pytest.approx(
        accuracy["test_accuracy"])


def test_image_runs_have_the_point_metrics_too(image_run):
    table = pd.read_csv(image_run / "results/tables/metrics.csv")
    assert set(table.dim) == {64} and set(table.w2_method) == {"subsample"}
    finite = ["w2sq_ode_sde", "w2sq_ode_data", "w2sq_sde_data", "fp_residual_data", "dsm_loss"]
    assert np.isfinite(table[finite].to_numpy()).all()
    samples = np.load(image_run / "results/samples/digits/w1/seed0/ode.npz")["samples"]
    assert samples.shape == (200, 64)


def test_sample_grids_and_report_entries(image_run):
    figure = image_run / "results/figures/digits/sample_grids.png"
    assert figure.stat().st_size > 10_000
    assert not (image_run / "results/figures/digits/sample_densities.png").exists()


def test_changing_a_fid_setting_reruns_only_fid(image_run, tmp_path):
    overlay = tmp_path / "fid.yaml"
    overlay.write_text("evaluation: {fid: {kid_subsets: 30}}\n")
    jobs = planned_jobs(image_run, PRESET, str(overlay))
    assert jobs.pop("evaluate_fid") == 2 and jobs.pop("fid_table") == 1
    assert set(jobs) <= {"benchmark_table", "tables_readme", "headline", "all"}


def test_vector_unet_runs_end_to_end(tmp_path):
    checkout = make_checkout(tmp_path / "vector")
    (checkout / "overlay.yaml").write_text(
        "fp_weights: [1.0]\nmodel: {kind: unet_vector, channels: 8}\n")
    snakemake(checkout, "--configfile", PRESET, "overlay.yaml")
    runs = pd.read_csv(checkout / "results/tables/fid.csv")
    assert np.isfinite(runs[[f"fid_{pair}" for pair in PAIRS]].to_numpy()).all()
    metrics = pd.read_csv(checkout / "results/tables/metrics.csv")
    assert np.isfinite(metrics.fp_residual_data).all()
