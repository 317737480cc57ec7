"""End to end: the real Snakemake workflow on the tiny preset, in a scratch copy of the repo.

Most tests read the session's shared smoke run (fixture `smoke_run`, tests/conftest.py); those
that run Snakemake on it for real work on a copy of it (`copy_of_run`), never on it.

Checks every output, the metrics table, incremental reruns after config edits, a run through a
real executor plugin (cluster-generic) giving the same metrics, and a training job killed for
real that resumes to the weights of an uninterrupted run; builds the HTML report of the run,
checks it holds every table and figure and opens it in headless Chromium.
"""

import base64
import json
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

from chromium import Chromium, chromium_or_skip
from odesdegap.data.datasets import data_scale
from workflow_runs import (
    REPO,
    SMOKE,
    copy_of_run,
    make_checkout,
    planned_jobs,
    snakemake,
    without_timing,
)

PRESET = SMOKE

AGGREGATION_RULES = {"tables", "findings", "figure_metrics", "figure_training_curves",
                     "benchmark_table", "eta_table", "headline", "tables_readme",
                     "metrics", "all"}

pytestmark = pytest.mark.workflow


def test_every_output_exists(smoke_run):
    results = smoke_run / "results"
    preset = yaml.safe_load((smoke_run / PRESET).read_text())
    for dataset in preset["datasets"]:
        assert (results / "data" / f"{dataset}.npz").exists()
        floor = json.loads((results / "floor" / f"{dataset}.json").read_text())
        assert floor["n_floor_points"] == preset["sampling"]["n_samples"]
        assert 0 < floor["w2sq_floor"] < 1 and 0 < floor["w2sq_floor_data"] < 1
        assert (results / "figures" / dataset / "sample_densities.png").stat().st_size > 10_000
        assert (results / "figures" / dataset / "sample_densities.pdf").read_bytes()[:5] == \
            b"%PDF-"
        for weight in ("0", "1"):
            run = results / "models" / dataset / f"w{weight}" / "seed0"
            for name in ("model.pt", "training_log.csv", "model.json"):
                assert (run / name).exists()
            for sampler in ("ode", "sde"):
                assert (results / "samples" / dataset / f"w{weight}" / "seed0" /
                        f"{sampler}.npz").exists()
            assert (results / "metrics" / dataset / f"w{weight}" / "seed0.json").exists()
            for part in ("model", "samplers/ode", "samplers/sde"):
                assert (results / "metrics" / dataset / f"w{weight}" / "seed0" /
                        f"{part}.json").exists()
            assert (results / "logs" / "train" / dataset / f"w{weight}" / "seed0.log").exists()
    for name in ("metrics.csv", "summary.csv", "summary.md", "summary.tex",
                 "benchmarks_by_rule.csv", "benchmarks_by_job.csv"):
        assert (results / "tables" / name).stat().st_size > 0
    for name in ("w2_vs_weight", "residual_vs_gap", "training_curves", "eta_sweep"):
        assert (results / "figures" / f"{name}.png").stat().st_size > 10_000
        assert (results / "figures" / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
    assert not list(results.glob("checkpoints/**/*.pt")), "finished jobs leave no checkpoint"


def test_metrics_table_has_every_run_and_finite_values(smoke_run):
    table = pd.read_csv(smoke_run / "results" / "tables" / "metrics.csv")
    assert sorted(zip(table.dataset, table.fp_weight, table.seed, strict=True)) == [
        (d, w, s) for d in ("checkerboard", "mixture") for w in (0.0, 1.0) for s in (0, 1)]
    required = ["w2sq_ode_sde", "w2sq_ode_data", "w2sq_sde_data", "fp_residual", "dsm_loss",
                "sliced_w2sq_ode_sde", "fp_residual_time_only", "fp_residual_centred",
                "fp_residual_data", "nll_nats_per_dim", "w2sq_floor", "w2sq_floor_data"]
    assert np.isfinite(table[required].to_numpy()).all()
    # Every row carries its data set's floor, measured at the run's sample size.
    assert (table.n_floor_points == table.n_samples_ode).all()
    floors = table.groupby("dataset").w2sq_floor.nunique()
    assert (floors == 1).all()
    assert (table.near_floor_ode_sde == (table.w2sq_ode_sde < 2 * table.w2sq_floor)).all()
    assert (table[required].drop(columns="nll_nats_per_dim") >= 0).all().all()
    assert (table.nfe_ode == 20 - 2 + 2 * 5).all()
    summary = pd.read_csv(smoke_run / "results" / "tables" / "summary.csv")
    assert (summary.n_seeds == 2).all()
    assert np.isfinite(summary.w2sq_ode_sde_ci95).all()
    assert np.isfinite(summary.w2sq_floor).all()
    markdown = (smoke_run / "results" / "tables" / "summary.md").read_text()
    assert "±" in markdown and "checkerboard" in markdown
    assert "w2sq_floor" in markdown and "noise floor" in markdown
    by_rule = pd.read_csv(smoke_run / "results" / "tables" / "benchmarks_by_rule.csv")
    assert {"train", "sample", "evaluate", "evaluate_sampler", "prepare_data",
            "noise_floor"} <= set(by_rule.rule)


def test_benchmark_table_has_every_compute_job(smoke_run):
    """Every job but the aggregation's left a benchmark file, and the table lists each one."""
    benchmarks = smoke_run / "results" / "benchmarks"
    written = {str(p.relative_to(benchmarks).with_suffix("")) for p in benchmarks.rglob("*.tsv")}
    aggregation = {job for job in written
                   if job.split("/")[0] in AGGREGATION_RULES | {"figure_densities"}}
    jobs = pd.read_csv(smoke_run / "results" / "tables" / "benchmarks_by_job.csv")
    assert set(jobs.job) == written - aggregation


def test_findings_follow_from_the_metrics_table(smoke_run):
    """Recompute the findings from metrics.csv independently and compare."""
    from scipy import stats

    table = pd.read_csv(smoke_run / "results" / "tables" / "metrics.csv")
    found = json.loads((smoke_run / "results" / "tables" / "findings.json").read_text())
    for item in found["datasets"]:
        runs = table[table.dataset == item["dataset"]]
        zero = runs[runs.fp_weight == 0].set_index("seed").w2sq_ode_sde
        for row in item["gap_ratio"]:
            at_weight = runs[runs.fp_weight == row["fp_weight"]].set_index("seed").w2sq_ode_sde
            ratios = (at_weight / zero).to_numpy()
            assert row["ratio"] == pytest.approx(ratios.mean())
            half = stats.t.ppf(0.975, len(ratios) - 1) * ratios.std(ddof=1) / np.sqrt(2)
            assert row["ratio_ci95"] == pytest.approx(half)
        # A weight whose ODE lost samples off the grid is never called best.
        ode = runs.groupby("fp_weight").w2sq_ode_data.mean()
        eligible = ode[~runs.groupby("fp_weight").lost_samples_ode.any()]
        assert item["best_ode_weight"] == (eligible.idxmin() if len(eligible) else None)
        # ... and so for every configured sampler
        assert {b["sampler"] for b in item["best_by_sampler"]} == {"ode", "sde", "eta0", "eta0_5"}
        for best in item["best_by_sampler"]:
            name = best["sampler"]
            means = runs.groupby("fp_weight")[f"w2sq_{name}_data"].mean()
            eligible = means[~runs.groupby("fp_weight")[f"lost_samples_{name}"].any()]
            assert best["best_weight"] == (eligible.idxmin() if len(eligible) else None), name
        assert item["w2sq_floor"] == pytest.approx(runs.w2sq_floor.iloc[0])
        rho = stats.spearmanr(runs.fp_residual, runs.w2sq_ode_sde).statistic
        assert item["residual_gap_spearman"] == pytest.approx(rho)
        assert 0 < item["residual_gap_p"] <= 1
    pooled = stats.spearmanr(table.fp_residual, table.w2sq_ode_sde)
    assert found["pooled_residual_gap"]["fp_residual"]["spearman"] == pytest.approx(
        pooled.statistic)
    # Eight runs: the permutation p-value is exact over all 8! orderings.
    ranks = stats.rankdata(table.fp_residual), stats.rankdata(table.w2sq_ode_sde)
    exact = stats.pearsonr(*ranks, method=stats.PermutationMethod(n_resamples=50000)).pvalue
    assert found["pooled_residual_gap"]["fp_residual"]["p"] == pytest.approx(exact)
    markdown = (smoke_run / "results" / "tables" / "findings.md").read_text()
    assert f"{found['datasets'][0]['gap_ratio'][1]['ratio']:.3g}" in markdown
    assert "Noise floor at the runs' sample size (n = 500)" in markdown
    assert found["stratified"]["residual_gap"]["n_strata"] == 2


def test_studies_tables(smoke_run):
    eta = pd.read_csv(smoke_run / "results" / "tables" / "eta_sweep.csv")
    assert set(eta.eta) == {0.0, 0.5} and len(eta) == 2 * 8


def test_every_declared_log_is_written(smoke_run):
    """No job's log is empty, the aggregation jobs' included; every long job shows progress."""
    logs = smoke_run / "results" / "logs"
    empty = [str(p.relative_to(logs)) for p in logs.rglob("*.log") if p.stat().st_size == 0]
    assert empty == []
    for name in ("tables", "findings", "figure_metrics", "benchmark_table", "eta_table",
                 "headline", "tables_readme", "figure_densities/mixture"):
        assert (logs / f"{name}.log").stat().st_size > 0, name
    run = "checkerboard/w1/seed0"
    assert "training: 100%" in (logs / f"train/{run}.log").read_text()
    for sampler in ("ode", "sde"):
        assert f"{sampler} sampling: 100%" in (logs / f"sample/{run}/{sampler}.log").read_text()
    assert "euler sampling (eta 0.5): 100%" in (logs / f"sample/{run}/eta0_5.log").read_text()
    evaluation = (logs / f"evaluate/{run}.log").read_text()
    assert "evaluation: 100%" in evaluation and "4/4" in evaluation


def test_tables_readme_describes_every_column(smoke_run):
    tables = smoke_run / "results" / "tables"
    readme = (tables / "README.md").read_text()
    assert "not described yet" not in readme
    assert "exact optimal transport on the" in readme
    for name in ("metrics.csv", "summary.csv", "benchmarks_by_job.csv", "eta_sweep.csv"):
        section = readme.split(f"## {name}\n")[1].split("\n## ")[0]
        for column in pd.read_csv(tables / name, nrows=1).columns:
            assert f"- `{column}`: " in section, (name, column)


def test_a_target_outside_the_sweep_names_the_configured_weights(smoke_run):
    result = snakemake(smoke_run, "-n", "--configfile", PRESET, "--",
                       "results/metrics/checkerboard/w3/seed0.json", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "weight '3' in a requested path is not in the config's fp_weights " \
           "(configured: 0, 1)" in output
    assert "KeyError" not in output and "Traceback" not in output


def report_data(report: Path) -> dict:
    """The report's embedded data: its `var <name> = <JSON>;` lines (the last of each name;
    the bundled libraries have variables of the same names before)."""
    lines = report.read_text().splitlines()
    found = {}
    for name in ("results", "categories", "workflow_desc"):
        prefix = f"var {name} = "
        line = next(line.strip() for line in reversed(lines)
                    if line.strip().startswith(prefix) and line.strip().endswith(";"))
        found[name] = json.loads(line[len(prefix):-1])
    return found


@pytest.fixture(scope="module")
def built_report(smoke_run, tmp_path_factory):
    """`snakemake --report` on the finished smoke run: what `make report` does (the report is
    written beside the shared run, not into it)."""
    report = tmp_path_factory.mktemp("report") / "report.html"
    snakemake(smoke_run, "--configfile", PRESET, "--report", str(report))
    return report


def test_report_holds_every_table_and_figure(built_report, smoke_run):
    results = smoke_run / "results"
    data = report_data(built_report)
    expected = {str(p.relative_to(smoke_run)) for p in (results / "figures").rglob("*.png")}
    expected |= {f"results/tables/{name}" for name in (
        "metrics.csv", "summary.html", "findings.html", "headline.html", "README.md",
        "benchmarks_by_rule.csv")}
    assert set(data["results"]) == expected
    for path, entry in data["results"].items():
        encoded = entry["data_uri"].split("base64,", 1)[1]
        assert base64.b64decode(encoded) == (smoke_run / path).read_bytes(), path
    categories = sorted(data["categories"])
    assert categories[:2] == ["1. Main figure", "2. Summary table"]
    main = [p for paths in data["categories"]["1. Main figure"].values() for p in paths]
    assert sorted(main) == [f"results/figures/{d}/sample_densities.png"
                            for d in ("checkerboard", "mixture")]
    assert "results/tables/summary.html" in data["categories"]["2. Summary table"]["Other"]


def test_report_landing_text_states_the_headline(built_report, smoke_run):
    description = report_data(built_report)["workflow_desc"]
    found = json.loads((smoke_run / "results/tables/findings.json").read_text())
    summary = pd.read_csv(smoke_run / "results/tables/summary.csv")
    assert "Headline" in description and ".test/smoke.yaml" in description
    for item in found["datasets"]:
        at_largest = item["gap_ratio"][-1]
        assert at_largest["fp_weight"] == summary.fp_weight.max()
        assert f"ratio {at_largest['ratio']:.3g}" in description
        if item["best_ode_weight"] is None:  # every weight lost samples off the grid
            assert "no weight qualifies as best for the ODE" in description
        else:
            assert f"best weight for the ODE: {item['best_ode_weight']:g}" in description
    assert "noise floor" in description
    assert "200 training steps" in description and "500 samples per sampler" in description


def test_report_renders_in_chromium(built_report, tmp_path):
    """The landing page and the main figure's page, as a reader clicks through them: no
    JavaScript error, the figure loads; screenshots of both land in tmp_path."""
    with Chromium(chromium_or_skip()) as browser:
        browser.open(built_report.as_uri())
        browser.wait_for("document.body.innerText.includes('Headline')", "the landing text")
        landing = browser.screenshot(tmp_path / "landing.png")
        browser.evaluate("Array.from(document.querySelectorAll('a'))"
                         ".find(a => a.textContent.trim() === '1. Main figure').click()")
        browser.wait_for("document.body.innerText.includes('sample densities')",
                         "the main figure's entry")
        browser.evaluate(OPEN_FIRST_RESULT)
        size = browser.wait_for(FIGURE_LOADED, "the main figure to load")
        figure = browser.screenshot(tmp_path / "main_figure.png")
        assert browser.errors == []
    assert size[0] > 200 and size[1] > 200
    for shot in (landing, figure):
        assert shot.stat().st_size > 20_000


# The view (eye) button of the first data set's row in the category's table.
OPEN_FIRST_RESULT = """
Array.from(document.querySelectorAll('nav table tr'))
    .find(row => row.innerText.includes('checkerboard')).querySelector('a').click()
"""
FIGURE_LOADED = """
(() => {
    const img = Array.from(document.images).find(i => i.src.startsWith('data:image/png'));
    return img && img.complete && img.naturalWidth > 0 && [img.naturalWidth, img.naturalHeight];
})()
"""


def test_unchanged_config_schedules_nothing(smoke_run, tmp_path):
    """Nor in a copy of the run (copy_of_run keeps modification times), on which the tests
    that run Snakemake for real work."""
    assert planned_jobs(smoke_run, PRESET) == {}
    assert planned_jobs(copy_of_run(smoke_run, tmp_path / "copy"), PRESET) == {}


def test_changing_one_weight_reruns_only_that_weight(smoke_run, tmp_path):
    overlay = tmp_path / "weight.yaml"
    overlay.write_text("fp_weights: [0.0, 2.0]\n")
    jobs = planned_jobs(smoke_run, PRESET, str(overlay))
    # 2 data sets x 2 seeds at the new weight (ode, sde and the two eta members: 4 samplers
    # per run)
    assert jobs.pop("train") == 4 and jobs.pop("sample") == 16 and jobs.pop("evaluate") == 4
    assert jobs.pop("evaluate_sampler") == 16 and jobs.pop("metrics") == 4
    assert set(jobs) <= AGGREGATION_RULES | {"figure_densities"}


def test_changing_an_evaluation_setting_reruns_only_evaluation(smoke_run, tmp_path):
    overlay = tmp_path / "evaluation.yaml"
    overlay.write_text("evaluation: {sliced_projections: 60}\n")
    jobs = planned_jobs(smoke_run, PRESET, str(overlay))
    assert jobs.pop("evaluate") == 8 and jobs.pop("evaluate_sampler") == 32
    assert set(jobs) <= AGGREGATION_RULES


def test_model_and_metrics_record_what_the_run_used(smoke_run):
    """model.json holds the run's whole resolved config (config.yaml, the preset and the schema's
    defaults, merged as Snakemake merges them); the metrics JSON the settings behind its
    numbers."""
    sys.path.insert(0, str(smoke_run / "workflow_scripts"))
    from odesdegap.config_checks import resolve

    resolved = resolve(smoke_run / PRESET, base=smoke_run / "config.yaml")
    meta = json.loads((smoke_run / "results/models/mixture/w1/seed0/model.json").read_text())
    assert meta["config"] == json.loads(json.dumps(resolved))
    assert meta["weights"] == "final" and meta["ema_decay"] == 0.0
    metrics = json.loads((smoke_run / "results/metrics/mixture/w1/seed0.json").read_text())
    assert metrics["config"]["sampling"] == resolved["sampling"]
    assert metrics["config"]["samplers"] == resolved["samplers"]
    assert metrics["config"]["gap"] == ["ode", "sde"]
    assert metrics["config"]["evaluation"]["nll"] == resolved["evaluation"]["nll"]


def test_changing_the_sde_final_step_resamples_only_the_sde(smoke_run, tmp_path):
    overlay = tmp_path / "sde.yaml"
    overlay.write_text("sampling: {sde_final_step_noise: false}\n")
    jobs = planned_jobs(smoke_run, PRESET, str(overlay))
    # the SDE and the eta members (their last step too) are resampled; the SDE is the reference
    # sampler, so every sampler's distance to it is measured again
    assert jobs.pop("sample") == 24 and jobs.pop("evaluate_sampler") == 32
    assert "evaluate" not in jobs


def test_changing_the_ema_decay_retrains(smoke_run, tmp_path):
    overlay = tmp_path / "ema.yaml"
    overlay.write_text("training: {ema_decay: 0.99}\n")
    jobs = planned_jobs(smoke_run, PRESET, str(overlay))
    assert jobs.pop("train") == 8 and jobs.pop("sample") == 32


def test_changing_the_ode_solver_resamples_only_the_ode(smoke_run, tmp_path):
    overlay = tmp_path / "ode.yaml"
    overlay.write_text("samplers: {ode: {solver: rk4}}\n")
    jobs = planned_jobs(smoke_run, PRESET, str(overlay))
    assert jobs.pop("sample") == 8 and jobs.pop("evaluate_sampler") == 8
    assert set(jobs) <= AGGREGATION_RULES | {"figure_densities"}


def test_an_extra_sampler_samples_and_evaluates_only_itself(smoke_run, tmp_path):
    """A sampler added by a --configfile on top of a finished run: its own sample and
    evaluate_sampler job per run, each run's row joined again, and the gathering rules; no
    training, no other sampler, no model metric. An NFE sweep is one job per run (not per
    budget) and samples nothing else."""
    overlay = tmp_path / "heun.yaml"
    overlay.write_text("samplers: {heun10: {dynamics: ode, solver: heun, grid: edm, nfe: 10}}\n")
    jobs = planned_jobs(smoke_run, PRESET, str(overlay))
    assert jobs.pop("sample") == 8 and jobs.pop("evaluate_sampler") == 8
    assert jobs.pop("metrics") == 8
    assert set(jobs) <= AGGREGATION_RULES
    output = snakemake(smoke_run, "-n", "--configfile", PRESET, str(overlay)).stdout
    assert "samples/mixture/w1/seed0/heun10.npz" in output
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("samplers: {heun: {dynamics: ode, solver: heun, grid: edm, "
                     "nfe: [5, 10, 20]}}\n")
    jobs = planned_jobs(smoke_run, PRESET, str(sweep))
    assert jobs.pop("nfe_sweep") == 8 and jobs.pop("nfe_sweep_exact") == 1
    # the exact lane's data and floor, made like every data set's
    assert jobs.pop("prepare_data") == 1 and jobs.pop("noise_floor") == 1
    assert jobs.pop("nfe_table") == 1
    assert jobs.pop("nfe_findings") == 1
    assert set(jobs) <= AGGREGATION_RULES


def test_an_nfe_sweep_runs_to_its_findings_and_figure(smoke_run, tmp_path):
    """Two fast solvers and a grid integrator (RK4 on uniform steps: the step-count study) swept
    over budgets on top of the finished run: one row per run, solver and budget, each with its
    floors and sample count, plus each sweep on the exact lane; findings per data set and
    solver, stated with their floors; the figure. The other samplers' outputs are untouched."""
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("samplers:\n"
                     "  heun: {dynamics: ode, solver: heun, grid: edm, nfe: [5, 20]}\n"
                     "  sde2m: {dynamics: sde, solver: dpmpp_2m_sde, grid: edm, nfe: [5, 20]}\n"
                     "  rk4_steps: {dynamics: ode, solver: rk4, nfe: [8, 20]}\n")
    run = copy_of_run(smoke_run, tmp_path / "run")
    metrics = run / "results/tables/metrics.csv"
    before = pd.read_csv(metrics)
    snakemake(run, "--configfile", PRESET, str(sweep))
    tables = run / "results/tables"
    study = pd.read_csv(tables / "nfe_study.csv")
    exact = study[study.dataset == "exact_gaussian"]
    study = study[study.dataset != "exact_gaussian"]
    assert len(study) == 8 * 3 * 2 and len(exact) == 3 * 2
    assert set(study.sampler) == {"heun", "sde2m", "rk4_steps"}
    assert set(study.nfe_budget) == {5, 20, 8}
    assert (study.nfe <= study.nfe_budget).all() and (study.nfe >= 1).all()
    rk4 = study[study.sampler == "rk4_steps"]
    assert (rk4.nfe == rk4.nfe_budget).all()
    assert study.w2sq_floor_data.notna().all() and study.w2sq_floor.notna().all()
    assert (study.n_samples == before.n_samples_ode.iloc[0]).all()
    # the exact lane: no FP weight and no reference sampler, its own floor
    assert exact.fp_weight.isna().all() and exact.w2sq_reference.isna().all()
    assert (exact.w2sq_floor_data > 0).all() and np.isfinite(exact.w2sq_data).all()
    # the fast solvers start at EDM's rule for each data set (80 on the exact lane); RK4 on
    # grid sampling at t_max
    rows = pd.concat([study, exact])
    fast = rows[rows.sampler != "rk4_steps"]
    assert np.allclose(fast.sigma_max, 160 * fast.dataset.map(data_scale), rtol=1e-12)
    assert (exact[exact.sampler != "rk4_steps"].sigma_max == 80).all()
    assert rows[rows.sampler == "rk4_steps"].sigma_max.isna().all()
    found = json.loads((tables / "nfe_findings.json").read_text())
    assert {(g["dataset"], g["sampler"]) for g in found["groups"]} == {
        (d, s) for d in ("mixture", "checkerboard") for s in ("heun", "sde2m", "rk4_steps")}
    assert {item["sampler"] for item in found["exact_lane"]} == {"heun", "sde2m", "rk4_steps"}
    markdown = (tables / "nfe_findings.md").read_text()
    assert "floor" in markdown and "The exact lane" in markdown
    assert (run / "results/figures/nfe_study.png").stat().st_size > 10_000
    pd.testing.assert_frame_equal(pd.read_csv(metrics), before)


def test_a_gap_set_to_a_fast_sampler_gives_its_findings_headline_and_figures(smoke_run,
                                                                             tmp_path):
    """`gap: [dpmpp_2m_20, sde]` with that sampler added on top of the finished run: only the
    new sampler is sampled and evaluated, then the findings, the headline and the W2 and
    density figures read its gap to the SDE, named after it; every column the run had keeps its
    value."""
    overlay = tmp_path / "gap.yaml"
    overlay.write_text("samplers:\n"
                       "  dpmpp_2m_20: {dynamics: ode, solver: dpmpp_2m, grid: logsnr, nfe: 20}\n"
                       "gap: [dpmpp_2m_20, sde]\n")
    run = copy_of_run(smoke_run, tmp_path / "run")
    tables, logs = run / "results/tables", run / "results/logs"
    before = without_timing(pd.read_csv(tables / "metrics.csv"))
    figures = [run / "results/figures/w2_vs_weight.png",
               run / "results/figures/residual_vs_gap.png",
               *(run / f"results/figures/{d}/sample_densities.png"
                 for d in ("checkerboard", "mixture"))]
    drawn = {path: path.stat().st_mtime for path in figures}
    jobs = planned_jobs(run, PRESET, str(overlay))
    assert jobs.pop("sample") == 8 and jobs.pop("evaluate_sampler") == 8
    assert jobs.pop("figure_densities") == 2
    assert set(jobs) <= AGGREGATION_RULES
    snakemake(run, "--configfile", PRESET, str(overlay))
    metrics = pd.read_csv(tables / "metrics.csv")
    pd.testing.assert_frame_equal(without_timing(metrics)[before.columns], before)
    gap = metrics.w2sq_dpmpp_2m_20_sde
    assert np.isfinite(gap).all() and (gap > 0).all()
    found = json.loads((tables / "findings.json").read_text())
    assert found["gap"] == ["dpmpp_2m_20", "sde"]
    headline = (tables / "headline.rst").read_text()
    assert "dpmpp\\_2m\\_20–SDE gap at the largest FP weight" in headline
    assert "ODE–SDE" not in headline
    for item in found["datasets"]:
        runs = metrics[metrics.dataset == item["dataset"]]
        zero = runs[runs.fp_weight == 0].set_index("seed").w2sq_dpmpp_2m_20_sde
        largest = runs[runs.fp_weight == 1].set_index("seed").w2sq_dpmpp_2m_20_sde
        assert item["gap_ratio"][-1]["ratio"] == pytest.approx((largest / zero).mean())
        assert "best_ode_weight" not in item and "sde_w2sq_by_weight" in item
        means = runs.groupby("fp_weight").w2sq_dpmpp_2m_20_data.mean()
        eligible = means[~runs.groupby("fp_weight").lost_samples_dpmpp_2m_20.any()]
        best = item["best_dpmpp_2m_20_weight"]
        assert best == (eligible.idxmin() if len(eligible) else None)
        assert f"ratio {item['gap_ratio'][-1]['ratio']:.3g}" in headline
        if best is not None:
            assert f"best weight for the dpmpp\\_2m\\_20: {best:g}" in headline
        log = (logs / f"figure_densities/{item['dataset']}.log").read_text()
        assert "x (SDE, dpmpp_2m_20) of" in log
    assert "dpmpp_2m_20–SDE W2^2 relative to weight 0" in (tables / "findings.md").read_text()
    assert all(path.stat().st_mtime > drawn[path] for path in figures)


def test_finetune_schedule_adds_one_shared_pretraining_per_data_set_and_seed(smoke_run,
                                                                              tmp_path):
    overlay = tmp_path / "finetune.yaml"
    overlay.write_text("training: {schedule: finetune, pretrain_steps: 100}\n")
    jobs = planned_jobs(smoke_run, PRESET, str(overlay))
    assert jobs["pretrain"] == 4 and jobs["train"] == 8


def test_a_failing_job_leaves_every_other_output_intact(smoke_run, tmp_path):
    run = copy_of_run(smoke_run, tmp_path / "run")
    damaged = run / "results/models/mixture/w1/seed0/model.pt"
    # every metrics file but the failing jobs' own output (rule evaluate of the damaged model,
    # whose output Snakemake removes when the job fails): the run's joined row stays intact
    failing = run / "results/metrics/mixture/w1/seed0/model.json"
    metrics = sorted(p for p in (run / "results/metrics").rglob("*.json") if p != failing)
    before = {path: path.read_bytes() for path in metrics}
    damaged.write_bytes(b"not a checkpoint")
    result = snakemake(run, "--configfile", PRESET, "--keep-going", check=False)
    assert result.returncode != 0
    log = (run / "results/logs/sample/mixture/w1/seed0/ode.log").read_text()
    assert "cannot read model weights from" in log
    assert {path: path.read_bytes() for path in metrics} == before
    assert (run / "results/tables/metrics.csv").exists()


def test_cluster_executor_plugin_gives_the_same_metrics(smoke_run, tmp_path):
    """One run of the smoke preset through snakemake-executor-plugin-cluster-generic, up to
    its metrics table (the gathering rules after it are local rules, which no plugin runs),
    matches the shared local run's row of that run."""
    checkout = make_checkout(tmp_path / "cluster")
    shutil.copy2(REPO / "tests" / "cluster_submit.sh", checkout / "submit.sh")
    (checkout / "one_run.yaml").write_text(
        "datasets: [checkerboard]\nfp_weights: [1.0]\nseeds: [1]\n")
    result = snakemake(checkout, "--configfile", PRESET, "one_run.yaml", "--executor",
                       "cluster-generic", "--cluster-generic-submit-cmd", "bash submit.sh",
                       "--jobs", "2", "--latency-wait", "10", "--", "results/tables/metrics.csv")
    assert "rule train:" in result.stderr and "rule sample:" in result.stderr
    local = pd.read_csv(smoke_run / "results" / "tables" / "metrics.csv")
    local = local[(local.dataset == "checkerboard") & (local.fp_weight == 1.0) & (local.seed == 1)]
    cluster = pd.read_csv(checkout / "results" / "tables" / "metrics.csv")
    pd.testing.assert_frame_equal(without_timing(local).reset_index(drop=True),
                                  without_timing(cluster))


def test_killed_training_job_resumes_to_identical_weights(tmp_path):
    """A training job killed (SIGKILL, the whole process group) right after its first checkpoint
    resumes to the weights of an uninterrupted run of the same settings. Its own 3000 steps,
    not the shared run's 200, so that the kill lands mid-training even on a loaded machine."""
    overlay = "resume.yaml"
    # long enough that the kill, right after the first checkpoint, lands mid-training
    settings = ("datasets: [mixture]\nfp_weights: [1.0]\n"
                "training: {steps: 3000, checkpoint_every: 50}\n")
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


@pytest.mark.parametrize("overlay", [
    "",
    "datasets: [eight_gaussians, swiss_roll]\nfp_weights: [1.0]\nmodel: {kind: vector_mlp}\n"
    "process: {name: ve, t_min: 1.0e-3, t_max: 1.0, sigma_min: 0.01, sigma_max: 4.0}\n",
], ids=["vp-potential-moons-gmm4d", "ve-vector-eight_gaussians-swiss_roll"])
def test_other_processes_and_data_sets(tmp_path, overlay):
    checkout = make_checkout(tmp_path / "extras")
    (checkout / "overlay.yaml").write_text(overlay or "{}\n")
    snakemake(checkout, "--configfile", ".test/smoke_processes.yaml", "overlay.yaml")
    table = pd.read_csv(checkout / "results/tables/metrics.csv")
    config = yaml.safe_load((checkout / ".test/smoke_processes.yaml").read_text())
    expected = yaml.safe_load(overlay) if overlay else {}
    assert set(table.dataset) == set(expected.get("datasets", config["datasets"]))
    finite = ["fp_residual", "fp_residual_data", "dsm_loss", "nll_nats_per_dim",
              "sliced_w2sq_ode_data"]
    assert np.isfinite(table[finite].to_numpy()).all()
    n = config["sampling"]["n_samples"]
    for _, run in table.iterrows():
        for pair in ("ode_sde", "ode_data", "sde_data"):
            if np.isfinite(run[f"w2sq_{pair}"]):
                continue
            # NaN only where a sampler diverged: every one of its samples left the grid.
            lost = [s for s in pair.split("_") if s != "data"
                    and run[f"n_outside_{s}"] + run[f"n_nonfinite_{s}"] == n]
            assert run["dim"] == 2 and lost, (run["dataset"], pair)
    for dataset in table.dataset:
        assert (checkout / f"results/figures/{dataset}/sample_densities.png").exists()



def test_make_clean_keeps_the_trained_models_and_clean_all_removes_everything(smoke_run,
                                                                               tmp_path):
    checkout = copy_of_run(smoke_run, tmp_path / "copy")
    shutil.copy2(REPO / "Makefile", checkout / "Makefile")
    cleaned = subprocess.run(["make", "clean"], cwd=checkout, capture_output=True, text=True)
    assert cleaned.returncode == 0, cleaned.stderr
    results = checkout / "results"
    kept = {p.name for p in results.iterdir()}
    assert {"benchmarks", "data", "logs", "models"} <= kept <= {
        "benchmarks", "data", "logs", "models", "checkpoints", "classifiers"}
    assert {p.name for p in (results / "logs").iterdir()} == {"prepare_data", "train"}
    assert (results / "models/mixture/w1/seed0/model.pt").exists()
    jobs = planned_jobs(checkout, PRESET)
    # every run resamples with each of the smoke config's 4 samplers (ode, sde, eta0, eta0_5)
    assert "train" not in jobs and "prepare_data" not in jobs and jobs["sample"] == 8 * 4
    removed = subprocess.run(["make", "clean-all"], cwd=checkout, capture_output=True,
                             text=True)
    assert removed.returncode == 0 and "removing every output" in removed.stdout
    assert list(results.iterdir()) == [] and not (checkout / ".snakemake").exists()
