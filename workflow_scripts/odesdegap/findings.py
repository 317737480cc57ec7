"""Findings computed from the metrics table, never written by hand: how the ODE–SDE gap moves
with the FP weight, which weight gives the best ODE samples, how the SDE samples move, and
whether the FP residual and the gap fall together."""

from __future__ import annotations

import math
from html import escape

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


def _blocks(found: list[dict], pooled: dict[str, tuple]) -> list[tuple[str, object]]:
    """The findings as a document: ("h1" | "h2" | "p", text), ("table", DataFrame) and
    ("list", [text]) blocks, rendered to Markdown or HTML below."""
    blocks = [("h1", "Findings"),
              ("p", "Computed by odesdegap.findings from results/tables/metrics.csv; W2^2 is the "
                    "squared 2-Wasserstein distance: on the 64 x 64 grid in 2-D, exact optimal "
                    "transport between seeded subsamples in more dimensions.")]
    for item in found:
        blocks.append(("h2", item["dataset"]))
        if item["gap_ratio"]:
            blocks.append(("p", "ODE–SDE W2^2 relative to weight 0 (paired by seed; mean ± 95% "
                                "CI when there are several seeds):"))
            rows = []
            for row in item["gap_ratio"]:
                ci = row["ratio_ci95"]
                interval = "" if ci is None or not math.isfinite(ci) else f" ± {_number(ci, 2)}"
                rows.append({"FP weight": f"{row['fp_weight']:g}",
                             "ratio to w = 0": f"{_number(row['ratio'])}{interval}",
                             "seeds": row["n_seeds"]})
            blocks.append(("table", pd.DataFrame(rows)))
        zero = item["ode_w2sq_at_zero"]
        sde = ", ".join(f"{w:g}: {_number(v)}" for w, v in item["sde_w2sq_by_weight"].items())
        blocks.append(("list", [
            f"Best ODE–data W2^2: {_number(item['best_ode_w2sq'])} at weight "
            f"{item['best_ode_weight']:g}" + (f" (weight 0: {_number(zero)})." if zero is not None
                                              else "."),
            f"SDE–data W2^2 by weight: {sde}; Spearman rank correlation with the weight "
            f"{_number(item['sde_weight_spearman'])} (p = {_number(item['sde_weight_p'], 2)}).",
            f"FP residual vs ODE–SDE W2^2 across this data set's {item['n_runs']} runs, "
            f"Spearman: {_number(item['residual_gap_spearman'])} "
            f"(p = {_number(item['residual_gap_p'], 2)}) on the box, "
            f"{_number(item['data_residual_gap_spearman'])} "
            f"(p = {_number(item['data_residual_gap_p'], 2)}) near the data.",
        ]))
    (box_rho, box_p), (data_rho, data_p) = pooled["fp_residual"], pooled["fp_residual_data"]
    blocks.append(("p", f"Across all runs, the FP residual and the ODE–SDE W2^2 have Spearman rank "
                        f"correlation {_number(box_rho)} (p = {_number(box_p, 2)}) on the box and "
                        f"{_number(data_rho)} (p = {_number(data_p, 2)}) near the data."))
    return blocks


def to_markdown(found: list[dict], pooled: dict[str, tuple]) -> str:
    lines = []
    for kind, content in _blocks(found, pooled):
        if kind == "table":
            lines.append(content.to_markdown(index=False, colalign=["right"] * 3,
                                             disable_numparse=True))
        elif kind == "list":
            lines.extend(f"- {entry}" for entry in content)
        else:
            lines.append({"h1": "# ", "h2": "## ", "p": ""}[kind] + content)
        lines.append("")
    return "\n".join(lines)


def to_html(found: list[dict], pooled: dict[str, tuple]) -> str:
    """A standalone page, for the Snakemake report (which shows Markdown as raw text)."""
    parts = []
    for kind, content in _blocks(found, pooled):
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
