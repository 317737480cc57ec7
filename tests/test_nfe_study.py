"""The NFE study's findings and figure on hand-made rows: a beat must exceed the noise floor, a
diverged or lossy cell makes no claim, seeds are averaged, and every printed distance carries
its floor and sample count."""

import json

import numpy as np
import pandas as pd
import pytest

from odesdegap.data.datasets import EXACT_LANE
from odesdegap.reporting.gap import Gap
from odesdegap.reporting.nfe_findings import nfe_findings
from odesdegap.reporting.nfe_findings_text import nfe_findings_markdown

BUDGETS = [5, 10, 20, 50, 200]
GAP = Gap("ode", "sde")  # the default gap: the reference rows' ode and sde samplers
FLOOR = 0.01


def study_rows(values: dict, dataset="checkerboard", sampler="heun", seed=0, floor=FLOOR,
               n=20_000, budgets=BUDGETS, lost=None) -> pd.DataFrame:
    """Rows of one (dataset, sampler, seed): `values[w]` lists W2^2 to the data per budget;
    `lost[(w, budget)]` sets a lost fraction."""
    rows = []
    for weight, series in values.items():
        for budget, value in zip(budgets, series, strict=True):
            rows.append({
                "dataset": dataset, "fp_weight": weight, "seed": seed, "sampler": sampler,
                "solver": sampler, "nfe_budget": budget, "nfe": budget, "w2sq_data": value,
                "w2sq_reference": 0.02, "lost_fraction": (lost or {}).get((weight, budget), 0.0),
                "w2sq_floor": floor, "w2sq_floor_data": floor, "n_samples": n,
            })
    return pd.DataFrame(rows)


# w0 converges from NFE 20; w=1 beats it beyond the floor from NFE 10 on (margins 0.005,
# 0.015, 0.015, 0.015, 0.014); w=0.1 stays within the floor of w0; w=10 beats at NFE 10 only.
CURVES = {
    0.0: [0.20, 0.10, 0.055, 0.05, 0.05],
    0.1: [0.198, 0.095, 0.052, 0.049, 0.048],
    1.0: [0.195, 0.085, 0.04, 0.035, 0.036],
    10.0: [0.30, 0.08, 0.06, 0.06, 0.06],
}


def group_of(findings, dataset="checkerboard", sampler="heun"):
    (group,) = [g for g in findings["groups"]
                if g["dataset"] == dataset and g["sampler"] == sampler]
    return group


def by_weight(items):
    return {item["fp_weight"]: item for item in items}


def test_a_beat_must_exceed_the_floor():
    group = group_of(nfe_findings(study_rows(CURVES), None, GAP))
    beats = by_weight(group["beats"])
    assert set(beats) == {0.1, 1.0, 10.0}  # w = 0 is the baseline, not a contender
    # NFE 5: w=1 is lower by 0.005, within the floor of 0.01: no beat.
    assert beats[1.0]["first_beat_budget"] == 10 and beats[1.0]["from_on"]
    assert beats[1.0]["beaten_budgets"] == [10, 20, 50, 200]
    at = beats[1.0]["at_shown"]
    assert at["w2sq"] == 0.085 and at["w2sq_zero"] == 0.10
    assert at["advantage"] == pytest.approx(0.015) and at["floor"] == FLOOR
    assert beats[0.1]["first_beat_budget"] is None and beats[0.1]["beaten_budgets"] == []
    assert beats[10.0]["beaten_budgets"] == [10] and not beats[10.0]["from_on"]


def test_a_difference_equal_to_the_floor_or_a_tie_is_no_beat():
    # Binary-exact numbers: 0.75 - 0.5 is exactly the floor 0.25.
    rows = study_rows({0.0: [0.75, 0.5], 1.0: [0.5, 0.5]}, budgets=[10, 20], floor=0.25)
    beat = group_of(nfe_findings(rows, None, GAP))["beats"][0]
    assert beat["first_beat_budget"] is None and beat["compared_budgets"] == [10, 20]
    rows.loc[(rows.fp_weight == 1.0) & (rows.nfe_budget == 10), "w2sq_data"] = 0.4999
    assert group_of(nfe_findings(rows, None, GAP))["beats"][0]["first_beat_budget"] == 10


def test_never_is_said_with_the_closest_budget():
    text = nfe_findings_markdown(nfe_findings(study_rows(CURVES), None, GAP))
    assert ("checkerboard, heun: w=0.1 never beats w=0 beyond the floor within NFE 5–200 "
            "(closest at NFE 10: 0.095 vs 0.1, margin 0.005, floor 0.01, 20,000 samples)") in text
    assert ("checkerboard, heun: w=1 beats w=0 from NFE 10 on (0.085 vs 0.1, margin 0.015, "
            "floor 0.01, 20,000 samples).") in text
    assert "w=10 beats w=0 at NFE 10 only, first at NFE 10" in text
    assert "one seed (0): a single draw" in text


def test_convergence_nfe_is_where_the_solver_stays_within_the_floor():
    curves = {**CURVES,
              0.1: [0.2, 0.052, 0.09, 0.058, 0.05],   # dips in at 10, leaves, back from 50
              10.0: [0.4, 0.3, 0.2, 0.1, 0.05]}       # only the largest budget itself
    conv = by_weight(group_of(nfe_findings(study_rows(curves), None, GAP))["convergence"])
    assert conv[0.0]["nfe_within_floor"] == 20 and conv[0.0]["b_max"] == 200
    assert conv[1.0]["nfe_within_floor"] == 20 and conv[1.0]["converged_w2sq"] == 0.036
    assert conv[0.1]["nfe_within_floor"] == 50 and conv[0.1]["first_within"] == 10
    assert conv[10.0]["nfe_within_floor"] is None
    assert conv[10.0]["status"] == "not within the budgets measured"
    text = nfe_findings_markdown(nfe_findings(study_rows(curves), None, GAP))
    assert "| 0.1 | 0.05 (200) | NFE 50 (first within at NFE 10, then left it) | 0.01 | 20,000 |" \
        in text
    assert "| 10 | 0.05 (200) | not within the budgets measured | 0.01 | 20,000 |" in text


def test_a_diverged_or_lossy_cell_makes_no_claim():
    rows = pd.concat([study_rows(CURVES, seed=0), study_rows(CURVES, seed=1)])
    one = (rows.seed == 1) & (rows.fp_weight == 1.0)
    rows.loc[one & (rows.nfe_budget == 10), "w2sq_data"] = np.nan  # diverged in one seed
    rows.loc[one & (rows.nfe_budget == 20), "lost_fraction"] = 0.02  # lost 2% off the grid
    rows.loc[(rows.fp_weight == 0.0) & (rows.nfe_budget == 50), "w2sq_data"] = np.nan
    rows.loc[(rows.fp_weight == 10.0) & (rows.nfe_budget == 200), "w2sq_data"] = np.nan
    found = nfe_findings(rows, None, GAP)
    json.dumps(found, allow_nan=False)  # NaN is written as None
    group = group_of(found)
    beat = by_weight(group["beats"])[1.0]
    assert beat["first_beat_budget"] == 200 and beat["from_on"]
    assert beat["compared_budgets"] == [5, 200] and beat["not_compared"] == [10, 20, 50]
    conv = by_weight(group["convergence"])
    assert conv[1.0]["nfe_within_floor"] == 50  # NFE 20 is within but lost samples
    assert conv[10.0]["nfe_within_floor"] is None and conv[10.0]["converged_w2sq"] is None
    assert conv[10.0]["status"].startswith("no converged result")


def test_one_non_finite_sample_makes_a_cell_lossy_as_in_the_tables():
    """The tables' rule (tables.loses): a non-finite sample loses the cell, however small its
    lost fraction; rows written before `n_nonfinite` was recorded are read without it."""
    rows = study_rows(CURVES).assign(n_nonfinite=0)
    at_20 = (rows.fp_weight == 1.0) & (rows.nfe_budget == 20)
    rows.loc[at_20, ["lost_fraction", "n_nonfinite"]] = [1 / 20_000, 1]
    conv = by_weight(group_of(nfe_findings(rows, None, GAP))["convergence"])
    assert conv[1.0]["nfe_within_floor"] == 50  # NFE 20 is within but lost a sample
    older = by_weight(group_of(nfe_findings(rows.drop(columns="n_nonfinite"), None, GAP))[
        "convergence"])
    assert older[1.0]["nfe_within_floor"] == 20


def test_each_group_states_where_its_grid_starts():
    found = nfe_findings(study_rows(CURVES).assign(sigma_max=277.2), None, GAP)
    assert group_of(found)["sigma_max"] == 277.2
    assert "checkerboard, heun; one seed (0): a single draw, no seed-to-seed spread; its grid " \
           "starts at sigma~ = 277.2" in nfe_findings_markdown(found)
    assert group_of(nfe_findings(study_rows(CURVES), None, GAP))["sigma_max"] is None


def test_seeds_are_averaged():
    second = {w: [v + 0.01 for v in vs] for w, vs in CURVES.items()}
    second[0.0] = [0.20, 0.10, 0.075, 0.05, 0.05]  # w0 at NFE 20: mean 0.065 over the seeds
    rows = pd.concat([study_rows(CURVES, seed=0), study_rows(second, seed=1)])
    found = nfe_findings(rows, None, GAP)
    group = group_of(found)
    assert group["n_seeds"] == 2 and group["seeds"] == [0, 1]
    at_twenty = by_weight(group["survival"])[0.1]["at"][1]
    assert at_twenty["nfe_budget"] == 20
    assert at_twenty["w2sq"] == pytest.approx(0.057) and at_twenty["w2sq_zero"] == 0.065
    assert "2 seeds (0, 1), means over seeds" in nfe_findings_markdown(found)


def test_missing_zero_or_a_single_weight_is_said():
    rows = pd.concat([study_rows({1.0: CURVES[1.0], 10.0: CURVES[10.0]}),
                      study_rows({0.0: CURVES[0.0]}, sampler="dpmpp_2m")])
    found = nfe_findings(rows, None, GAP)
    no_zero, only_zero = group_of(found), group_of(found, sampler="dpmpp_2m")
    assert no_zero["beats"] == [] and no_zero["survival"] == []
    assert no_zero["note"].startswith("no w = 0 model")
    assert len(no_zero["convergence"]) == 2
    assert only_zero["beats"] == [] and only_zero["note"].startswith("only the w = 0 model")
    text = nfe_findings_markdown(found)
    assert "checkerboard, heun: no w = 0 model" in text
    with pytest.raises(ValueError, match="w2sq_floor_data"):
        nfe_findings(rows.drop(columns="w2sq_floor_data"), None, GAP)


def reference(ode, sde, floor=FLOOR):
    return pd.DataFrame([{"dataset": "checkerboard", "fp_weight": w, "seed": 0,
                          "w2sq_ode_data": o, "w2sq_sde_data": s, "w2sq_floor_data": floor,
                          "n_samples_ode": 20_000, "n_samples_sde": 20_000,
                          "nfe_ode": 890, "nfe_sde": 890}
                         for w, o, s in zip(sorted(ode), ode.values(), sde.values(),
                                            strict=True)])


def test_the_euler_advantage_survives_or_not_at_nfe_10_and_20():
    # ODE: w=1 and w=10 are ahead of w0 by 0.05 (holds); SDE: by 0.005 (within the floor).
    ref = reference({0.0: 0.10, 0.1: 0.099, 1.0: 0.05, 10.0: 0.05},
                    {0.0: 0.06, 0.1: 0.06, 1.0: 0.055, 10.0: 0.055})
    found = nfe_findings(study_rows(CURVES), ref, GAP)
    survival = by_weight(group_of(found)["survival"])
    one = survival[1.0]
    assert one["reference"]["ode"]["holds"] and not one["reference"]["sde"]["holds"]
    assert [a["nfe_budget"] for a in one["at"]] == [10, 20]
    assert [a["survives"] for a in one["at"]] == [{"ode": True, "sde": None}] * 2
    ten = survival[10.0]
    assert [a["survives"]["ode"] for a in ten["at"]] == [True, False]  # 0.06 vs 0.055 at 20
    assert survival[0.1]["at"][0]["survives"] == {"ode": None, "sde": None}
    text = nfe_findings_markdown(found)
    assert ("w=10's advantage at the run's ODE sampler (890 NFE) holds (0.05 vs 0.1, margin "
            "0.05, floor 0.01, 20,000 samples); at NFE 10 survives: 0.08 vs 0.1, margin 0.02, "
            "floor 0.01, "
            "20,000 samples; at NFE 20 does not survive: 0.06 vs 0.055, margin -0.005, "
            "floor 0.01, 20,000 samples.") in text
    assert ("w=1's advantage at the run's SDE sampler (890 NFE) does not hold (within the "
            "floor) (0.055 vs 0.06, margin 0.005, floor 0.01, 20,000 samples); at NFE 10 "
            "beyond the floor") in text
    # An Euler ODE that lost 1% of its samples (off the grid) carries no advantage.
    lossy = ref.assign(n_outside_ode=np.where(ref.fp_weight == 1.0, 200, 0))
    claim = by_weight(group_of(nfe_findings(study_rows(CURVES), lossy, GAP))["survival"])[1.0]
    assert not claim["reference"]["ode"]["holds"] and claim["at"][0]["survives"]["ode"] is None
    # Budget 20 not measured; no reference at all.
    rows = study_rows(CURVES)
    found = nfe_findings(rows[rows.nfe_budget != 20], ref, GAP)
    assert by_weight(group_of(found)["survival"])[1.0]["at"][1]["measured"] is False
    assert "NFE 20 not measured" in nfe_findings_markdown(found)
    assert "no ode/sde reference given" in nfe_findings_markdown(nfe_findings(rows, None, GAP))


def test_survival_is_read_against_the_configured_gap_by_its_samplers_names():
    # The gap [fast, sde]: the first sampler's columns are w2sq_fast_data, nfe_fast, ...
    ref = reference({0.0: 0.10, 0.1: 0.099, 1.0: 0.05, 10.0: 0.05},
                    {0.0: 0.06, 0.1: 0.06, 1.0: 0.055, 10.0: 0.055})
    ref = ref.rename(columns=lambda column: column.replace("_ode", "_fast"))
    found = nfe_findings(study_rows(CURVES), ref, Gap("fast", "sde"))
    one = by_weight(group_of(found)["survival"])[1.0]
    assert set(one["reference"]) == {"fast", "sde"} and one["reference"]["fast"]["holds"]
    assert [a["survives"] for a in one["at"]] == [{"fast": True, "sde": None}] * 2
    assert "w=1's advantage at the run's fast sampler (890 NFE) holds" in \
        nfe_findings_markdown(found)
    assert "no fast/sde reference given" in nfe_findings_markdown(
        nfe_findings(study_rows(CURVES), None, Gap("fast", "sde")))


def test_figure_has_a_panel_per_dataset_and_sampler_and_a_line_per_weight():
    from odesdegap.reporting.nfe_figure import FLOOR_LABEL, nfe_figure

    rows = pd.concat([study_rows(CURVES), study_rows(CURVES, sampler="dpmpp_2m"),
                      study_rows(CURVES, dataset="moons", floor=0.02)])
    figure = nfe_figure(rows, GAP)
    try:
        # moons has no dpmpp_2m rows: three panels, not four.
        titles = sorted(ax.get_title().split("\n")[0] for ax in figure.axes)
        assert titles == ["checkerboard, dpmpp_2m", "checkerboard, heun", "moons, heun"]
        for ax in figure.axes:
            lines = [line.get_label() for line in ax.get_lines()]
            assert sorted(lines) == sorted(["w = 0", "w = 0.1", "w = 1", "w = 10", FLOOR_LABEL])
            assert ax.get_xscale() == "log"
            floor = [line for line in ax.get_lines() if line.get_label() == FLOOR_LABEL][0]
            assert floor.get_linestyle() == "--"
            expected = 0.02 if ax.get_title().startswith("moons") else 0.01
            assert floor.get_ydata()[0] == pytest.approx(expected)
        legend = [text.get_text() for text in figure.legends[0].texts]
        assert legend == ["w = 0", "w = 0.1", "w = 1", "w = 10", FLOOR_LABEL]
    finally:
        import matplotlib.pyplot as plt

        plt.close(figure)


def test_figure_draws_each_weight_s_ode_level_dotted_and_shares_y_along_a_row():
    from odesdegap.reporting.nfe_figure import nfe_figure

    rows = pd.concat([study_rows(CURVES), study_rows(CURVES, sampler="dpmpp_2m")])
    levels = {0.0: 0.10, 0.1: 0.099, 1.0: 0.05, 10.0: 0.07}
    figure = nfe_figure(rows, GAP, reference(levels, levels))
    try:
        heun, dpmpp_2m = sorted(figure.axes, key=lambda ax: ax.get_title())[::-1]
        assert heun.get_shared_y_axes().joined(heun, dpmpp_2m)
        for ax in figure.axes:
            dotted = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
            assert sorted(line.get_ydata()[0] for line in dotted) == sorted(levels.values())
            assert {line.get_label() for line in dotted} == {"ode sampler, 890 NFE (dotted)"}
        legend = [text.get_text() for text in figure.legends[0].texts]
        assert legend[-1] == "ode sampler, 890 NFE (dotted)"
    finally:
        import matplotlib.pyplot as plt

        plt.close(figure)


def exact_rows(values, sampler="heun", floor=FLOOR, budgets=BUDGETS) -> pd.DataFrame:
    """The exact lane's rows (rule nfe_sweep_exact): no FP weight, no reference sampler."""
    rows = study_rows({0.0: values}, dataset=EXACT_LANE, sampler=sampler, floor=floor,
                      budgets=budgets)
    return rows.assign(fp_weight=np.nan, w2sq_reference=np.nan, w2sq_floor=np.nan)


def test_the_exact_lane_says_where_discretisation_error_is_lost_in_the_noise():
    """Per solver, the budget from which W2^2 to the exact data stays below twice its floor;
    the lane never enters the FP comparisons."""
    rows = pd.concat([study_rows(CURVES),
                      exact_rows([0.3, 0.021, 0.015, 0.019, 0.012]),
                      exact_rows([0.3, 0.1, 0.05, 0.03, 0.025], sampler="ddim")])
    found = nfe_findings(rows, None, GAP)
    assert {(g["dataset"], g["sampler"]) for g in found["groups"]} == {("checkerboard", "heun")}
    lane = {item["sampler"]: item for item in found["exact_lane"]}
    # heun: 0.021 >= 2 x 0.01 at NFE 10, below from NFE 20 on; ddim never below 0.02
    assert lane["heun"]["near_floor_from"] == 20 and lane["ddim"]["near_floor_from"] is None
    assert lane["heun"]["budgets"] == BUDGETS and lane["heun"]["floor"] == FLOOR
    markdown = nfe_findings_markdown(found)
    assert "heun (heun): below 2 x the floor from NFE 20 on" in markdown
    assert "ddim (ddim): never below it within the budgets measured" in markdown
    # the lane alone: no FP group, still its findings
    alone = nfe_findings(exact_rows([0.3, 0.1, 0.015, 0.01, 0.01]), None, GAP)
    assert alone["groups"] == [] and alone["exact_lane"][0]["near_floor_from"] == 20


def test_the_figure_draws_the_exact_lane_first_in_black():
    from odesdegap.reporting.nfe_figure import EXACT_LABEL, nfe_figure

    rows = pd.concat([study_rows(CURVES), exact_rows([0.3, 0.1, 0.015, 0.01, 0.01])])
    figure = nfe_figure(rows, GAP)
    try:
        first = figure.axes[0]
        assert first.get_title().startswith(f"{EXACT_LANE}, heun")
        (line,) = [ln for ln in first.get_lines() if ln.get_label() == EXACT_LABEL]
        assert line.get_color() == "black"
        assert EXACT_LABEL in [t.get_text() for t in figure.legends[0].texts]
    finally:
        import matplotlib.pyplot as plt

        plt.close(figure)
