"""Tables and findings read every distance against its noise floor, keep models that lost
samples from looking best, and test trends within data sets, not only pooled over them."""

import re
import time

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from odesdegap.reporting import findings, findings_text, tables
from odesdegap.reporting.gap import Gap

GAP = Gap("ode", "sde")  # the default gap: hand_made's columns are w2sq_ode_sde, ...


def hand_made(floor=0.01, overrides=None) -> pd.DataFrame:
    """Two data sets x four weights x one seed; the gap falls with the weight."""
    rows = []
    for dataset in ("circles", "mixture"):
        for i, weight in enumerate((0.0, 0.1, 1.0, 10.0)):
            rows.append({
                "dataset": dataset, "fp_weight": weight, "seed": 0,
                "w2sq_ode_sde": [0.09, 0.05, 0.03, 0.015][i],
                "w2sq_ode_data": [0.14, 0.07, 0.11, 0.18][i],
                "w2sq_sde_data": [0.03, 0.04, 0.06, 0.09][i],
                "fp_residual": [26.0, 23.0, 11.0, 5.7][i],
                "fp_residual_data": [15.0, 12.0, 5.0, 0.5][i],
                "n_outside_ode": 0, "n_nonfinite_ode": 0, "n_samples_ode": 10_000,
                "n_outside_sde": 0, "n_nonfinite_sde": 0, "n_samples_sde": 10_000,
                "w2sq_floor": floor, "w2sq_floor_data": floor, "n_floor_points": 10_000,
                "lost_fraction_floor": 0.0,
            })
    frame = pd.DataFrame(rows)
    for (dataset, weight, column), value in (overrides or {}).items():
        frame.loc[(frame.dataset == dataset) & (frame.fp_weight == weight), column] = value
    return frame


def test_values_within_twice_the_floor_are_flagged():
    assert list(tables.near_floor([0.015, 0.019, 0.021, np.nan, 0.015],
                                  [0.01, 0.01, 0.01, 0.01, np.nan])) == [
        True, True, False, False, False]
    summary = tables.summarise(tables.flag_runs(hand_made()))
    at_ten = summary[summary.fp_weight == 10.0]
    assert at_ten.near_floor_ode_sde.all() and not at_ten.near_floor_ode_data.any()
    assert not summary[summary.fp_weight == 0.0].near_floor_ode_sde.any()
    assert (summary.w2sq_floor == 0.01).all()
    shown = tables.format_summary(summary)
    cell = shown[(shown.dataset == "circles") & (shown.fp_weight == 10.0)].w2sq_ode_sde.item()
    assert cell == f"0.015 {tables.NEAR_FLOOR_MARK}"
    assert "w2sq_floor" in shown and shown.n_samples.eq("10000").all()
    markdown = tables.to_markdown(shown, tables.summary_notes(summary))
    assert "w2sq_floor" in markdown and "noise floor" in markdown


def test_ratios_next_to_the_floor_are_bounds():
    ratios = findings.gap_ratios(hand_made(), GAP)
    bound = dict(zip(ratios.fp_weight[ratios.dataset == "circles"],
                     ratios.bound[ratios.dataset == "circles"], strict=True))
    assert bound == {0.0: False, 0.1: False, 1.0: False, 10.0: True}
    found = findings.per_dataset(hand_made(), GAP)
    text = findings_text.to_markdown(found, {c: (0.8, 0.01) for c in ("fp_residual",
                                                                 "fp_residual_data")}, GAP)
    assert "bound (floor)" in text


def test_a_model_that_lost_samples_is_not_best():
    # Weight 0.1 has the best ODE–data W2^2, but 3% of its ODE samples left the grid.
    frame = hand_made(overrides={("circles", 0.1, "n_outside_ode"): 300})
    found = {item["dataset"]: item for item in findings.per_dataset(frame, GAP)}
    assert found["mixture"]["best_ode_weight"] == 0.1
    assert found["circles"]["best_ode_weight"] == 1.0
    assert found["circles"]["excluded_lost_samples"] == {0.1: pytest.approx(0.03)}
    text = findings_text.to_markdown(list(found.values()), {c: (None, None) for c in (
        "fp_residual", "fp_residual_data")}, GAP)
    assert "w = 0.1 (3% lost)" in text
    ratios = findings.gap_ratios(frame, GAP)
    lost = ratios[ratios.dataset == "circles"].set_index("fp_weight").lost_samples
    assert lost.to_dict() == {0.0: False, 0.1: True, 1.0: False, 10.0: False}
    assert f"lost samples {tables.LOST_MARK}" in text
    summary = tables.summarise(tables.flag_runs(frame))
    shown = tables.format_summary(summary)
    assert shown.lost_ode.str.contains(tables.LOST_MARK).sum() == 1
    # Losing no more than the data itself does (mass beyond the box) is no flaw of the model.
    frame["lost_fraction_floor"] = 0.03
    found = {item["dataset"]: item for item in findings.per_dataset(frame, GAP)}
    assert found["circles"]["best_ode_weight"] == 0.1


def test_every_configured_sampler_gets_its_best_weight():
    """Findings keyed by sampler: an extra sampler (here a fast solver, heun10) gets its own best
    weight, read with the same rules as the ODE's (lost samples are not eligible), and the
    markdown lists every sampler once there are more than the ode and sde pair."""
    frame = hand_made().assign(n_samples_heun10=10_000, n_outside_heun10=0,
                               n_nonfinite_heun10=0)
    frame["w2sq_heun10_data"] = frame.fp_weight.map({0.0: 0.05, 0.1: 0.04, 1.0: 0.02, 10.0: 0.3})
    frame.loc[(frame.dataset == "circles") & (frame.fp_weight == 1.0), "n_outside_heun10"] = 500
    found = {item["dataset"]: item for item in findings.per_dataset(frame, GAP)}
    best = {b["sampler"]: b for b in found["circles"]["best_by_sampler"]}
    assert list(best) == ["ode", "sde", "heun10"]
    assert best["ode"]["best_weight"] == found["circles"]["best_ode_weight"] == 0.1
    assert best["sde"]["best_weight"] == 0.0
    assert best["heun10"]["best_weight"] == 0.1 and best["heun10"]["w2sq_at_zero"] == 0.05
    assert best["heun10"]["excluded_lost_samples"] == {1.0: pytest.approx(0.05)}
    assert {b["sampler"]: b["best_weight"] for b in found["mixture"]["best_by_sampler"]}[
        "heun10"] == 1.0
    text = findings_text.to_markdown(list(found.values()), {c: (None, None) for c in (
        "fp_residual", "fp_residual_data")}, GAP)
    assert "Every configured sampler" in text
    assert re.search(r"\|\s+heun10 \|\s+0\.1 \|", text), text
    # the default pair alone: the paper's sentences, no per-sampler table
    plain = findings_text.to_markdown(findings.per_dataset(hand_made(), GAP), {
        c: (None, None) for c in ("fp_residual", "fp_residual_data")}, GAP)
    assert "Every configured sampler" not in plain


def test_findings_follow_the_configured_gap_by_its_samplers_names():
    """The gap [fast, sde] on the same numbers under the first sampler's name: the same
    findings, keyed by its name (best_fast_weight), and texts that name it."""
    frame = hand_made().rename(columns=lambda column: column.replace("_ode", "_fast"))
    gap = Gap("fast", "sde")
    default, found = findings.per_dataset(hand_made(), GAP), findings.per_dataset(frame, gap)
    assert [item["best_fast_weight"] for item in found] == [
        item["best_ode_weight"] for item in default]
    assert "best_ode_weight" not in found[0]
    pd.testing.assert_frame_equal(pd.DataFrame(found[0]["gap_ratio"]),
                                  pd.DataFrame(default[0]["gap_ratio"]))
    stratified = findings.stratified_tests(frame, gap)
    assert list(stratified) == ["residual_gap", "data_residual_gap", "gap_weight", "fast_weight",
                                "sde_weight"]
    text = findings_text.to_markdown(found, {c: (0.8, 0.01) for c in (
        "fp_residual", "fp_residual_data")}, gap, stratified)
    assert "fast–SDE W2^2 relative to weight 0" in text and "Best fast–data W2^2" in text
    assert "FP weight vs fast–data W2^2" in text and "ODE" not in text


def test_a_negligible_loss_is_tolerated_but_a_non_finite_sample_is_not():
    # 0.4% off the grid (the authors' own w = 1 models lose that much) moves W2^2 by a fraction
    # of the floor; a single non-finite sample means the sampler diverged.
    frame = hand_made(overrides={("circles", 0.1, "n_outside_ode"): 40})
    found = {item["dataset"]: item for item in findings.per_dataset(frame, GAP)}
    assert found["circles"]["best_ode_weight"] == 0.1
    frame = hand_made(overrides={("circles", 0.1, "n_outside_ode"): 60})
    found = {item["dataset"]: item for item in findings.per_dataset(frame, GAP)}
    assert found["circles"]["best_ode_weight"] == 1.0
    frame = hand_made(overrides={("circles", 0.1, "n_nonfinite_ode"): 1})
    found = {item["dataset"]: item for item in findings.per_dataset(frame, GAP)}
    assert found["circles"]["best_ode_weight"] == 1.0


def test_stratified_test_disagrees_with_the_pooled_one():
    """Within each data set the residual and the gap fall together (perfectly), but the data
    sets' levels run the other way: pooled, the correlation is negative."""
    rows = []
    for level, dataset in enumerate(("a", "b", "c")):
        for i in range(4):
            rows.append({"dataset": dataset, "fp_residual": 10 * level + i,
                         "w2sq_ode_sde": 1.0 - 0.3 * level + 0.01 * i})
    frame = pd.DataFrame(rows)
    pooled = stats.spearmanr(frame.fp_residual, frame.w2sq_ode_sde).statistic
    assert pooled < -0.5
    test = findings.stratified_spearman(frame, "fp_residual", "w2sq_ode_sde")
    assert test["spearman"] == pytest.approx(1.0)
    # Exact over 4!^3 joint orderings: only the perfect and the reversed one in every stratum.
    assert test["p"] == pytest.approx(2 / 24**3)
    assert test["min_p"] == pytest.approx(2 / 24**3) and test["n_strata"] == 3
    # Monte Carlo when the orderings are too many to enumerate: p = (1 + hits) / (1 + draws),
    # never below 1 / (1 + draws).
    sampled = findings.stratified_spearman(frame, "fp_residual", "w2sq_ode_sde", n_resamples=100)
    hits = round(sampled["p"] * 101) - 1
    assert sampled["p"] == pytest.approx((1 + hits) / 101) and 0 <= hits <= 3


def test_one_seed_trends_are_worded_as_unsupported():
    found = findings.per_dataset(hand_made(), GAP)
    assert found[0]["sde_weight_min_p"] == pytest.approx(1 / 12)
    stratified = findings.stratified_tests(hand_made(), GAP)
    text = findings_text.to_markdown(found, {c: (0.8, 0.01) for c in ("fp_residual",
                                                                 "fp_residual_data")}, GAP,
                                stratified)
    assert ("With one seed per weight and 4 weights, the smallest attainable permutation p-value "
            "is 0.083: no trend within this data set can be significant on its own") in text
    assert "Noise floor at the runs' sample size (n = 10000): W2^2 0.01" in text
    assert "permuted within data sets" in text
    assert stratified["sde_weight"]["min_p"] == pytest.approx(2 / 24**2)


@pytest.mark.slow
def test_w2_figure_draws_each_data_sets_floor():
    from odesdegap.reporting import figures

    frame = hand_made()
    frame.loc[frame.dataset == "mixture", "w2sq_floor"] = 0.008
    figure = figures.w2_against_weight(frame, GAP)
    labels = [text.get_text() for legend in figure.legends for text in legend.texts]
    assert {"floor, ODE–SDE", "floor, with data", "within 2x of the floor"} <= set(labels)
    floors = {ax.get_title(): sorted({line.get_ydata()[0] for line in ax.get_lines()
                                      if line.get_label().startswith("floor")})
              for ax in figure.axes}
    assert floors == {"dataset = circles": [0.01], "dataset = mixture": [0.008, 0.01]}


@pytest.mark.slow
def test_a_saved_figure_has_the_same_bytes_every_time(tmp_path, monkeypatch):
    """The PDF carries no creation date: the same figure saved at two moments (SOURCE_DATE_EPOCH
    unset) gives identical files, PNG and PDF alike."""
    from odesdegap.reporting import figures

    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    saved = []
    for moment in ("first", "second"):
        png, pdf = tmp_path / f"{moment}.png", tmp_path / f"{moment}.pdf"
        figures.save(figures.w2_against_weight(hand_made(), GAP), png, pdf)
        saved.append((png.read_bytes(), pdf.read_bytes()))
        time.sleep(1.1)  # a PDF date has whole seconds
    assert saved[0] == saved[1]
    assert saved[0][1].startswith(b"%PDF-") and b"/CreationDate" not in saved[0][1]


def test_without_a_floor_nothing_is_called_a_measurement_or_flagged():
    """Image data sets have no W2^2 floor: their rows say so instead of passing as measured."""
    frame = hand_made(floor=np.nan)
    summary = tables.summarise(tables.flag_runs(frame))
    assert not summary.near_floor_ode_sde.any()
    assert any("No W2^2 floor" in note for note in tables.summary_notes(summary))
    text = findings_text.to_markdown(findings.per_dataset(frame, GAP),
                                {c: (None, None) for c in ("fp_residual", "fp_residual_data")}, GAP)
    assert "no floor to judge by" in text and "measurement |" not in text


def with_debiased(frame: pd.DataFrame, seeds=(0,), rng=None) -> pd.DataFrame:
    """hand_made's runs with debiased gap columns: the plug-in less 0.005, standard error
    0.002; further seeds jittered."""
    runs = []
    for seed in seeds:
        copy = frame.assign(seed=seed)
        jitter = 0 if rng is None else rng.normal(0, 0.002, len(copy))
        copy["debiased_w2sq_ode_sde"] = copy.w2sq_ode_sde - 0.005 + jitter
        copy["se_debiased_w2sq_ode_sde"] = 0.002
        runs.append(copy)
    return pd.concat(runs, ignore_index=True)


def test_one_seed_gets_fiellers_interval_for_the_debiased_ratio():
    ratios = findings.gap_ratios(with_debiased(hand_made()), GAP)
    row = ratios[(ratios.dataset == "circles") & (ratios.fp_weight == 10.0)].iloc[0]
    assert row.debiased_ratio == pytest.approx(0.010 / 0.085)
    assert row.debiased_ratio_interval == "standard errors"
    assert row.debiased_ratio_low < row.debiased_ratio < row.debiased_ratio_high
    # the plug-in's ratio is unchanged beside it
    assert row.ratio == pytest.approx(0.015 / 0.09)
    # weight 0 against itself is one estimate: exactly 1, no interval
    zero = ratios[(ratios.dataset == "circles") & (ratios.fp_weight == 0.0)].iloc[0]
    assert zero.debiased_ratio == zero.debiased_ratio_low == zero.debiased_ratio_high == 1.0


def test_several_seeds_get_the_t_interval_over_seeds():
    frame = with_debiased(hand_made(), seeds=(0, 1, 2), rng=np.random.default_rng(0))
    ratios = findings.gap_ratios(frame, GAP)
    row = ratios[(ratios.dataset == "mixture") & (ratios.fp_weight == 1.0)].iloc[0]
    per_seed = (frame[(frame.dataset == "mixture") & (frame.fp_weight == 1.0)]
                .debiased_w2sq_ode_sde.to_numpy()
                / frame[(frame.dataset == "mixture") & (frame.fp_weight == 0.0)]
                .debiased_w2sq_ode_sde.to_numpy())
    halfwidth = stats.t.ppf(0.975, 2) * per_seed.std(ddof=1) / np.sqrt(3)
    assert row.debiased_ratio == pytest.approx(per_seed.mean())
    assert row.debiased_ratio_high - row.debiased_ratio == pytest.approx(halfwidth)
    assert row.debiased_ratio_interval == "seeds" and row.n_seeds == 3


def test_fiellers_interval_covers_the_true_ratio_95_times_in_100():
    rng = np.random.default_rng(4)
    truth, covered, draws = 0.2, 0, 4000
    for _ in range(draws):
        numerator, denominator = rng.normal(0.02, 0.004), rng.normal(0.1, 0.01)
        low, high = findings.fieller_interval(numerator, 0.004, denominator, 0.01)
        covered += low <= truth <= high
    assert covered / draws == pytest.approx(0.95, abs=0.012)
    # unbounded where the denominator is within its z standard errors of zero
    assert np.isnan(findings.fieller_interval(0.02, 0.004, 0.01, 0.01)).all()
    assert findings.fieller_interval(0.02, 0.0, 0.1, 0.0) == pytest.approx((0.2, 0.2))


def test_the_findings_table_shows_the_debiased_ratio_and_says_what_it_is():
    frame = with_debiased(hand_made())
    found = findings.per_dataset(frame, GAP)
    text = findings_text.to_markdown(found, {c: (0.8, 0.01) for c in ("fp_residual",
                                                                 "fp_residual_data")}, GAP)
    assert "debiased ratio (95% interval)" in text and "cross-fitted" in text
