"""End to end: the real Snakemake workflow on the tiny preset, in a scratch copy of the repo.

Checks every output, the metrics table, incremental reruns after config edits, a run through a
real executor plugin (cluster-generic) giving the same metrics, and a training job killed for
real that resumes to the weights of an uninterrupted run.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ["Snakefile", "config.yaml", "rules", "workflow_scripts", "presets", "envs",
                  "profiles"]
PRESET = "presets/smoke.yaml"
TIMING_COLUMNS = ["sample_seconds_ode", "sample_seconds_sde"]

pytestmark = pytest.mark.workflow


def make_checkout(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, root / name)
    return root


def snakemake(checkout: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", *args],
                            cwd=checkout, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout}\n"
                             f"{result.stderr[-5000:]}")
    return result


def planned_jobs(checkout: Path, *configfiles: str) -> dict[str, int]:
    """Rule -> job count of a dry run (empty when nothing is to be done)."""
    output = snakemake(checkout, "-n", "--configfile", *configfiles).stdout
    if "Nothing to be done" in output:
        return {}
    table = output.split("Job stats:")[1].split("\n\n")[0].splitlines()[3:]
    counts = dict(line.split() for line in table)
    counts.pop("total")
    return {rule: int(n) for rule, n in counts.items()}


@pytest.fixture(scope="module")
def completed_run(tmp_path_factory):
    checkout = make_checkout(tmp_path_factory.mktemp("local"))
    snakemake(checkout, "--configfile", PRESET)
    return checkout


def test_every_output_exists(completed_run):
    results = completed_run / "results"
    preset = yaml.safe_load((completed_run / PRESET).read_text())
    for dataset in preset["datasets"]:
        assert (results / "data" / f"{dataset}.npz").exists()
        assert (results / "figures" / dataset / "sample_densities.png").stat().st_size > 10_000
        for weight in ("0", "1"):
            run = results / "models" / dataset / f"w{weight}" / "seed0"
            for name in ("model.pt", "training_log.csv", "model.json"):
                assert (run / name).exists()
            for sampler in ("ode", "sde"):
                assert (results / "samples" / dataset / f"w{weight}" / "seed0" /
                        f"{sampler}.npz").exists()
            assert (results / "metrics" / dataset / f"w{weight}" / "seed0.json").exists()
            assert (results / "logs" / "train" / dataset / f"w{weight}" / "seed0.log").exists()
    for name in ("metrics.csv", "summary.csv", "summary.md", "summary.tex",
                 "benchmarks_by_rule.csv", "benchmarks_by_job.csv"):
        assert (results / "tables" / name).stat().st_size > 0
    for name in ("w2_vs_weight.png", "residual_vs_gap.png", "training_curves.png"):
        assert (results / "figures" / name).stat().st_size > 10_000
    assert not list(results.glob("checkpoints/**/*.pt")), "finished jobs leave no checkpoint"


def test_metrics_table_has_every_run_and_finite_values(completed_run):
    table = pd.read_csv(completed_run / "results" / "tables" / "metrics.csv")
    assert sorted(zip(table.dataset, table.fp_weight, table.seed, strict=True)) == [
        ("checkerboard", 0.0, 0), ("checkerboard", 1.0, 0), ("mixture", 0.0, 0),
        ("mixture", 1.0, 0)]
    required = ["w2sq_ode_sde", "w2sq_ode_data", "w2sq_sde_data", "fp_residual", "dsm_loss",
                "sliced_w2sq_ode_sde", "fp_residual_time_only", "fp_residual_centred"]
    assert np.isfinite(table[required].to_numpy()).all()
    assert (table[required] >= 0).all().all()
    assert (table.nfe_ode == 20 - 2 + 2 * 5).all()
    summary = (completed_run / "results" / "tables" / "summary.md").read_text()
    assert "w2sq_ode_sde" in summary and "checkerboard" in summary
    by_rule = pd.read_csv(completed_run / "results" / "tables" / "benchmarks_by_rule.csv")
    assert {"train", "sample", "evaluate", "prepare_data"} <= set(by_rule.rule)


def test_unchanged_config_schedules_nothing(completed_run):
    assert planned_jobs(completed_run, PRESET) == {}


def test_changing_one_weight_reruns_only_that_weight(completed_run, tmp_path):
    overlay = tmp_path / "weight.yaml"
    overlay.write_text("fp_weights: [0.0, 2.0]\n")
    jobs = planned_jobs(completed_run, PRESET, str(overlay))
    assert jobs.pop("train") == 2 and jobs.pop("sample") == 4 and jobs.pop("evaluate") == 2
    assert "prepare_data" not in jobs
    assert set(jobs) <= {"tables", "figure_metrics", "figure_densities", "benchmark_table",
                         "all"}


def test_changing_an_evaluation_setting_reruns_only_evaluation(completed_run, tmp_path):
    overlay = tmp_path / "evaluation.yaml"
    overlay.write_text("evaluation: {sliced_projections: 60}\n")
    jobs = planned_jobs(completed_run, PRESET, str(overlay))
    assert jobs.pop("evaluate") == 4
    assert set(jobs) <= {"tables", "figure_metrics", "benchmark_table", "all"}


def test_changing_the_ode_method_resamples_only_the_ode(completed_run, tmp_path):
    overlay = tmp_path / "ode.yaml"
    overlay.write_text("sampling: {ode_method: rk4}\n")
    jobs = planned_jobs(completed_run, PRESET, str(overlay))
    assert jobs.pop("sample") == 4 and jobs.pop("evaluate") == 4
    assert "train" not in jobs


def test_cluster_executor_plugin_gives_the_same_metrics(completed_run, tmp_path):
    checkout = make_checkout(tmp_path / "cluster")
    shutil.copy2(REPO / "tests" / "cluster_submit.sh", checkout / "submit.sh")
    snakemake(checkout, "--configfile", PRESET, "--executor", "cluster-generic",
              "--cluster-generic-submit-cmd", "bash submit.sh", "--jobs", "2",
              "--latency-wait", "10")
    local = pd.read_csv(completed_run / "results" / "tables" / "metrics.csv")
    cluster = pd.read_csv(checkout / "results" / "tables" / "metrics.csv")
    pd.testing.assert_frame_equal(local.drop(columns=TIMING_COLUMNS),
                                  cluster.drop(columns=TIMING_COLUMNS))


def test_killed_training_job_resumes_to_identical_weights(tmp_path):
    overlay = "resume.yaml"
    settings = ("datasets: [mixture]\nfp_weights: [1.0]\n"
                "training: {steps: 600, checkpoint_every: 50}\n")
    target = "results/models/mixture/w1/seed0/model.pt"
    checkpoint = "results/checkpoints/mixture/w1/seed0.pt"

    straight = make_checkout(tmp_path / "straight")
    (straight / overlay).write_text(settings)
    snakemake(straight, "--configfile", PRESET, overlay, "--", target)

    killed = make_checkout(tmp_path / "killed")
    (killed / overlay).write_text(settings)
    process = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--cores", "1", "--configfile", PRESET, overlay,
         "--", target], cwd=killed, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    deadline = time.monotonic() + 300
    while not (killed / checkpoint).exists():
        assert process.poll() is None, "training finished before it could be killed"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.2)
    time.sleep(1.0)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (killed / target).exists() and (killed / checkpoint).exists()

    # What a user does after a kill: release Snakemake's lock, then run the same command again.
    snakemake(killed, "--unlock", "--configfile", PRESET, overlay)
    result = snakemake(killed, "--configfile", PRESET, overlay, "--rerun-incomplete", "--",
                       target)
    log = (killed / "results/logs/train/mixture/w1/seed0.log").read_text()
    assert "resuming from checkpoint at step" in log, result.stdout
    a = torch.load(straight / target, weights_only=True)
    b = torch.load(killed / target, weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
