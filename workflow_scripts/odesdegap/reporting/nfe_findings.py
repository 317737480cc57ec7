"""Findings of the NFE study, computed from its rows, never written by hand: from which NFE budget
an FP-weighted model beats the w = 0 model on W2^2 to the data, whether the advantage seen with
the run's own pair of the config's `gap` (the ode and sde samplers, 800 Euler steps in the
paper's presets) survives at NFE 10 and 20, and how many NFE each solver needs to come
within the noise floor of its own converged result.

Every claim is read against the noise floor of a distance to the data (`w2sq_floor_data`): two
W2^2 values closer than that cannot be told apart from two draws of one distribution, so a
"beat" or an "advantage that holds" must exceed it strictly (a tie, or a difference equal to the
floor, is no beat).

Rows: one per (dataset, fp_weight, seed, sampler, nfe_budget) with the columns ROW_COLUMNS. A cell
is (dataset, sampler, solver, fp_weight, nfe_budget), its value the mean over seeds. Undefined
cells make no claim, in either direction:
  * NaN W2^2 (a sampler that diverged and lost every sample) in any seed makes the cell's mean
    NaN: the model cannot beat, be beaten at, or converge at that budget (listed as diverged);
  * a cell that loses samples in some seed, by the tables' rule (tables.loses: any non-finite
    sample, or more off the grid than LOST_TOLERANCE), is scored on what remains, which flatters
    it: it is treated like a diverged one (rows without `n_nonfinite`, written before it was
    recorded, are read by their lost fraction alone);
  * no w = 0 model (or a single weight) leaves nothing to compare: `beats` and `survival` are
    empty and `note` says why; a budget at which w = 0 was not measured is not compared;
  * a missing floor (NaN, image data) allows no claim: nothing beats, nothing converges.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from odesdegap.data.datasets import EXACT_LANE
from odesdegap.reporting.gap import Gap
from odesdegap.reporting.tables import LOST_TOLERANCE, NEAR_FLOOR_FACTOR, loses, loses_samples

ROW_COLUMNS = ["dataset", "fp_weight", "seed", "sampler", "solver", "nfe_budget", "nfe",
               "w2sq_data", "w2sq_reference", "lost_fraction", "w2sq_floor", "w2sq_floor_data",
               "n_samples"]
CELL = ["dataset", "sampler", "solver", "fp_weight", "nfe_budget"]
CHECK_BUDGETS = (10, 20)


def nfe_findings(rows: pd.DataFrame, reference_rows: pd.DataFrame | None, gap: Gap,
                 check_budgets=CHECK_BUDGETS) -> dict:
    """The findings per (dataset, sampler) as a JSON-able dict (NaN written as None):
    `groups`, each with its seeds, budgets and weights, `beats` (a), `survival` (a, at
    `check_budgets` against the gap's two samplers in `reference_rows`, the metrics table:
    dataset, fp_weight, seed, w2sq_{s}_data of each, w2sq_floor_data and optionally nfe_{s},
    n_samples_{s} and the loss counts) and `convergence` (b); `gap` names the pair."""
    missing = [c for c in ROW_COLUMNS if c not in rows and c not in ("w2sq_reference", "nfe")]
    if missing:
        raise ValueError(f"NFE study rows lack {missing}")
    exact = rows[rows.dataset == EXACT_LANE]
    rows = rows[rows.dataset != EXACT_LANE]
    cells = _cells(rows)
    reference = _reference(reference_rows, gap)
    groups = []
    for (dataset, sampler, solver), group in cells.groupby(CELL[:3], sort=True):
        own = rows[(rows.dataset == dataset) & (rows.sampler == sampler)
                   & (rows.solver == solver)]
        seeds = sorted(own.seed.unique().tolist())
        # the level its grid starts at (rows of a fast solver record it; NaN on grid sampling)
        levels = own.sigma_max.dropna().unique() if "sigma_max" in own else []
        weights = sorted(group.fp_weight.unique().tolist())
        has_zero = 0.0 in weights
        note = None
        if not has_zero:
            note = "no w = 0 model: nothing to compare the FP models with"
        elif len(weights) == 1:
            note = "only the w = 0 model: no FP model to compare"
        by_weight = {w: g.set_index("nfe_budget").sort_index() for w, g in
                     group.groupby("fp_weight")}
        zero = by_weight.get(0.0)
        fp_weights = [w for w in weights if w > 0]
        groups.append({
            "dataset": dataset, "sampler": sampler, "solver": solver,
            "seeds": seeds, "n_seeds": len(seeds),
            "sigma_max": float(levels[0]) if len(levels) == 1 else None,
            "budgets": sorted(int(b) for b in group.nfe_budget.unique()),
            "weights": weights, "note": note,
            "beats": [] if zero is None else [_beats(w, by_weight[w], zero) for w in fp_weights],
            "survival": [] if zero is None else [
                _survival(w, by_weight[w], zero, reference.get(dataset), gap, check_budgets)
                for w in fp_weights],
            "convergence": [_convergence(w, by_weight[w]) for w in weights],
        })
    return _jsonable({"gap": list(gap),
                      "check_budgets": list(check_budgets), "lost_tolerance": LOST_TOLERANCE,
                      "near_floor_factor": NEAR_FLOOR_FACTOR,
                      "has_reference": reference_rows is not None, "groups": groups,
                      "exact_lane": _exact_lane(exact)})


def _exact_lane(rows: pd.DataFrame) -> list[dict]:
    """Per sampler on the exact lane: the smallest budget from which its samples are as close to
    the exact data as the floor allows (W2^2 below NEAR_FLOOR_FACTOR times the floor of two
    draws of that data, at that budget and every larger one): the budget at which the solver's
    discretisation error is lost in the noise. None: not within the budgets measured."""
    if rows.empty:
        return []
    lane = []
    for (sampler, solver), group in _cells(rows.assign(fp_weight=0.0)).groupby(
            ["sampler", "solver"], sort=True):
        group = group.set_index("nfe_budget").sort_index()
        near = group.valid & (group.w2sq_data < NEAR_FLOOR_FACTOR * group.floor)
        stays = near[::-1].cummin()[::-1]
        lane.append({
            "sampler": sampler, "solver": solver,
            "budgets": [int(b) for b in group.index],
            "w2sq_data": group.w2sq_data.tolist(), "nfe": group.nfe.tolist(),
            "floor": group.floor.max(), "n_samples": group.n_samples.min(),
            "near_floor_from": int(stays[stays].index.min()) if stays.any() else None,
        })
    return lane


def _cells(rows: pd.DataFrame) -> pd.DataFrame:
    """Seed means per cell. NaN W2^2 in any seed -> NaN mean (skipna off); `lost`: some seed
    loses samples by tables.loses (the data's own loss, `lost_fraction_floor`, where given);
    `n_samples`: the smallest over seeds."""
    rows = rows.assign(nfe_budget=rows.nfe_budget.astype(int),
                       fp_weight=rows.fp_weight.astype(float))
    lost = rows.get("lost_fraction", pd.Series(0.0, index=rows.index)).fillna(0.0)
    floor = rows.get("lost_fraction_floor", pd.Series(0.0, index=rows.index)).fillna(0.0)
    nonfinite = rows.get("n_nonfinite", pd.Series(0, index=rows.index)).fillna(0)
    rows = rows.assign(lost=loses(lost, nonfinite, floor), lost_fraction=lost)
    if "nfe" not in rows:
        rows = rows.assign(nfe=np.nan)
    grouped = rows.groupby(CELL, sort=True)
    cells = pd.DataFrame({
        "w2sq_data": grouped.w2sq_data.apply(lambda v: v.mean(skipna=False)),
        "nfe": grouped.nfe.mean(),
        "floor": grouped.w2sq_floor_data.mean(),
        "n_samples": grouped.n_samples.min(),
        "n_seeds": grouped.seed.nunique(),
        "lost": grouped.lost.any(),
        "lost_fraction": grouped.lost_fraction.max(),
    }).reset_index()
    cells["valid"] = np.isfinite(cells.w2sq_data) & ~cells.lost
    return cells


def _reference(reference_rows: pd.DataFrame | None, gap: Gap) -> dict:
    """Per dataset and weight, for the gap's two samplers: seed-mean W2^2 to the data, its
    floor, the sample count, the NFE and whether it lost samples (then it cannot carry an
    advantage)."""
    if reference_rows is None:
        return {}
    found = {}
    for (dataset, weight), runs in reference_rows.groupby(["dataset", "fp_weight"]):
        entry = {}
        for sampler, column in zip(gap, gap.data_columns, strict=True):
            if column not in runs:
                continue
            n = runs.get(f"n_samples_{sampler}", runs.get("n_floor_points"))
            nfe = runs.get(f"nfe_{sampler}")
            floor = runs.get("w2sq_floor_data", pd.Series(np.nan, index=runs.index))
            entry[sampler] = {
                "w2sq": runs[column].mean(skipna=False),
                "floor": floor.mean(),
                "n_samples": None if n is None else n.min(),
                "nfe": None if nfe is None else int(nfe.max()),
                # the metrics table's own rule (tables.loses_samples), worst seed
                "valid": bool(np.isfinite(runs[column]).all()
                              and not loses_samples(runs, sampler).any()),
            }
        found.setdefault(dataset, {})[float(weight)] = entry
    return found


def _compare(model: pd.Series, zero: pd.Series) -> dict:
    """One weight against w = 0 at one budget: the advantage (w0 minus w, positive when the FP
    model is closer to the data) and whether it exceeds the floor (the larger of the two)."""
    floor = np.fmax(model.floor, zero.floor)  # NaN only where both are missing
    advantage = zero.w2sq_data - model.w2sq_data
    compared = bool(model.valid and zero.valid and np.isfinite(floor))
    return {"w2sq": model.w2sq_data, "w2sq_zero": zero.w2sq_data, "advantage": advantage,
            "floor": floor, "n_samples": min(model.n_samples, zero.n_samples),
            "nfe": model.nfe, "compared": compared,
            "beyond_floor": compared and bool(advantage > floor)}


def _beats(weight: float, model: pd.DataFrame, zero: pd.DataFrame) -> dict:
    """(a) The budgets at which `weight` beats w = 0 beyond the floor; `first_beat_budget` the
    smallest (None: never within the budgets compared), `from_on` whether it also beats at every
    larger budget compared. `at_first` holds the numbers at the first beat, else at the budget
    of the largest advantage."""
    common = model.index.intersection(zero.index)
    comparisons = {int(b): _compare(model.loc[b], zero.loc[b]) for b in common}
    compared = [b for b, c in comparisons.items() if c["compared"]]
    beaten = [b for b in compared if comparisons[b]["beyond_floor"]]
    first = beaten[0] if beaten else None
    closest = max(compared, key=lambda b: comparisons[b]["advantage"], default=None)
    shown = first if first is not None else closest
    return {
        "fp_weight": weight,
        "first_beat_budget": first,
        "from_on": first is not None and all(b in beaten for b in compared if b >= first),
        "beaten_budgets": beaten,
        "compared_budgets": compared,
        "not_compared": sorted((set(model.index) | set(zero.index)) - set(compared)),
        "shown_budget": shown,
        "at_shown": None if shown is None else comparisons[shown],
    }


def _survival(weight: float, model: pd.DataFrame, zero: pd.DataFrame,
              reference: dict | None, gap: Gap, check_budgets) -> dict:
    """(a) At each check budget: the advantage over w = 0 and, for the gap's two samplers,
    whether an advantage that holds there (beyond its floor) survives: True/False, None where
    there is no advantage to survive (none beyond the floor, a sampler that lost samples, no
    reference) or the budget was not measured or not compared."""
    claims = {}
    for sampler in gap:
        here = (reference or {}).get(weight, {}).get(sampler)
        base = (reference or {}).get(0.0, {}).get(sampler)
        if here is None or base is None:
            claims[sampler] = None
            continue
        floor = np.fmax(here["floor"], base["floor"])
        advantage = base["w2sq"] - here["w2sq"]
        claims[sampler] = {
            "w2sq": here["w2sq"], "w2sq_zero": base["w2sq"], "advantage": advantage,
            "floor": floor, "n_samples": _min(here["n_samples"], base["n_samples"]),
            "nfe": here.get("nfe"),
            "holds": bool(here["valid"] and base["valid"] and advantage > floor),
        }
    at = []
    for budget in check_budgets:
        measured = budget in model.index and budget in zero.index
        comparison = _compare(model.loc[budget], zero.loc[budget]) if measured else None
        survives = {}
        for sampler, claim in claims.items():
            if claim is None or not claim["holds"] or comparison is None \
                    or not comparison["compared"]:
                survives[sampler] = None
            else:
                survives[sampler] = comparison["beyond_floor"]
        at.append({"nfe_budget": budget, "measured": measured, **(comparison or {}),
                   "survives": survives})
    return {"fp_weight": weight, "reference": claims, "at": at}


def _convergence(weight: float, model: pd.DataFrame) -> dict:
    """(b) The smallest budget from which W2^2 to the data stays within the floor of its value
    at the largest budget (the solver's converged result). None with a status where the largest
    budget diverged, only the largest budget itself is within (no evidence of convergence), or
    one budget only. `first_within` is the smallest budget within the floor at all, which may
    leave it again at a larger budget."""
    top = model.iloc[-1]
    b_max = int(model.index[-1])
    result = {"fp_weight": weight, "b_max": b_max, "converged_w2sq": top.w2sq_data,
              "floor": top.floor, "n_samples": top.n_samples, "nfe_within_floor": None,
              "first_within": None}
    if not (top.valid and np.isfinite(top.floor)):
        return {**result, "status": "no converged result (diverged, lost samples or no floor at"
                                    f" NFE {b_max})"}
    within = ((model.w2sq_data - top.w2sq_data).abs() <= top.floor) & model.valid
    stays = within[::-1].cummin()[::-1]  # True where this and every larger budget are within
    from_budget = int(stays[stays].index.min())
    first = int(within[within].index.min())
    if from_budget == b_max:
        return {**result, "first_within": None if first == b_max else first,
                "status": "not within the budgets measured"}
    return {**result, "nfe_within_floor": from_budget, "first_within": first,
            "status": f"within the floor from NFE {from_budget}"}


def _min(*values):
    known = [v for v in values if v is not None and np.isfinite(v)]
    return min(known) if known else None


def _jsonable(value):
    """Plain Python types; NaN and infinities as None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {(float(k) if isinstance(k, np.floating) else k): _jsonable(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value


# --- markdown --------------------------------------------------------------------------------
