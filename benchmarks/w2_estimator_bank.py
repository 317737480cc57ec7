"""The W2^2 estimators judged on laws with exact grid values (docs/noise_floor.md, "The
debiased W2^2").

Each pair of the bank is two laws of odesdegap.evaluation.grid_laws, whose probability at every
node of the paper's 64 x 64 grid is exact, so the population W2^2 on the grid is one exact
transport problem and each draw of n points per law is a multinomial draw of node counts (each
set drawn as two halves of n/2, the split the debiased estimator uses). For every pair and n,
over --repeats draws: the plug-in, the debiased estimator (w2_debiased) and the other
candidates, each's bias and its standard deviation in units of the floor (the plug-in's mean
between two draws of the pair's first family at equal laws, at that n), and the debiased
estimator's standard error against its spread.

Bias is measured with a control variate: the first-order term <u, a_hat - a> + <v, b_hat - b>
(u, v the population problem's dual potentials) has expectation exactly zero, so subtracting it
from every draw leaves the bias unchanged and cuts its noise from the distance's fluctuation to
what is left beyond first order.
With --published DIR the authors' histograms join the bank (published_pairs), and the paper's
w = 0 / w = 10 reductions are estimated from n-point draws of them (published_ratios).
  PYTHONPATH=workflow_scripts python benchmarks/w2_estimator_bank.py [--n 20000 ...]
      [--repeats 16] [--csv out.csv] [--published resources/published [--pairs published]]
"""

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from odesdegap.evaluation import grid_laws as laws
from odesdegap.evaluation.distances import Grid, w2sq_between_histograms
from odesdegap.evaluation.w2_debiased import Halves, debiased_w2sq, solve_with_duals

GRID = Grid(64, 3.5, "nodes")
# name: (family, first law, second law); each family's equal pair gives its floor.
PAIRS = {
    "gaussian, equal": ("gaussian", laws.gaussian(), laws.gaussian()),
    "gaussian, mean +0.05": ("gaussian", laws.gaussian(), laws.gaussian((0.05, 0.0))),
    "gaussian, mean +(0.1, 0.1)": ("gaussian", laws.gaussian(), laws.gaussian((0.1, 0.1))),
    "gaussian, std x1.1": ("gaussian", laws.gaussian(), laws.gaussian(std=(1.1, 1.1))),
    "gaussian, std x1.05 in x": ("gaussian", laws.gaussian(), laws.gaussian(std=(1.05, 1.0))),
    "gaussian, mean +(0.2, 0.2), std x1.2": ("gaussian", laws.gaussian(),
                                             laws.gaussian((0.2, 0.2), (1.2, 1.2))),
    "gaussian vs two-component mixture": ("gaussian", laws.gaussian(),
                                          laws.gaussian_pair_mixture(0.5, 0.85)),
    "checkerboard, equal": ("checkerboard", laws.checkerboard(), laws.checkerboard()),
    "checkerboard, shift 0.05": ("checkerboard", laws.checkerboard(), laws.checkerboard(0.05)),
    "checkerboard, blur 0.1": ("checkerboard", laws.checkerboard(), laws.checkerboard(blur=0.1)),
    "checkerboard, blur 0.25": ("checkerboard", laws.checkerboard(),
                                laws.checkerboard(blur=0.25)),
    "mixture, equal": ("mixture", laws.mixture(), laws.mixture()),
    "mixture, std x1.2": ("mixture", laws.mixture(), laws.mixture(1.2)),
}


PUBLISHED_WEIGHTS = (0.0, 0.1, 1.0, 10.0)


def published_pairs(root) -> dict:
    """The published lane's laws: the authors' 3,000,000-sample histograms of their models'
    ODE and SDE samples (their W2^2 is the paper's table; their own bias at that count is far
    below ours at 20,000), as pairs ODE–SDE at each weight, and ODE w = 0 against itself for
    the floor. A draw of n points is a multinomial draw from a histogram: the estimator on
    the very laws the paper measures, without our samplers' own differences."""
    from odesdegap.published.layout import (
        DATASET_NAMES,
        HISTOGRAMS_FOLDER,
        histogram_path,
        load_histogram,
    )

    pairs = {}
    for dataset in DATASET_NAMES:
        ode, sde = ({w: load_histogram(histogram_path(Path(root) / HISTOGRAMS_FOLDER, kind,
                                                      dataset, w))
                     for w in PUBLISHED_WEIGHTS} for kind in ("ode", "sde"))
        family = f"published {dataset}"
        pairs[f"{family}, ODE w = 0, equal"] = (family, ode[0.0], ode[0.0])
        for weight in PUBLISHED_WEIGHTS:
            pairs[f"{family}, ODE–SDE w = {weight:g}"] = (family, ode[weight], sde[weight])
    return pairs


def population(first, second):
    p, q = (law if isinstance(law, np.ndarray) else laws.node_probabilities(law, GRID)
            for law in (first, second))
    value, rows, u, columns, v = solve_with_duals(p, q, GRID.support)
    potential_p, potential_q = np.zeros(len(p)), np.zeros(len(q))
    potential_p[rows], potential_q[columns] = u, v
    return p, q, value, potential_p, potential_q


def halves(probability, n, rng) -> Halves:
    counts = [laws.draw_counts(probability, n // 2, rng) for _ in range(2)]
    total = counts[0] + counts[1]
    return Halves(total / total.sum(), int(total.sum()),
                  tuple(c / c.sum() for c in counts), tuple(int(c.sum()) for c in counts))


DEBIASED = "debiased (cross-fit)"


def candidates(estimate, self_distance) -> dict:
    """Every estimator of the table from one draw's parts."""
    plug, half = estimate.plug_in, estimate.half_in_sample
    return {
        "plug-in": plug,
        DEBIASED: estimate.value,
        "plug-in - self-distances / sqrt 2": plug - self_distance / np.sqrt(2),
        "extrapolation in n^-1/2": plug - (half - plug) / (np.sqrt(2) - 1),
        "extrapolation in n^-1": 2 * plug - half,
        "cross-fit mean (in + out of sample) / 2": 0.5 * (half + estimate.half_out_of_sample),
    }


def run_pair(name, n, repeats, seed, pairs=PAIRS):
    family, first, second = pairs[name]
    p, q, truth, u, v = population(first, second)
    rng = np.random.default_rng(seed)
    draws = []
    for draw in range(repeats):
        a, b = halves(p, n, rng), halves(q, n, rng)
        estimate = debiased_w2sq(a, b, GRID.support)
        self_distance = 0.5 * sum(w2sq_between_histograms(*h.half_weights, GRID.support)
                                  for h in (a, b))
        first_order = u @ (a.weights - p) + v @ (b.weights - q)
        for estimator, value in candidates(estimate, self_distance).items():
            draws.append({"pair": name, "family": family, "n": n, "truth": truth, "draw": draw,
                          "estimator": estimator, "value": value, "first_order": first_order,
                          "standard_error": estimate.standard_error,
                          "delta_se": estimate.delta_standard_error,
                          "split_se": estimate.split_standard_error})
    return draws


def _rms(values: pd.Series) -> float:
    return float(np.sqrt((values**2).mean()))


def summary(draws: pd.DataFrame) -> pd.DataFrame:
    plug = draws[draws.estimator == "plug-in"]
    equal = plug[plug.pair.str.endswith("equal")]
    floors = equal.groupby(["family", "n"]).value.mean().rename("floor")
    rows = []
    for (pair, n, estimator), group in draws.groupby(["pair", "n", "estimator"], sort=False):
        floor = floors[(group.family.iloc[0], n)]
        corrected = group.value - group.first_order
        own = estimator == DEBIASED  # the standard errors are the debiased estimator's
        spread = group.value.std(ddof=1)
        rows.append({"pair": pair, "n": n, "estimator": estimator, "truth": group.truth.iloc[0],
                     "floor": floor,
                     "bias_floors": (corrected.mean() - group.truth.iloc[0]) / floor,
                     "bias_se_floors": corrected.std(ddof=1) / np.sqrt(len(group)) / floor,
                     "sd_floors": group.value.std(ddof=1) / floor,
                     "se_over_sd": _rms(group.standard_error) / spread if own else np.nan,
                     "delta_se_over_sd": _rms(group.delta_se) / spread if own else np.nan,
                     "split_se_over_sd": _rms(group.split_se) / spread if own else np.nan,
                     "repeats": len(group)})
    return pd.DataFrame(rows)


def docs_table(table: pd.DataFrame) -> str:
    """The table of docs/noise_floor.md: per pair and n, the plug-in's and the debiased
    estimator's bias (floors, +- its standard error), the debiased spread against the
    plug-in's and its standard error against its spread."""
    rows = []
    for (pair, n), group in table.groupby(["pair", "n"], sort=False):
        plug, debiased = (group[group.estimator == e].iloc[0] for e in ("plug-in", DEBIASED))
        rows.append({"pair": pair, "n": n, "W2^2": f"{plug.truth:.4f}",
                     "floor": f"{plug.floor:.4f}",
                     "plug-in bias": f"{plug.bias_floors:+.2f} ± {plug.bias_se_floors:.2f}",
                     "debiased bias": f"{debiased.bias_floors:+.2f} ± "
                                      f"{debiased.bias_se_floors:.2f}",
                     "sd / plug-in's": f"{debiased.sd_floors / plug.sd_floors:.2f}",
                     "se / sd": f"{debiased.se_over_sd:.2f}", "draws": int(plug.repeats)})
    return pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True)


def candidates_table(table: pd.DataFrame) -> str:
    """Every candidate's bias in floors, one column each, per pair and n."""
    shown = table.assign(bias=[f"{b:+.2f}" for b in table.bias_floors])
    wide = shown.pivot_table(index=["pair", "n"], columns="estimator", values="bias",
                             aggfunc="first", sort=False)
    return wide.reset_index().to_markdown(index=False, disable_numparse=True)


def published_ratios(draws: pd.DataFrame) -> pd.DataFrame:
    """The paper's reduction, ODE–SDE W2^2 at w = 0 over w = 10, per published data set: the
    histograms' value against each estimator's ratio of means over the draws, and for the
    debiased estimator the share of draws whose Fieller interval (from the two estimates'
    standard errors, findings.fieller_interval) holds the histograms' ratio."""
    from odesdegap.reporting.findings import fieller_interval

    rows = []
    for family, group in draws[draws.family.str.startswith("published")].groupby("family"):
        at = {w: group[group.pair == f"{family}, ODE–SDE w = {w:g}"] for w in (0, 10)}
        if any(frame.empty for frame in at.values()):
            continue
        row = {"family": family, "n": int(group.n.iloc[0]),
               "histograms": at[0].truth.iloc[0] / at[10].truth.iloc[0]}
        for estimator in ("plug-in", DEBIASED):
            zero, ten = (at[w][at[w].estimator == estimator] for w in (0, 10))
            row[estimator] = zero.value.mean() / ten.value.mean()
        zero, ten = (at[w][at[w].estimator == DEBIASED].set_index("draw") for w in (0, 10))
        intervals = [fieller_interval(zero.value[d], zero.standard_error[d], ten.value[d],
                                      ten.standard_error[d]) for d in zero.index]
        # an unbounded interval (w = 10's estimate within its z errors of zero) excludes nothing
        covered = [not low <= row["histograms"] <= high if np.isnan(low) else
                   low <= row["histograms"] <= high for low, high in intervals]
        row["fieller_coverage"] = float(np.mean(covered))
        row["unbounded"] = int(sum(np.isnan(low) for low, _ in intervals))
        bounded = np.array([i for i in intervals if not np.isnan(i[0])])
        row["median_interval"] = ("{:.1f} to {:.1f}".format(*np.median(bounded, axis=0))
                                  if len(bounded) else "unbounded")
        rows.append(row)
    return pd.DataFrame(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[5000, 10000, 20000, 40000])
    parser.add_argument("--repeats", type=int, default=16)
    parser.add_argument("--pairs", nargs="+", default=list(PAIRS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--csv", help="write every draw's values here")
    parser.add_argument("--published", metavar="DIR",
                        help="the authors' files (ODESDEGap-precomputed_dists inside): judge "
                             "the estimators on their histograms too, or alone with "
                             "--pairs published")
    args = parser.parse_args()
    pairs = dict(PAIRS)
    if args.published:
        published = published_pairs(args.published)
        pairs |= published
        if args.pairs == ["published"]:
            args.pairs = list(published)
    unknown = [name for name in args.pairs if name not in pairs]
    if unknown:
        parser.error(f"unknown pairs {unknown}; known: {list(pairs)}")
    draws = []
    for n in args.n:
        for index, name in enumerate(args.pairs):
            started = time.perf_counter()
            draws += run_pair(name, n, args.repeats, args.seed + 1000 * index + n, pairs)
            print(f"{name}, n = {n}: {time.perf_counter() - started:.0f} s", flush=True)
            if args.csv:
                pd.DataFrame(draws).to_csv(args.csv, index=False)
    table = summary(pd.DataFrame(draws))
    with pd.option_context("display.width", 200, "display.max_rows", 500,
                           "display.float_format", "{:.3f}".format):
        print(table.to_string(index=False))
        if args.published:
            print(published_ratios(pd.DataFrame(draws)).to_string(index=False))
    print("\n" + docs_table(table) + "\n\n" + candidates_table(table))


if __name__ == "__main__":
    main()
