"""Aggregation of per-run metrics into tables: one row per run, and a summary per
(dataset, fp_weight) with the mean and, when there are several seeds, a 95% confidence interval
(Student's t over seeds)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from . import artifacts

KEY_COLUMNS = ["dataset", "fp_weight", "seed"]
SUMMARY_METRICS = [
    "w2sq_ode_sde",
    "w2sq_ode_data",
    "w2sq_sde_data",
    "sliced_w2sq_ode_sde",
    "fp_residual",
    "fp_residual_data",
    "dsm_loss",
    "nll_nats_per_dim",
]


def collect(metric_paths) -> pd.DataFrame:
    rows = [artifacts.read_json(path) for path in metric_paths]
    frame = pd.DataFrame(rows).sort_values(KEY_COLUMNS).reset_index(drop=True)
    front = KEY_COLUMNS + [c for c in SUMMARY_METRICS if c in frame]
    return frame[front + [c for c in frame.columns if c not in front]]


def present_metrics(frame: pd.DataFrame) -> list[str]:
    """The summary metrics this run has (the NLL, say, can be switched off)."""
    return [metric for metric in SUMMARY_METRICS if metric in frame]


def confidence_halfwidth(values: pd.Series, level: float = 0.95) -> float:
    """Half-width of the t-interval for the mean; NaN with fewer than two values."""
    n = values.count()
    if n < 2:
        return float("nan")
    return float(stats.t.ppf(0.5 + level / 2, n - 1) * values.std(ddof=1) / np.sqrt(n))


def summarise(frame: pd.DataFrame, keys: tuple[str, ...] = ("dataset", "fp_weight"),
              metrics: list[str] | None = None) -> pd.DataFrame:
    """Mean and 95% CI half-width of each summary metric per (dataset, fp_weight), or per
    another grouping."""
    metrics = present_metrics(frame) if metrics is None else metrics
    grouped = frame.groupby(list(keys), sort=True)
    summary = grouped.size().rename("n_seeds").to_frame()
    if "w2_convention" in frame:  # every table says what produced its W2 values
        summary["w2_convention"] = grouped["w2_convention"].first()
    for metric in metrics:
        summary[metric] = grouped[metric].mean()
        summary[f"{metric}_ci95"] = grouped[metric].agg(confidence_halfwidth)
    return summary.reset_index()


def format_summary(summary: pd.DataFrame, keys: tuple[str, ...] = ("dataset", "fp_weight"),
                   metrics: list[str] | None = None) -> pd.DataFrame:
    """Human-readable cells: 'mean ± ci' where an interval exists, else the mean."""
    metrics = present_metrics(summary) if metrics is None else metrics
    labels = [c for c in ("n_seeds", "w2_convention") if c in summary]
    shown = summary[[*keys, *labels]].copy()
    for metric in metrics:
        mean, ci = summary[metric], summary[f"{metric}_ci95"]
        shown[metric] = [
            f"{m:.4g}" if np.isnan(c) else f"{m:.4g} ± {c:.2g}"
            for m, c in zip(mean, ci, strict=True)
        ]
    return shown


def to_html(shown: pd.DataFrame) -> str:
    """A standalone, readable HTML page of the summary (what the Snakemake report shows)."""
    style = ("<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}"
             "th,td{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right}"
             "th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}</style>")
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'>{style}</head><body>" \
        f"{shown.to_html(index=False, border=0)}</body></html>\n"
