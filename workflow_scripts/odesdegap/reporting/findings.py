"""Findings computed from the metrics table, never written by hand, for the pair of samplers the
config's `gap` names (reporting.gap.Gap; the ODE and the SDE by default): how their gap moves
with the FP weight, which weight gives the best samples for each configured sampler (the first
one's is the paper's claim), how the second's samples move, and whether the FP residual and the
gap fall together. Keys that name a sampler follow its name (best_ode_weight for the default),
as the metrics columns do. Rendered as a document by odesdegap.reporting.findings_text."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from scipy import stats

from odesdegap.reporting.gap import Gap
from odesdegap.reporting.tables import (
    FLOOR_COLUMNS,
    confidence_halfwidth,
    loses_samples,
    lost_fraction,
    near_floor,
    samplers_of,
)


def gap_ratios(frame: pd.DataFrame, gap: Gap) -> pd.DataFrame:
    """Per data set and weight: the gap's W2^2 over its value at weight 0, paired by seed, with
    the mean ratio over seeds and its 95% interval. `bound` is True where the gap at this weight
    or at weight 0 lies within NEAR_FLOOR_FACTOR of the noise floor in some seed: the ratio is
    then set by the floor, a bound and not a measurement. `lost_samples` is True where a model
    of either weight lost samples (`tables.loses_samples`) in some seed: its gap is measured on
    what remains."""
    frame = frame.assign(lost=loses_samples(frame, gap.first) | loses_samples(frame, gap.second))
    baseline = frame[frame.fp_weight == 0].set_index(["dataset", "seed"])[[gap.column, "lost"]]
    paired = frame.join(baseline.rename(columns={gap.column: "gap_at_zero",
                                                 "lost": "lost_at_zero"}),
                        on=["dataset", "seed"])
    paired["lost"] = paired["lost"] | paired["lost_at_zero"].eq(True)
    paired["ratio"] = paired[gap.column] / paired["gap_at_zero"]
    floor = paired["w2sq_floor"] if "w2sq_floor" in paired else np.nan
    paired["bound"] = (near_floor(paired[gap.column], floor)
                       | near_floor(paired["gap_at_zero"], floor))
    grouped = paired.groupby(["dataset", "fp_weight"])
    ratios = pd.DataFrame({
        "ratio": grouped["ratio"].mean(),
        "ratio_ci95": grouped["ratio"].agg(confidence_halfwidth),
        "n_seeds": grouped["ratio"].count(),
        "bound": grouped["bound"].any(),
        "lost_samples": grouped["lost"].any(),
    })
    if gap.debiased_column in frame:
        ratios = ratios.join(debiased_gap_ratios(frame, gap))
    return ratios.reset_index()


def debiased_gap_ratios(frame: pd.DataFrame, gap: Gap, level: float = 0.95) -> pd.DataFrame:
    """Per data set and weight: the debiased gap over its value at weight 0 (w2_debiased's
    estimate of the population W2^2, not pulled towards 1 by the plug-in's bias), with a 95%
    interval. Over several seeds: the mean of the per-seed ratios and Student's t interval
    over seeds (`debiased_ratio_interval` "seeds"), which holds the estimator's noise as well as
    training's. With one seed: Fieller's interval from the two estimates' standard errors
    ("standard errors"), which is wide, or unbounded (NaN), where the gap at weight 0 is not
    clearly above zero."""
    value, error = gap.debiased_column, gap.debiased_se_column
    baseline = frame[frame.fp_weight == 0].set_index(["dataset", "seed"])[[value, error]]
    paired = frame.join(baseline.rename(columns={value: "at_zero", error: "se_at_zero"}),
                        on=["dataset", "seed"])
    paired["debiased_ratio"] = paired[value] / paired["at_zero"]
    rows = {}
    for key, runs in paired.groupby(["dataset", "fp_weight"]):
        ratio = float(runs["debiased_ratio"].mean())
        if len(runs) > 1:
            halfwidth = confidence_halfwidth(runs["debiased_ratio"], level)
            low, high, basis = ratio - halfwidth, ratio + halfwidth, "seeds"
        elif key[1] == 0:  # weight 0 against itself: exactly 1, one estimate, no interval
            low = high = ratio
            basis = "standard errors"
        else:
            run = runs.iloc[0]
            low, high = fieller_interval(run[value], run[error], run["at_zero"],
                                         run["se_at_zero"], level)
            basis = "standard errors"
        rows[key] = {"debiased_ratio": ratio, "debiased_ratio_low": low,
                     "debiased_ratio_high": high, "debiased_ratio_interval": basis}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(["dataset", "fp_weight"])


def fieller_interval(numerator: float, numerator_se: float, denominator: float,
                     denominator_se: float, level: float = 0.95) -> tuple[float, float]:
    """Fieller's interval for numerator / denominator, two independent normal estimates: the
    ratios R with |numerator - R denominator| within z standard errors. (NaN, NaN) where the
    denominator is within z standard errors of zero: the set is then unbounded."""
    z = stats.norm.ppf(0.5 + level / 2)
    a = denominator**2 - (z * denominator_se) ** 2
    if not a > 0:
        return float("nan"), float("nan")
    b = numerator * denominator
    c = numerator**2 - (z * numerator_se) ** 2
    root = math.sqrt(max(b * b - a * c, 0.0))
    return (b - root) / a, (b + root) / a


def best_weight(runs: pd.DataFrame, sampler: str, floor_data) -> dict:
    """The FP weight whose `sampler` samples lie closest to the data (mean W2^2 over seeds) in
    one data set's runs. A model that lost samples (off the grid, non-finite;
    tables.loses_samples) is scored on the rest only: it cannot be called best, and is listed in
    `excluded_lost_samples` with its worst lost fraction."""
    means = runs.groupby("fp_weight")[f"w2sq_{sampler}_data"].mean()
    lost = lost_fraction(runs, sampler).groupby(runs.fp_weight).max()
    flagged = loses_samples(runs, sampler).groupby(runs.fp_weight).any()
    eligible = means[~flagged.reindex(means.index, fill_value=False)].dropna()
    weight, w2sq = ((float(eligible.idxmin()), float(eligible.min())) if len(eligible)
                    else (None, None))
    return {
        "sampler": sampler,
        "best_weight": weight,
        "best_w2sq": w2sq,
        "best_near_floor": None if w2sq is None else bool(near_floor(w2sq, floor_data)),
        "w2sq_at_zero": float(means.iloc[0]) if means.index[0] == 0 else None,
        "excluded_lost_samples": {float(w): float(lost[w]) for w in flagged.index
                                  if flagged[w]},
    }


def per_dataset(frame: pd.DataFrame, gap: Gap) -> list[dict]:
    """The findings for each data set, as plain numbers; the keys of the gap's samplers carry
    their names (`item_keys`)."""
    ratios = gap_ratios(frame, gap) if (frame.fp_weight == 0).any() else None
    samplers = samplers_of(frame)
    first_data, second_data = gap.data_columns
    keys = item_keys(gap)
    found = []
    for dataset, runs in frame.groupby("dataset", sort=True):
        means = runs.groupby("fp_weight")[[first_data, second_data, gap.column]].mean()
        floors = {column: _first(runs, column) for column in FLOOR_COLUMNS}
        by_sampler = [best_weight(runs, name, floors["w2sq_floor_data"]) for name in samplers]
        best = next(item for item in by_sampler if item["sampler"] == gap.first)
        second_trend = _spearman(runs.fp_weight, runs[second_data])
        residual_gap = _spearman(runs.fp_residual, runs[gap.column])
        data_residual_gap = _spearman(runs.fp_residual_data, runs[gap.column])
        found.append({
            "dataset": dataset,
            **floors,
            "gap_ratio": ([] if ratios is None else
                          ratios[ratios.dataset == dataset].drop(columns="dataset")
                          .to_dict("records")),
            keys["best_weight"]: best["best_weight"],
            keys["best_w2sq"]: best["best_w2sq"],
            keys["best_near_floor"]: best["best_near_floor"],
            "excluded_lost_samples": best["excluded_lost_samples"],
            keys["w2sq_at_zero"]: best["w2sq_at_zero"],
            "best_by_sampler": by_sampler,
            keys["w2sq_by_weight"]: {float(w): float(v)
                                     for w, v in means[second_data].items()},
            keys["weight_spearman"]: second_trend[0],
            keys["weight_p"]: second_trend[1],
            keys["weight_min_p"]: _smallest_p(runs.fp_weight),
            "residual_gap_spearman": residual_gap[0],
            "residual_gap_p": residual_gap[1],
            "data_residual_gap_spearman": data_residual_gap[0],
            "data_residual_gap_p": data_residual_gap[1],
            "residual_gap_min_p": _smallest_p(runs.fp_residual),
            "n_runs": len(runs),
            "n_seeds": int(runs.seed.nunique()),
            "n_weights": int(runs.fp_weight.nunique()),
        })
    return found


def item_keys(gap: Gap) -> dict[str, str]:
    """The keys of a data set's findings that name one of the gap's samplers, by what they
    hold: the first sampler's best weight (best_ode_weight for the default gap), the second's
    trend with the weight (sde_weight_spearman), ..."""
    first, second = gap
    return {"best_weight": f"best_{first}_weight", "best_w2sq": f"best_{first}_w2sq",
            "best_near_floor": f"best_{first}_near_floor",
            "w2sq_at_zero": f"{first}_w2sq_at_zero",
            "w2sq_by_weight": f"{second}_w2sq_by_weight",
            "weight_spearman": f"{second}_weight_spearman", "weight_p": f"{second}_weight_p",
            "weight_min_p": f"{second}_weight_min_p"}


def pooled_residual_gap(frame: pd.DataFrame, gap: Gap, column: str = "fp_residual"):
    """Rank correlation (rho, p) of an FP residual column and the gap's W2^2 across every run."""
    return _spearman(frame[column], frame[gap.column])


def stratified_test_columns(gap: Gap) -> dict[str, tuple[str, str]]:
    """The stratified tests, by name: (x, y) columns. Names and columns follow the gap's
    samplers (ode_weight: the weight against w2sq_ode_data, for the default gap)."""
    first_data, second_data = gap.data_columns
    return {
        "residual_gap": ("fp_residual", gap.column),
        "data_residual_gap": ("fp_residual_data", gap.column),
        "gap_weight": ("fp_weight", gap.column),
        f"{gap.first}_weight": ("fp_weight", first_data),
        f"{gap.second}_weight": ("fp_weight", second_data),
    }


def stratified_tests(frame: pd.DataFrame, gap: Gap) -> dict[str, dict]:
    """Every test of `stratified_test_columns`, stratified by data set (see
    `stratified_spearman`)."""
    return {name: stratified_spearman(frame, x, y)
            for name, (x, y) in stratified_test_columns(gap).items()}


def stratified_spearman(frame: pd.DataFrame, x: str, y: str, strata: str = "dataset",
                        n_resamples: int = 50_000, seed: int = 0) -> dict:
    """Spearman's rho of x and y within each stratum (data set), averaged over strata, with a
    two-sided permutation p-value that permutes y within each stratum only.

    Pooled over data sets, a correlation can come from the differences between data sets (their
    W2^2 and residuals sit at different levels) rather than from anything within one; this test
    asks only whether x and y move together inside every data set. The null distribution is
    enumerated exactly when the strata have at most `n_resamples` joint orderings, else drawn
    from `n_resamples` seeded permutations. Strata with fewer than three finite pairs or a
    constant column are left out. Also returns the smallest p-value these strata could give.
    """
    parts = []
    for _, group in frame.groupby(strata, sort=True):
        keep = np.isfinite(group[x].to_numpy(float)) & np.isfinite(group[y].to_numpy(float))
        if keep.sum() < 3:
            continue
        ranks_x = stats.rankdata(group[x].to_numpy(float)[keep])
        ranks_y = stats.rankdata(group[y].to_numpy(float)[keep])
        if np.ptp(ranks_x) == 0 or np.ptp(ranks_y) == 0:
            continue
        parts.append((ranks_x, ranks_y))
    if not parts:
        return {"spearman": None, "p": None, "min_p": None, "n_strata": 0}
    rho, p = _stratified_permutation(parts, n_resamples, seed)
    _, min_p = _stratified_permutation([(rx, rx) for rx, _ in parts], n_resamples, seed)
    return {"spearman": _finite(rho), "p": _finite(p), "min_p": _finite(min_p),
            "n_strata": len(parts)}


def _stratified_permutation(parts, n_resamples: int, seed: int) -> tuple[float, float]:
    """Mean within-stratum rank correlation and its two-sided within-stratum permutation p."""
    def correlations(ranks_x, permuted_y):
        dx = ranks_x - ranks_x.mean()
        dy = permuted_y - permuted_y.mean(axis=-1, keepdims=True)
        return (dy @ dx) / np.sqrt((dx @ dx) * (dy**2).sum(axis=-1))

    observed = np.mean([correlations(rx, ry[None])[0] for rx, ry in parts])
    orderings = math.prod(math.factorial(len(rx)) for rx, _ in parts)
    if orderings <= n_resamples:
        null = np.zeros(1)
        for rx, ry in parts:
            every = np.array(list(itertools.permutations(ry)))
            null = np.add.outer(null, correlations(rx, every)).ravel()
        null /= len(parts)
        exceed = np.abs(null) >= abs(observed) - 1e-12
        return float(observed), float(exceed.mean())
    rng = np.random.default_rng(seed)
    null = np.mean([correlations(rx, rng.permuted(np.tile(ry, (n_resamples, 1)), axis=1))
                    for rx, ry in parts], axis=0)
    exceed = np.abs(null) >= abs(observed) - 1e-12
    return float(observed), float((exceed.sum() + 1) / (n_resamples + 1))


def _spearman(a: pd.Series, b: pd.Series) -> tuple[float | None, float | None]:
    """Spearman's rho and its two-sided permutation p-value (exact over all orderings for up to
    8 runs, else from 50,000 seeded permutations): with a handful of runs the usual t
    approximation would report p = 0 for a perfect ranking."""
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < 3:
        return None, None
    ranks_a, ranks_b = stats.rankdata(a[keep]), stats.rankdata(b[keep])
    if np.ptp(ranks_a) == 0 or np.ptp(ranks_b) == 0:
        return None, None
    result = stats.pearsonr(ranks_a, ranks_b,
                            method=stats.PermutationMethod(n_resamples=50_000, rng=0))
    return _finite(result.statistic), _finite(result.pvalue)


def _smallest_p(values: pd.Series) -> float | None:
    """The smallest p-value `_spearman` can give for these runs: that of a perfect ranking (with
    one seed and four weights, 2/4! = 1/12)."""
    return _spearman(values, values)[1]


def _first(runs: pd.DataFrame, column: str) -> float | None:
    if column not in runs:
        return None
    values = runs[column].dropna()
    return _finite(values.iloc[0]) if len(values) else None


def _finite(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None
