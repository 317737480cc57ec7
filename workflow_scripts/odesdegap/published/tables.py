"""The paper's table from the authors' histograms, and our numbers for their models set beside
it pair by pair, each difference read against our own noise floor (evaluation/noise_floor.py:
the floor every distance of a run is read against)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from odesdegap.evaluation.distances import Grid, w2sq_between_histograms
from odesdegap.published.layout import (
    DATASET_NAMES,
    HISTOGRAM_SAMPLERS,
    PAPER_GRID,
    histogram_path,
    load_histogram,
)

# The pairs of the paper's table, in its column order; "data" is their "truth" histogram.
_ODE, _SDE = HISTOGRAM_SAMPLERS
PAIRS = ((_ODE, _SDE), (_ODE, "data"), (_SDE, "data"))
# Which floor of a run (noise_floor.noise_floor's record) a pair is read against: two model
# sets, or a model set against the reference data.
PAIR_FLOORS = {"ode-sde": "w2sq_floor", "ode-data": "w2sq_floor_data",
               "sde-data": "w2sq_floor_data"}


def histogram_table(directory: Path | str, datasets, weights) -> pd.DataFrame:
    """W2^2 between ODE and SDE, ODE and data, SDE and data per data set and weight, from the
    authors' histograms: the exact OT cost between them on the paper's nodes."""
    support = Grid.from_settings(PAPER_GRID).support
    rows = []
    for dataset in datasets:
        found = {"data": load_histogram(histogram_path(directory, "truth", dataset))}
        for weight in weights:
            for kind in HISTOGRAM_SAMPLERS:
                found[kind] = load_histogram(histogram_path(directory, kind, dataset, weight))
            row = {"dataset": dataset, "authors_name": DATASET_NAMES[dataset],
                   "fp_weight": float(weight)}
            for a, b in PAIRS:
                row[f"w2sq_{a}_{b}"] = w2sq_between_histograms(found[a], found[b], support)
            rows.append(row)
    return pd.DataFrame(rows)


def data_against_truth(reference: np.ndarray, truth_path: Path | str, grid: Grid) -> float:
    """W2^2 between our reference set and the authors' truth histogram: how far the two data
    sets are at our count."""
    ours, _ = grid.histogram(reference, "data")
    return w2sq_between_histograms(ours, load_histogram(truth_path), grid.support)


def comparison_table(ours: pd.DataFrame, theirs: pd.DataFrame, floors: dict,
                     data_vs_truth: dict) -> pd.DataFrame:
    """One row per data set, weight and pair: our W2^2 (our samples of their model, at our
    count), theirs (their histograms of 3,000,000 samples), the difference, the floor of that
    pair at our count (`floors[dataset]` is the data set's noise-floor record) and whether the
    two agree within it."""
    rows = []
    mine = ours.set_index(["dataset", "fp_weight"])
    for _, row in theirs.iterrows():
        key = (row["dataset"], float(row["fp_weight"]))
        if key not in mine.index:
            continue
        for a, b in PAIRS:
            pair, column = f"{a}-{b}", f"w2sq_{a}_{b}"
            ours_value, theirs_value = float(mine.loc[key, column]), float(row[column])
            floor = float(floors[key[0]][PAIR_FLOORS[pair]])
            difference = ours_value - theirs_value
            rows.append({
                "dataset": key[0], "fp_weight": key[1], "pair": pair,
                "ours": ours_value, "theirs": theirs_value, "difference": difference,
                "floor": floor, "within_floor": abs(difference) <= floor,
                **_debiased_columns(mine.loc[key], column, theirs_value),
                "ours_data_vs_their_truth": data_vs_truth[key[0]],
            })
    return pd.DataFrame(rows)


def _debiased_columns(ours: pd.Series, column: str, theirs_value: float) -> dict:
    """Our debiased W2^2 of the pair (w2_debiased: the plug-in less its estimated bias at our
    count, next to their 3,000,000-sample values whose own bias is negligible), its standard
    error, the difference and whether it lies within two standard errors. Empty for a run
    without debiased columns."""
    if f"debiased_{column}" not in ours:
        return {}
    value, error = float(ours[f"debiased_{column}"]), float(ours[f"se_debiased_{column}"])
    difference = value - theirs_value
    return {"ours_debiased": value, "se_debiased": error, "debiased_difference": difference,
            "debiased_within_2se": bool(abs(difference) <= 2 * error)}
