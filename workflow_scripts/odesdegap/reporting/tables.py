"""Aggregation of per-run metrics into tables: one row per run, and a summary per
(dataset, fp_weight) with the mean and, when there are several seeds, a 95% confidence interval
(Student's t over seeds).

Every W2^2 sits next to its noise floor (what two independent sets of the data, of the run's
sample size, score on the same metric; see noise_floor.py): a distance within
NEAR_FLOOR_FACTOR of its floor cannot be told from sampling noise and is marked. A model that
lost samples (off the grid or non-finite) is marked with the fraction lost: its distances are
measured on the samples that remain and flatter it."""

from __future__ import annotations

import re
from html import escape

import numpy as np
import pandas as pd
from scipy import stats

from odesdegap.evaluation import w2_rules
from odesdegap.io import artifacts
from odesdegap.reporting.gap import sampler_label

KEY_COLUMNS = ["dataset", "fp_weight", "seed"]
# The summary's metrics that no sampler changes, after the samplers' distances (distance_metrics).
MODEL_METRICS = ["fp_residual", "fp_residual_data", "dsm_loss", "nll_nats_per_dim"]
FLOOR_COLUMNS = ["w2sq_floor", "w2sq_floor_data", "n_floor_points", "lost_fraction_floor"]
NEAR_FLOOR_FACTOR = 2.0
# Off-grid losses up to this fraction are tolerated: dropping that much mass moves W2^2 by a
# fraction of the noise floor (0.5% at a transport cost of ~0.25 is ~0.001, against floors of
# 0.003-0.01 at 10k-100k samples). The authors' own models lose 0.05-0.4% at w <= 1.
LOST_TOLERANCE = 0.005
NEAR_FLOOR_MARK = "†"
LOST_MARK = "‡"


def samplers_of(frame: pd.DataFrame) -> list[str]:
    """The samplers a table has (the config's `samplers`, in its order): every name with a
    w2sq_{name}_data column."""
    found = (re.fullmatch(r"w2sq_(\w+)_data", str(column)) for column in frame.columns)
    return [m.group(1) for m in found if m and m.group(1) != "floor"]


def reference_of(frame: pd.DataFrame) -> str | None:
    """The reference sampler: the one every other sampler has a w2sq_{name}_{reference}
    column to (None with a single sampler)."""
    names = samplers_of(frame)
    for reference in names:
        others = [name for name in names if name != reference]
        if others and all(f"w2sq_{name}_{reference}" in frame for name in others):
            return reference
    return None


def distance_metrics(frame: pd.DataFrame) -> list[str]:
    """The samplers' W2^2 columns of the summary: each sampler to the reference sampler, each
    to the data, then the sliced cross-check of the first kind (for the default pair:
    w2sq_ode_sde, w2sq_ode_data, w2sq_sde_data, sliced_w2sq_ode_sde)."""
    names, reference = samplers_of(frame), reference_of(frame)
    to_reference = [f"w2sq_{n}_{reference}" for n in names if reference and n != reference]
    return (to_reference + [f"w2sq_{n}_data" for n in names]
            + [f"sliced_{metric}" for metric in to_reference])


def summary_metrics(frame: pd.DataFrame) -> list[str]:
    """Every metric the summary may show, the samplers' distances first."""
    return distance_metrics(frame) + MODEL_METRICS


def floor_of(frame: pd.DataFrame) -> dict[str, str]:
    """The floor each W2^2 column is judged against: two model-role sets of the run's sample
    size for a pair of samplers; a sample-sized set against the held-out reference for the
    pairs with the data."""
    reference = reference_of(frame)
    pairs = {f"w2sq_{n}_{reference}": "w2sq_floor" for n in samplers_of(frame)
             if reference and n != reference}
    return pairs | {f"w2sq_{n}_data": "w2sq_floor_data" for n in samplers_of(frame)}


def collect(metric_paths) -> pd.DataFrame:
    # one row of numbers per run; the nested record of its settings ("config") stays in the JSON
    rows = [{k: v for k, v in artifacts.read_json(path).items() if k != "config"}
            for path in metric_paths]
    frame = pd.DataFrame(rows).sort_values(KEY_COLUMNS).reset_index(drop=True)
    front = KEY_COLUMNS + [c for c in summary_metrics(frame) + FLOOR_COLUMNS if c in frame]
    return frame[front + [c for c in frame.columns if c not in front]]


def near_floor(values, floors, factor: float = NEAR_FLOOR_FACTOR) -> np.ndarray:
    """True where a distance is within `factor` of its noise floor (below factor x floor): it
    cannot be told apart from two independent draws of one distribution. False where either is
    missing (no floor for image data, say)."""
    values, floors = (np.asarray(v, dtype=float) for v in (values, floors))
    with np.errstate(invalid="ignore"):
        return np.isfinite(values) & np.isfinite(floors) & (values < factor * floors)


def lost_fraction(frame: pd.DataFrame, sampler: str) -> pd.Series:
    """Fraction of a sampler's samples that the W2 metric could not use (w2_rules.lost_fraction,
    from the run's counts: non-finite, and on the grid outside its box). Zero where the run
    recorded no such counts."""
    total = frame.get(f"n_samples_{sampler}")
    outside, nonfinite = f"n_outside_{sampler}", f"n_nonfinite_{sampler}"
    if total is None or (outside not in frame and nonfinite not in frame):
        return pd.Series(0.0, index=frame.index)
    zero = pd.Series(0, index=frame.index)
    on_grid = frame["w2_method"].eq("grid") if "w2_method" in frame else True
    return w2_rules.lost_fraction(frame.get(outside, zero).fillna(0),
                                  frame.get(nonfinite, zero).fillna(0), total, on_grid)


def loses(lost, nonfinite, lost_floor) -> pd.Series:
    """The rule for a sampler that loses samples, for the tables and the NFE findings alike:
    any non-finite sample, or a lost fraction (`lost`) above both NEAR_FLOOR_FACTOR times what
    a held-out data set of the same size loses (`lost_floor`; 0 where unknown) and
    LOST_TOLERANCE. Its W2^2 is measured on what remains and flatters it."""
    return (nonfinite > 0) | (lost > np.maximum(NEAR_FLOOR_FACTOR * lost_floor, LOST_TOLERANCE))


def loses_samples(frame: pd.DataFrame, sampler: str) -> pd.Series:
    """`loses` for each run of a sampler."""
    column = f"lost_fraction_{sampler}"
    lost = frame[column] if column in frame else lost_fraction(frame, sampler)
    floor = frame["lost_fraction_floor"].fillna(0) if "lost_fraction_floor" in frame else 0.0
    nonfinite = frame.get(f"n_nonfinite_{sampler}", pd.Series(0, index=frame.index)).fillna(0)
    return loses(lost, nonfinite, floor)


def flag_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """The per-run table with `near_floor_{pair}` for each W2^2 pair that has a floor and
    `lost_fraction_{sampler}` for each sampler."""
    flagged = frame.copy()
    for metric, floor in floor_of(frame).items():
        if metric in frame and floor in frame:
            flagged[f"near_floor_{metric.removeprefix('w2sq_')}"] = near_floor(
                frame[metric], frame[floor])
    for sampler in samplers_of(frame):
        flagged[f"lost_fraction_{sampler}"] = lost_fraction(frame, sampler)
        flagged[f"lost_samples_{sampler}"] = loses_samples(flagged, sampler)
    return flagged


def present_metrics(frame: pd.DataFrame) -> list[str]:
    """The summary metrics this run has (the NLL, say, can be switched off)."""
    return [metric for metric in summary_metrics(frame) if metric in frame]


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
    # The floor depends on the data set and the sample size only: one value per group.
    for column in FLOOR_COLUMNS:
        if column in frame:
            summary[column] = grouped[column].mean()
    for metric, floor in floor_of(frame).items():
        if metric in summary and floor in summary:
            summary[f"near_floor_{metric.removeprefix('w2sq_')}"] = near_floor(
                summary[metric], summary[floor])
    for sampler in samplers_of(frame):
        if f"n_samples_{sampler}" in frame:
            # The worst seed: one run that lost samples is enough to distrust the mean.
            by_key = [frame[k] for k in keys]
            summary[f"lost_fraction_{sampler}"] = lost_fraction(frame, sampler).groupby(
                by_key).max()
            summary[f"lost_samples_{sampler}"] = loses_samples(frame, sampler).groupby(
                by_key).any()
    return summary.reset_index()


def format_summary(summary: pd.DataFrame, keys: tuple[str, ...] = ("dataset", "fp_weight"),
                   metrics: list[str] | None = None) -> pd.DataFrame:
    """Human-readable cells: 'mean ± ci' where an interval exists, else the mean."""
    metrics = present_metrics(summary) if metrics is None else metrics
    last_of = {floor: metric for metric, floor in floor_of(summary).items()}
    labels = [c for c in ("n_seeds", "w2_convention") if c in summary]
    shown = summary[[*keys, *labels]].copy()
    if "n_floor_points" in summary:
        shown["n_samples"] = [_count(n) for n in summary["n_floor_points"]]
    for metric in metrics:
        mean, ci = summary[metric], summary[f"{metric}_ci95"]
        shown[metric] = [
            f"{m:.4g}" if np.isnan(c) else f"{m:.4g} ± {c:.2g}"
            for m, c in zip(mean, ci, strict=True)
        ]
        flag = f"near_floor_{metric.removeprefix('w2sq_')}"
        if flag in summary:
            shown[metric] = [f"{cell} {NEAR_FLOOR_MARK}" if near else cell
                             for cell, near in zip(shown[metric], summary[flag], strict=True)]
        # each floor right after the last distance it is the floor of
        if metric == last_of.get("w2sq_floor") and "w2sq_floor" in summary:
            shown["w2sq_floor"] = [_value(v) for v in summary["w2sq_floor"]]
        if metric == last_of.get("w2sq_floor_data") and "w2sq_floor_data" in summary:
            shown["w2sq_floor_data"] = [_value(v) for v in summary["w2sq_floor_data"]]
    for sampler in samplers_of(summary):
        column = f"lost_fraction_{sampler}"
        if column in summary:
            shown[f"lost_{sampler}"] = [
                (f"{100 * f:.2g}%" if f > 0 else "0") + (f" {LOST_MARK}" if flagged else "")
                for f, flagged in zip(summary[column], summary[f"lost_samples_{sampler}"],
                                      strict=True)]
    return shown


def summary_notes(summary: pd.DataFrame) -> list[str]:
    """The footnotes of the summary: what the floor is, what the marks mean, and every model
    that lost samples."""
    if not any(column in summary for column in FLOOR_COLUMNS):
        return []
    notes = [
        "W2^2 noise floor: the W2^2 between two independent held-out sets of the data, of the "
        "run's sample size (n_samples), on the same metric and grid convention as the run "
        "(w2sq_floor: the floor of a pair of samplers, w2sq_{sampler}_{reference}; "
        "w2sq_floor_data: a sample-sized set against the held-out reference, the floor of each "
        "sampler against the data, w2sq_{sampler}_data).",
        f"{NEAR_FLOOR_MARK} within {NEAR_FLOOR_FACTOR:g}x of its noise floor: not distinguishable "
        "from sampling noise; ratios involving it are bounds, not measurements.",
    ]
    lost = [
        f"{row.dataset} w = {row.fp_weight:g} {sampler_label(sampler)}: "
        f"{100 * row[f'lost_fraction_{sampler}']:.2g}%"
        for sampler in samplers_of(summary)
        if (column := f"lost_samples_{sampler}") in summary
        for _, row in summary[summary[column]].iterrows()
    ]
    lost_columns = ", ".join(f"lost_{sampler}" for sampler in samplers_of(summary))
    notes.append(f"{lost_columns}: the fraction of samples (worst seed) outside the grid or "
                 "non-finite, which W2^2 cannot use.")
    if lost:
        notes.append(f"{LOST_MARK} a non-finite sample, or more off the grid than both "
                     f"{NEAR_FLOOR_FACTOR:g}x what a held-out data set of the same size loses "
                     f"and {LOST_TOLERANCE:.1%} (W2^2 is measured on the rest and flatters the "
                     "model): " + "; ".join(lost) + ".")
    if "w2sq_floor" in summary and summary["w2sq_floor"].isna().any():
        notes.append("No W2^2 floor for data sets without a generator of fresh points (images).")
    return notes


def _value(value) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.4g}"


def _count(value) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{int(value)}"


def to_markdown(shown: pd.DataFrame, notes: list[str]) -> str:
    """The summary as a Markdown table followed by its footnotes."""
    return shown.to_markdown(index=False) + "\n" + "".join(f"\n{note}\n" for note in notes)


def to_latex(shown: pd.DataFrame, notes: list[str]) -> str:
    """The summary as a LaTeX tabular followed by its footnotes as paragraphs."""
    text = shown.to_latex(index=False, escape=True)
    return text + "".join(f"\n{_latex_escape(note)}\n" for note in notes)


def _latex_escape(text: str) -> str:
    for char, escaped in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"),
                          ("_", r"\_"), ("#", r"\#"), ("^", r"\^{}")):
        text = text.replace(char, escaped)
    return text


def to_html(shown: pd.DataFrame, notes: list[str] = ()) -> str:
    """A standalone, readable HTML page of the summary (what the Snakemake report shows), with
    its footnotes."""
    style = ("<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}"
             "th,td{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right}"
             "th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}</style>")
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'>{style}</head><body>" \
        f"{shown.to_html(index=False, border=0)}" \
        f"{''.join(f'<p>{escape(note)}</p>' for note in notes)}</body></html>\n"
