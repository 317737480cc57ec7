"""The report's headline and the tables' README: generated from the tables, with the noise
floor when the summary has one."""

import pandas as pd
import pytest
from docutils.core import publish_parts

from odesdegap.reporting import headline, table_docs
from odesdegap.reporting.gap import Gap
from odesdegap.settings import GridSettings


def summary(floor: bool) -> pd.DataFrame:
    rows = []
    for dataset, gaps in (("checkerboard", (0.8, 0.5, 0.2)), ("mixture", (0.3, 0.25, 0.12))):
        for weight, gap in zip((0.0, 0.1, 1.0), gaps, strict=True):
            rows.append({"dataset": dataset, "fp_weight": weight, "n_seeds": 2,
                         "w2sq_ode_sde": gap, "w2sq_ode_sde_ci95": gap / 10,
                         "w2sq_ode_data": 1 - gap, "w2sq_ode_data_ci95": 0.01})
    frame = pd.DataFrame(rows)
    if floor:
        frame["w2sq_floor"] = [0.011, 0.013, 0.012, 0.021, 0.023, 0.022]
    return frame


FINDINGS = {"datasets": [
    {"dataset": "checkerboard", "best_ode_weight": 1.0, "best_ode_w2sq": 0.8,
     "gap_ratio": [{"fp_weight": 0.0, "ratio": 1.0, "ratio_ci95": 0.0, "n_seeds": 2},
                   {"fp_weight": 1.0, "ratio": 0.26, "ratio_ci95": 0.031, "n_seeds": 2}]},
    {"dataset": "mixture", "best_ode_weight": 0.1, "best_ode_w2sq": 0.7,
     "gap_ratio": [{"fp_weight": 1.0, "ratio": 0.41, "ratio_ci95": float("nan"),
                    "n_seeds": 2}]},
]}
GAP = Gap("ode", "sde")  # the default gap: summary's columns are w2sq_ode_sde, ...
SAMPLERS = ["ode", "sde"]
RECIPE = headline.Recipe(configfiles=["config.yaml", ".test/smoke.yaml"],
                         datasets=["checkerboard", "mixture"], weights=[0.0, 0.1, 1.0],
                         seeds=[0, 1], training_steps=200, n_samples=500, sampling_steps=20,
                         devices=["cpu"], n_jobs=42, job_seconds=185.0,
                         training_seconds=50.0)


def test_headline_states_the_gap_ratio_at_the_largest_weight_and_the_floor():
    text = headline.to_rst(summary(floor=True), FINDINGS, RECIPE, "exact OT on the grid", GAP)
    checkerboard, mixture = (line for line in text.splitlines() if line.startswith("- "))
    assert "0.8 ± 0.08 at w = 0, 0.2 ± 0.02 at w = 1: ratio 0.26 ± 0.031 (2 seed(s))" \
        in checkerboard
    assert "noise floor 0.012" in checkerboard  # the mean over the data set's rows
    assert "best weight for the ODE: 1 (ODE–data W2^2 0.8)" in checkerboard
    assert "ratio 0.41 (2 seed(s))" in mixture and "noise floor 0.022" in mixture
    assert "best weight for the ODE: 0.1" in mixture
    assert "noise floor is W2^2 between two disjoint held-out data sets" in text
    recipe = text.split("Recipe: ")[1]
    for part in ("config.yaml, .test/smoke.yaml",
                 "2 data set(s) x FP weights {0, 0.1, 1} x 2 seed(s)", "200 training steps",
                 "500 samples per sampler, 20 steps", "trained on cpu",
                 "42 compute jobs", "3.1 min", "3.7 times the training jobs' 50 s"):
        assert part in recipe


def test_headline_says_when_no_floor_was_measured():
    text = headline.to_rst(summary(floor=False), FINDINGS, RECIPE, "exact OT on the grid", GAP)
    assert text.count("noise floor not measured in this run") == 2


def test_headline_is_valid_restructuredtext():
    text = headline.to_rst(summary(floor=True), FINDINGS,
                           headline.Recipe(**{**RECIPE.__dict__,
                                              "datasets": ["eight_gaussians"]}), "x_y", GAP)
    html = publish_parts(text, writer="html",
                         settings_overrides={"halt_level": 2, "report_level": 2})["body"]
    assert "<strong>checkerboard</strong>" in html and "system-message" not in html


def test_w2_description_names_what_the_run_used():
    assert headline.w2_description(["grid"], GridSettings(64, 3.5, "nodes")) == \
        "exact optimal transport on the 64 x 64 grid (nodes convention)"
    both = headline.w2_description(["grid", "subsample"], GridSettings(32, 3.5, "cells"))
    assert "32 x 32 grid (cells convention) and exact optimal transport between seeded " \
        "subsamples" in both


@pytest.mark.parametrize(("column", "expected"), [
    ("w2sq_ode_sde", "W2^2 between the probability-flow ODE's samples and the reverse SDE's"),
    ("sliced_w2sq_sde_data", "sliced W2^2 between the reverse SDE's samples and the held-out"),
    ("w2sq_floor_ci95", "95% confidence interval (Student's t over seeds) of `w2sq_floor`"),
    ("kid_ode_data", "KID between"),
    ("nfe_sde", "per trajectory of the SDE"),
    ("w2_convention", "`nodes`, the paper's"),
    ("n_floor_points", "points in each fresh data set of the noise floor"),
    ("near_floor_ode_sde", "within 2x of its noise floor"),
    ("debiased_w2sq_ode_sde", "debiased W2^2 between the probability-flow ODE's samples"),
    ("se_debiased_w2sq_sde_data", "standard error of the debiased W2^2 between the reverse"),
])
def test_table_columns_are_described(column, expected):
    assert expected in table_docs.describe(column, SAMPLERS, GAP)


def test_an_unknown_column_is_an_error_naming_it():
    with pytest.raises(KeyError, match="w2sq_mystery"):
        table_docs.describe("w2sq_mystery", SAMPLERS, GAP)


def test_tables_readme_lists_every_column_and_the_w2_method():
    text = table_docs.readme({"summary.csv": summary(floor=True)},
                             "exact optimal transport on the 64 x 64 grid (nodes convention)",
                             "`w2sq_floor` is the noise floor.", SAMPLERS, GAP)
    assert "nodes convention" in text and "## summary.csv" in text
    for column in summary(floor=True).columns:
        assert f"- `{column}`: " in text
    assert table_docs.undescribed({"summary.csv": summary(floor=True)}, SAMPLERS, GAP) == []


def test_an_unknown_column_is_listed_as_not_described_without_stopping_the_readme():
    tables = {"metrics.csv": pd.DataFrame(columns=["dataset", "w2sq_mystery"])}
    text = table_docs.readme(tables, "exact optimal transport", "", SAMPLERS, GAP)
    assert "- `w2sq_mystery`: not described yet" in text
    assert table_docs.undescribed(tables, SAMPLERS, GAP) == ["w2sq_mystery"]


def test_headline_marks_bounds_lost_samples_and_a_missing_best_weight():
    # The findings of a run whose largest-weight gap sits within 2x of the floor, and whose
    # every model lost samples off the grid (so no weight can be called best).
    found = {"datasets": [
        {"dataset": "checkerboard", "best_ode_weight": None, "best_ode_w2sq": None,
         "gap_ratio": [{"fp_weight": 1.0, "ratio": 0.2, "ratio_ci95": 0.01, "n_seeds": 2,
                        "bound": True, "lost_samples": True}]},
        {"dataset": "mixture", "best_ode_weight": 0.1, "best_ode_w2sq": 0.013,
         "best_ode_near_floor": True, "gap_ratio": []},
    ]}
    text = headline.to_rst(summary(floor=True), found, RECIPE, "exact OT on the grid", GAP)
    checkerboard, mixture = (line for line in text.splitlines() if line.startswith("- "))
    assert "(a bound: a gap within 2x of the noise floor)" in checkerboard
    assert "(a model lost samples off the grid)" in checkerboard
    assert "no weight qualifies as best for the ODE" in checkerboard
    assert "best weight for the ODE: 0.1 (ODE–data W2^2 0.013, within 2x of the floor)" in mixture


def test_recipe_of_imported_published_models_says_so():
    imported = headline.Recipe(configfiles=["config.yaml", "presets/published.yaml"],
                               datasets=["checkerboard"], weights=[0.0, 10.0], seeds=[0],
                               training_steps=None, n_samples=20000, sampling_steps=800,
                               devices=[], n_jobs=12, job_seconds=600.0)
    line = imported.line()
    assert "the authors' published models, imported (not trained here)" in line
    assert "trained on" not in line and "training steps" not in line
    assert "times the training jobs'" not in line  # nothing trained here: no ratio


def test_headline_and_readme_follow_the_configured_gap_by_its_samplers_names():
    """gap [fast, sde]: the same numbers under the first sampler's name, the texts naming it."""
    gap = Gap("fast", "sde")
    renamed = summary(floor=True).rename(columns=lambda column: column.replace("_ode", "_fast"))
    found = {"datasets": [{key.replace("_ode_", "_fast_"): value for key, value in item.items()}
                          for item in FINDINGS["datasets"]]}
    text = headline.to_rst(renamed, found, RECIPE, "exact OT on the grid", gap)
    checkerboard = next(line for line in text.splitlines() if line.startswith("- **checker"))
    assert text.count("fast–SDE") == 3 and "ODE" not in text  # the intro and each data set
    assert "fast–SDE W2^2 0.8 ± 0.08 at w = 0, 0.2 ± 0.02 at w = 1: ratio 0.26" in checkerboard
    assert "best weight for the fast: 1 (fast–data W2^2 0.8)" in checkerboard
    assert "noise floor of `w2sq_fast_sde`" in table_docs.describe("w2sq_floor", ["fast", "sde"],
                                                                   gap)
    assert table_docs.undescribed({"summary.csv": renamed}, ["fast", "sde"], gap) == []
    # a name with underscores is escaped throughout, the introduction included
    text = headline.to_rst(renamed.rename(columns=lambda c: c.replace("_fast", "_fast_2")),
                           {"datasets": []}, RECIPE, "exact OT", Gap("fast_2", "sde"))
    assert "fast_2" not in text and text.count("fast\\_2–SDE") == 3


def test_headline_gives_the_debiased_ratio_as_a_sentence_with_its_interval():
    debiased = {"debiased_ratio": 0.083, "debiased_ratio_low": 0.051,
                "debiased_ratio_high": 0.114, "debiased_ratio_interval": "standard errors"}
    unbounded = {"debiased_ratio": 0.5, "debiased_ratio_low": float("nan"),
                 "debiased_ratio_high": float("nan"), "debiased_ratio_interval": "seeds"}
    found = {"datasets": [
        {**FINDINGS["datasets"][0], "gap_ratio": [
            {"fp_weight": 1.0, "ratio": 0.26, "ratio_ci95": float("nan"), "n_seeds": 1,
             **debiased}]},
        {**FINDINGS["datasets"][1], "gap_ratio": [
            {"fp_weight": 1.0, "ratio": 0.41, "ratio_ci95": 0.1, "n_seeds": 3, **unbounded}]},
    ]}
    text = headline.to_rst(summary(floor=True), found, RECIPE, "exact OT on the grid", GAP)
    checkerboard, mixture = (line for line in text.splitlines() if line.startswith("- "))
    assert ("w = 1 shrinks the ODE–SDE gap to 0.083 of its w = 0 value (debiased W2^2; 95% "
            "interval 0.051 to 0.11 from the estimates' standard errors, 1 seed); plug-in "
            "ODE–SDE W2^2 0.8") in checkerboard
    assert "ratio 0.26" in checkerboard  # the plug-in's ratio stays, after the sentence
    assert "its 95% interval unbounded" in mixture and "3 seeds" in mixture
