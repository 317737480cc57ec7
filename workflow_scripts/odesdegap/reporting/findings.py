"""Findings computed from the metrics table, never written by hand: how the ODE–SDE gap moves
with the FP weight, which weight gives the best samples for each configured sampler (the ODE's
is the paper's claim), how the SDE samples move, and whether the FP residual and the gap fall
together."""

from __future__ import annotations

import itertools
import math
from html import escape

import numpy as np
import pandas as pd
from scipy import stats

from odesdegap.reporting.tables import (
    FLOOR_COLUMNS,
    LOST_MARK,
    NEAR_FLOOR_FACTOR,
    NEAR_FLOOR_MARK,
    confidence_halfwidth,
    loses_samples,
    lost_fraction,
    near_floor,
    samplers_of,
)


def gap_ratios(frame: pd.DataFrame) -> pd.DataFrame:
    """Per data set and weight: ODE–SDE W2^2 over its value at weight 0, paired by seed, with
    the mean ratio over seeds and its 95% interval. `bound` is True where the gap at this weight
    or at weight 0 lies within NEAR_FLOOR_FACTOR of the noise floor in some seed: the ratio is
    then set by the floor, a bound and not a measurement. `lost_samples` is True where a model
    of either weight lost samples (`tables.loses_samples`) in some seed: its gap is measured on
    what remains."""
    frame = frame.assign(lost=loses_samples(frame, "ode") | loses_samples(frame, "sde"))
    baseline = frame[frame.fp_weight == 0].set_index(["dataset", "seed"])[["w2sq_ode_sde", "lost"]]
    paired = frame.join(baseline.rename(columns={"w2sq_ode_sde": "gap_at_zero",
                                                 "lost": "lost_at_zero"}),
                        on=["dataset", "seed"])
    paired["lost"] = paired["lost"] | paired["lost_at_zero"].eq(True)
    paired["ratio"] = paired["w2sq_ode_sde"] / paired["gap_at_zero"]
    floor = paired["w2sq_floor"] if "w2sq_floor" in paired else np.nan
    paired["bound"] = (near_floor(paired["w2sq_ode_sde"], floor)
                       | near_floor(paired["gap_at_zero"], floor))
    grouped = paired.groupby(["dataset", "fp_weight"])
    return pd.DataFrame({
        "ratio": grouped["ratio"].mean(),
        "ratio_ci95": grouped["ratio"].agg(confidence_halfwidth),
        "n_seeds": grouped["ratio"].count(),
        "bound": grouped["bound"].any(),
        "lost_samples": grouped["lost"].any(),
    }).reset_index()


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


def per_dataset(frame: pd.DataFrame) -> list[dict]:
    """The findings for each data set, as plain numbers."""
    ratios = gap_ratios(frame) if (frame.fp_weight == 0).any() else None
    samplers = samplers_of(frame)
    found = []
    for dataset, runs in frame.groupby("dataset", sort=True):
        means = runs.groupby("fp_weight")[["w2sq_ode_data", "w2sq_sde_data", "w2sq_ode_sde"]].mean()
        floors = {column: _first(runs, column) for column in FLOOR_COLUMNS}
        by_sampler = [best_weight(runs, name, floors["w2sq_floor_data"]) for name in samplers]
        ode = next(item for item in by_sampler if item["sampler"] == "ode")
        sde_trend = _spearman(runs.fp_weight, runs.w2sq_sde_data)
        residual_gap = _spearman(runs.fp_residual, runs.w2sq_ode_sde)
        data_residual_gap = _spearman(runs.fp_residual_data, runs.w2sq_ode_sde)
        found.append({
            "dataset": dataset,
            **floors,
            "gap_ratio": ([] if ratios is None else
                          ratios[ratios.dataset == dataset].drop(columns="dataset")
                          .to_dict("records")),
            "best_ode_weight": ode["best_weight"],
            "best_ode_w2sq": ode["best_w2sq"],
            "best_ode_near_floor": ode["best_near_floor"],
            "excluded_lost_samples": ode["excluded_lost_samples"],
            "ode_w2sq_at_zero": ode["w2sq_at_zero"],
            "best_by_sampler": by_sampler,
            "sde_w2sq_by_weight": {float(w): float(v) for w, v in means.w2sq_sde_data.items()},
            "sde_weight_spearman": sde_trend[0],
            "sde_weight_p": sde_trend[1],
            "sde_weight_min_p": _smallest_p(runs.fp_weight),
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


def pooled_residual_gap(frame: pd.DataFrame, column: str = "fp_residual"):
    """Rank correlation (rho, p) of an FP residual column and ODE–SDE W2^2 across every run."""
    return _spearman(frame[column], frame.w2sq_ode_sde)


STRATIFIED_TESTS = {
    "residual_gap": ("fp_residual", "w2sq_ode_sde"),
    "data_residual_gap": ("fp_residual_data", "w2sq_ode_sde"),
    "gap_weight": ("fp_weight", "w2sq_ode_sde"),
    "ode_weight": ("fp_weight", "w2sq_ode_data"),
    "sde_weight": ("fp_weight", "w2sq_sde_data"),
}


def stratified_tests(frame: pd.DataFrame) -> dict[str, dict]:
    """Every test of STRATIFIED_TESTS, stratified by data set (see `stratified_spearman`)."""
    return {name: stratified_spearman(frame, x, y) for name, (x, y) in STRATIFIED_TESTS.items()}


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


def _number(value, digits: int = 3) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}g}"


def _significance(p, min_p) -> str:
    """A permutation p-value, read against the smallest one these runs allow."""
    if p is None:
        return "p = n/a"
    if min_p is not None and p <= min_p * (1 + 1e-9) and min_p >= 0.05:
        return f"p = {_number(p, 2)}, the smallest attainable"
    return f"p = {_number(p, 2)}" + ("" if p < 0.05 else ", not significant")


def _power_note(item: dict) -> str | None:
    """What one data set's runs cannot show, when even a perfect ranking is not significant."""
    min_p = item.get("sde_weight_min_p")
    if min_p is None or min_p < 0.05:
        return None
    seeds = "one seed" if item.get("n_seeds") == 1 else f"{item.get('n_seeds')} seeds"
    return (f"With {seeds} per weight and {item.get('n_weights')} weights, the smallest "
            f"attainable permutation p-value is {_number(min_p, 2)}: no trend within this "
            "data set can be significant on its own; the tests across data sets below pool "
            "the evidence.")


def _floor_sentence(item: dict) -> str:
    if item.get("w2sq_floor") is None:
        return ("No W2^2 noise floor for this data set (no generator of fresh points): "
                "its distances cannot be judged against sampling noise.")
    n = item.get("n_floor_points")
    size = "n/a" if n is None else f"{int(n)}"
    return (f"Noise floor at the runs' sample size (n = {size}): W2^2 "
            f"{_number(item['w2sq_floor'])} "
            f"between two independent held-out sets (the floor of ODE–SDE), "
            f"{_number(item.get('w2sq_floor_data'))} between one and the held-out reference "
            f"(the floor of ODE–data and SDE–data). {NEAR_FLOOR_MARK} marks a value within "
            f"{NEAR_FLOOR_FACTOR:g}x of its floor.")


def _reading(row: dict, has_floor: bool) -> str:
    """What a gap ratio is: a measurement, or a bound set by the floor, or not to be trusted
    because a model lost samples; without a floor it cannot be judged."""
    caveats = (["bound (floor)"] if row.get("bound") else []) + (
        [f"lost samples {LOST_MARK}"] if row.get("lost_samples") else [])
    if not has_floor:
        caveats.insert(0, "no floor to judge by")
    return "; ".join(caveats) or "measurement"


def _best_row(best: dict, floor_data) -> dict:
    excluded = ", ".join(f"{w:g}" for w in best["excluded_lost_samples"]) or "none"
    return {"sampler": best["sampler"],
            "best FP weight": "none" if best["best_weight"] is None else f"{best['best_weight']:g}",
            "its W2^2 to data": _marked(best["best_w2sq"], floor_data),
            "at w = 0": _marked(best["w2sq_at_zero"], floor_data),
            "lost samples at w": excluded}


def _marked(value, floor) -> str:
    text = _number(value)
    return f"{text} {NEAR_FLOOR_MARK}" if floor is not None and near_floor(value, floor) else text


STRATIFIED_LABELS = {
    "residual_gap": "FP residual (box) vs ODE–SDE W2^2",
    "data_residual_gap": "FP residual (near data) vs ODE–SDE W2^2",
    "gap_weight": "FP weight vs ODE–SDE W2^2",
    "ode_weight": "FP weight vs ODE–data W2^2",
    "sde_weight": "FP weight vs SDE–data W2^2",
}


def _blocks(found: list[dict], pooled: dict[str, tuple],
            stratified: dict[str, dict] | None = None) -> list[tuple[str, object]]:
    """The findings as a document: ("h1" | "h2" | "p", text), ("table", DataFrame) and
    ("list", [text]) blocks, rendered to Markdown or HTML below."""
    blocks = [("h1", "Findings"),
              ("p", "Computed by odesdegap.reporting.findings from results/tables/metrics.csv; "
                    "W2^2 is the squared 2-Wasserstein distance: on the 64 x 64 grid in 2-D, "
                    "exact optimal transport between seeded subsamples in more dimensions. "
                    "Every distance is "
                    "read against its noise floor: the W2^2 between independent held-out sets "
                    "of the data at the same sample size, on the same metric.")]
    for item in found:
        floor_data = item.get("w2sq_floor_data")
        blocks.append(("h2", item["dataset"]))
        blocks.append(("p", _floor_sentence(item)))
        if item["gap_ratio"]:
            blocks.append(("p", "ODE–SDE W2^2 relative to weight 0 (paired by seed; mean ± 95% "
                                "CI when there are several seeds). A ratio whose gap at this "
                                f"weight or at weight 0 lies within {NEAR_FLOOR_FACTOR:g}x of the "
                                "floor is a bound set by the floor, not a measurement:"))
            rows = []
            for row in item["gap_ratio"]:
                ci = row["ratio_ci95"]
                interval = "" if ci is None or not math.isfinite(ci) else f" ± {_number(ci, 2)}"
                bound = row.get("bound", False)
                rows.append({"FP weight": f"{row['fp_weight']:g}",
                             "ratio to w = 0": f"{_number(row['ratio'])}{interval}"
                                               + (f" {NEAR_FLOOR_MARK}" if bound else ""),
                             "seeds": row["n_seeds"],
                             "reading": _reading(row, item.get("w2sq_floor") is not None)})
            blocks.append(("table", pd.DataFrame(rows)))
        zero = item["ode_w2sq_at_zero"]
        sde = ", ".join(f"{w:g}: {_marked(v, floor_data)}"
                        for w, v in item["sde_w2sq_by_weight"].items())
        if item["best_ode_weight"] is None:
            best = "Best ODE–data W2^2: none (every weight lost ODE samples)."
        else:
            best = (f"Best ODE–data W2^2: {_marked(item['best_ode_w2sq'], floor_data)} at weight "
                    f"{item['best_ode_weight']:g}"
                    + (f" (weight 0: {_marked(zero, floor_data)})" if zero is not None else "")
                    + (f"; within {NEAR_FLOOR_FACTOR:g}x of the floor, so not distinguishable "
                       "from a perfect sampler" if item.get("best_ode_near_floor") else "")
                    + ".")
        excluded = item.get("excluded_lost_samples") or {}
        if excluded:
            best += (" Not eligible, having lost ODE samples off the grid or to non-finite "
                     "values (their W2^2 is measured on the rest): "
                     + ", ".join(f"w = {w:g} ({100 * f:.2g}% lost)" for w, f in excluded.items())
                     + ".")
        if len(item.get("best_by_sampler", [])) > 2:
            blocks.append(("p", "Every configured sampler: the FP weight whose samples lie "
                                "closest to the data (models that lost samples are not "
                                f"eligible; {NEAR_FLOOR_MARK}: within {NEAR_FLOOR_FACTOR:g}x of "
                                "the floor):"))
            blocks.append(("table", pd.DataFrame([_best_row(b, floor_data)
                                                  for b in item["best_by_sampler"]])))
        blocks.append(("list", [
            best,
            f"SDE–data W2^2 by weight: {sde}; Spearman rank correlation with the weight "
            f"{_number(item['sde_weight_spearman'])} "
            f"({_significance(item['sde_weight_p'], item.get('sde_weight_min_p'))}).",
            f"FP residual vs ODE–SDE W2^2 across this data set's {item['n_runs']} runs, "
            f"Spearman: {_number(item['residual_gap_spearman'])} "
            f"({_significance(item['residual_gap_p'], item.get('residual_gap_min_p'))}) on the "
            f"box, {_number(item['data_residual_gap_spearman'])} "
            f"({_significance(item['data_residual_gap_p'], item.get('residual_gap_min_p'))}) "
            "near the data.",
        ] + ([note] if (note := _power_note(item)) else [])))
    (box_rho, box_p), (data_rho, data_p) = pooled["fp_residual"], pooled["fp_residual_data"]
    blocks.append(("h2", "Across data sets"))
    blocks.append(("p", f"Pooled over all runs, the FP residual and the ODE–SDE W2^2 have Spearman "
                        f"rank correlation {_number(box_rho)} (p = {_number(box_p, 2)}) on the "
                        f"box and {_number(data_rho)} (p = {_number(data_p, 2)}) near the data. "
                        "Pooling mixes data sets whose distances and residuals sit at different "
                        "levels, and both quantities move with the weight, so the pooled value "
                        "is not evidence on its own; the tests below compare runs within each "
                        "data set only."))
    if stratified:
        rows = [{"test": STRATIFIED_LABELS.get(name, name),
                 "mean within-data-set Spearman": _number(test["spearman"]),
                 "p (permuted within data sets)": _number(test["p"], 2),
                 "smallest attainable p": _number(test["min_p"], 2),
                 "data sets": test["n_strata"]}
                for name, test in stratified.items()]
        blocks.append(("table", pd.DataFrame(rows)))
    return blocks


def to_markdown(found: list[dict], pooled: dict[str, tuple],
                stratified: dict[str, dict] | None = None) -> str:
    lines = []
    for kind, content in _blocks(found, pooled, stratified):
        if kind == "table":
            lines.append(content.to_markdown(index=False, disable_numparse=True,
                                             colalign=["right"] * content.shape[1]))
        elif kind == "list":
            lines.extend(f"- {entry}" for entry in content)
        else:
            lines.append({"h1": "# ", "h2": "## ", "p": ""}[kind] + content)
        lines.append("")
    return "\n".join(lines)


def to_html(found: list[dict], pooled: dict[str, tuple],
            stratified: dict[str, dict] | None = None) -> str:
    """A standalone page, for the Snakemake report (which shows Markdown as raw text)."""
    parts = []
    for kind, content in _blocks(found, pooled, stratified):
        if kind == "table":
            parts.append(content.to_html(index=False, border=0))
        elif kind == "list":
            parts.append("<ul>" + "".join(f"<li>{escape(e)}</li>" for e in content) + "</ul>")
        else:
            parts.append(f"<{kind}>{escape(content)}</{kind}>")
    return PAGE.format(body="\n".join(parts))


PAGE = ("<!DOCTYPE html><html><head><meta charset='utf-8'><style>body{{font-family:sans-serif;"
        "margin:1em;max-width:60em}}table{{border-collapse:collapse}}th,td{{padding:3px 10px;"
        "border-bottom:1px solid #ddd;text-align:right}}</style></head><body>{body}</body>"
        "</html>\n")
