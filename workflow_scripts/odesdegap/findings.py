"""Findings computed from the metrics table, never written by hand: how the ODE–SDE gap moves
with the FP weight, which weight gives the best ODE samples, how the SDE samples move, and
whether the FP residual and the gap fall together."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from .tables import confidence_halfwidth


def gap_ratios(frame: pd.DataFrame) -> pd.DataFrame:
    """Per data set and weight: ODE–SDE W2^2 over its value at weight 0, paired by seed, with
    the mean ratio over seeds and its 95% interval."""
    baseline = frame[frame.fp_weight == 0].set_index(["dataset", "seed"])["w2sq_ode_sde"]
    paired = frame.join(baseline.rename("gap_at_zero"), on=["dataset", "seed"])
    paired["ratio"] = paired["w2sq_ode_sde"] / paired["gap_at_zero"]
    grouped = paired.groupby(["dataset", "fp_weight"])["ratio"]
    return pd.DataFrame({
        "ratio": grouped.mean(),
        "ratio_ci95": grouped.agg(confidence_halfwidth),
        "n_seeds": grouped.count(),
    }).reset_index()


def per_dataset(frame: pd.DataFrame) -> list[dict]:
    """The findings for each data set, as plain numbers."""
    ratios = gap_ratios(frame) if (frame.fp_weight == 0).any() else None
    found = []
    for dataset, runs in frame.groupby("dataset", sort=True):
        means = runs.groupby("fp_weight")[["w2sq_ode_data", "w2sq_sde_data", "w2sq_ode_sde"]].mean()
        weights = means.index.to_numpy()
        sde_trend = _spearman(runs.fp_weight, runs.w2sq_sde_data)
        residual_gap = _spearman(runs.fp_residual, runs.w2sq_ode_sde)
        data_residual_gap = _spearman(runs.fp_residual_data, runs.w2sq_ode_sde)
        found.append({
            "dataset": dataset,
            "gap_ratio": ([] if ratios is None else
                          ratios[ratios.dataset == dataset].drop(columns="dataset")
                          .to_dict("records")),
            "best_ode_weight": float(means.w2sq_ode_data.idxmin()),
            "best_ode_w2sq": float(means.w2sq_ode_data.min()),
            "ode_w2sq_at_zero": float(means.w2sq_ode_data.iloc[0]) if weights[0] == 0 else None,
            "sde_w2sq_by_weight": {float(w): float(v) for w, v in means.w2sq_sde_data.items()},
            "sde_weight_spearman": sde_trend[0],
            "sde_weight_p": sde_trend[1],
            "residual_gap_spearman": residual_gap[0],
            "residual_gap_p": residual_gap[1],
            "data_residual_gap_spearman": data_residual_gap[0],
            "data_residual_gap_p": data_residual_gap[1],
            "n_runs": len(runs),
        })
    return found


def pooled_residual_gap(frame: pd.DataFrame, column: str = "fp_residual"):
    """Rank correlation (rho, p) of an FP residual column and ODE–SDE W2^2 across every run."""
    return _spearman(frame[column], frame.w2sq_ode_sde)


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


def _finite(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _number(value, digits: int = 3) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}g}"


def to_markdown(found: list[dict], pooled: dict[str, tuple]) -> str:
    lines = ["# Findings", "",
             "Computed by `odesdegap.findings` from `results/tables/metrics.csv`; W2^2 is the "
             "squared 2-Wasserstein distance on the 64 x 64 grid.", ""]
    for item in found:
        lines += [f"## {item['dataset']}", ""]
        if item["gap_ratio"]:
            lines += ["ODE–SDE W2^2 relative to weight 0 (paired by seed; mean ± 95% CI when "
                      "there are several seeds):", "",
                      "| FP weight | ratio to w = 0 | seeds |", "| ---: | ---: | ---: |"]
            for row in item["gap_ratio"]:
                interval = ("" if row["ratio_ci95"] is None or not math.isfinite(row["ratio_ci95"])
                            else f" ± {_number(row['ratio_ci95'], 2)}")
                lines.append(f"| {row['fp_weight']:g} | {_number(row['ratio'])}{interval} | "
                             f"{row['n_seeds']} |")
            lines.append("")
        zero = item["ode_w2sq_at_zero"]
        lines.append(f"- Best ODE–data W2^2: {_number(item['best_ode_w2sq'])} at weight "
                     f"{item['best_ode_weight']:g}" +
                     (f" (weight 0: {_number(zero)})." if zero is not None else "."))
        sde = ", ".join(f"{w:g}: {_number(v)}" for w, v in item["sde_w2sq_by_weight"].items())
        lines.append(f"- SDE–data W2^2 by weight: {sde}; Spearman rank correlation with the "
                     f"weight {_number(item['sde_weight_spearman'])} "
                     f"(p = {_number(item['sde_weight_p'], 2)}).")
        lines.append(f"- FP residual vs ODE–SDE W2^2 across this data set's {item['n_runs']} "
                     f"runs, Spearman: {_number(item['residual_gap_spearman'])} "
                     f"(p = {_number(item['residual_gap_p'], 2)}) on the box, "
                     f"{_number(item['data_residual_gap_spearman'])} "
                     f"(p = {_number(item['data_residual_gap_p'], 2)}) near the data.")
        lines.append("")
    (box_rho, box_p), (data_rho, data_p) = pooled["fp_residual"], pooled["fp_residual_data"]
    lines.append(f"Across all runs, the FP residual and the ODE–SDE W2^2 have Spearman rank "
                 f"correlation {_number(box_rho)} (p = {_number(box_p, 2)}) on the box and "
                 f"{_number(data_rho)} (p = {_number(data_p, 2)}) near the data.")
    return "\n".join(lines) + "\n"
