"""What each column of the run's tables means: the generated results/tables/README.md.

Descriptions come from exact names and from the families of names the workflow writes
(`w2sq_<a>_<b>`, `n_outside_<sampler>`, `<metric>_ci95`, ...), for the run's sampler names and
its `gap` (the noise floors are described as the floors of the gap's pair). A column that
matches none is
listed as not described (and the workflow test, which checks the smoke run's README, fails), so
a new column shows up here without stopping anyone's run."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from odesdegap.diffusion.dynamics import ODE, SDE
from odesdegap.reporting.gap import Gap, sampler_label

# A sampler named after its dynamics (the default pair) is described by it (reporting.gap).
DYNAMICS_SETS = {ODE: "the probability-flow ODE's samples", SDE: "the reverse SDE's samples"}
DATA_SET = "the held-out data"
# An NFE sweep's row names a sampler's columns without the sampler (evaluation.studies
# .budget_row: w2sq_data is w2sq_{sampler}_data for this budget's samples): `describe` reads
# such a column as the sampler's with this name put back, and `reference` as the reference
# sampler's samples.
BUDGET = "budget"
ROW_SETS = {BUDGET: "this budget's samples", "reference": "the reference sampler's samples"}

EXACT = {
    "dataset": "data set (`exact_gaussian` in nfe_study.csv: the exact lane, the exact score of "
               "Gaussian data)",
    "fp_weight": "Fokker–Planck regularisation weight w_R the model was trained with (empty on "
                 "the exact lane)",
    "seed": "training seed (sampling seeds derive from it)",
    "dim": "dimension of the data",
    "w2_method": "how W2^2 was measured: `grid` (exact OT between histograms on the grid) or "
                 "`subsample` (exact OT between seeded subsamples)",
    "n_seeds": "number of seeds averaged in this row",
    "w2_convention": "what produced this row's W2^2: the grid convention (`nodes`, the paper's: "
                     "nearest of the grid's nodes, model samples off the box dropped, data "
                     "snapped onto it; `cells`: cells of width 2h/bins, everything off the box "
                     "dropped), grid size and box; or the subsample size of exact OT",
    "dsm_loss": "held-out denoising score-matching loss",
    "fp_residual": "the model's Fokker–Planck residual: mean R^2 on collocation points in the "
                   "box",
    "fp_residual_time_only": "the time-only part of `fp_residual`",
    "fp_residual_centred": "the centred part of `fp_residual` (the residual minus its "
                           "time-only part)",
    "fp_residual_data": "the FP residual on noised held-out points (near the data, where the "
                        "samplers go)",
    "fp_residual_data_time_only": "the time-only part of `fp_residual_data`",
    "fp_residual_data_centred": "the centred part of `fp_residual_data`",
    "nll_nats": "negative log-likelihood of held-out points under the probability-flow ODE "
                "(nats)",
    "nll_nats_per_dim": "`nll_nats` per dimension",
    "nll_nats_std_error": "standard error of `nll_nats` over the held-out points",
    "nll_nfe": "score evaluations per trajectory of the likelihood ODE",
    "nll_wall_time_s": "wall time of the likelihood computation (s)",
    "n_floor_points": "points in each fresh data set of the noise floor (the run's sample size)",
    "n_reference": "points in the held-out reference set",
    "lost_fraction_floor": "fraction of a fresh data set of the run's sample size that falls off "
                           "the grid: what a perfect model would lose",
    "n_samples": "samples per sampler",
    "extractor": "FID feature extractor: `classifier` (a CNN trained on the data set) or "
                 "`inception` (clean-fid's InceptionV3); FIDs of different extractors are not "
                 "comparable",
    "classifier_accuracy": "held-out accuracy of the classifier extractor",
    "eta": "member of the SDE family: 0 is the probability-flow ODE, 1 the reverse SDE",
    "n_outside": "samples outside the grid's box, dropped from the grid W2^2 (in "
                 "eta_sweep.csv: this eta's samples off the grid or non-finite)",
    "sampler": "the sampler's name in the config's `samplers`",
    "solver": "the sampler's solver (samplers.<name>.solver)",
    "nfe": "score evaluations per trajectory, as counted",
    "nfe_budget": "the NFE budget of this row of an NFE sweep (samplers.<name>.nfe)",
    "w2sq_data": "W2^2 between this budget's samples and the held-out data",
    "w2sq_reference": "W2^2 between this budget's samples and the reference sampler's samples "
                      "(empty on the exact lane, which has no reference sampler)",
    "sigma_max": "the noise level (EDM's sigma~) the fast solver's grid starts at: "
                 "samplers.<name>.sigma_max resolved for the data set (empty on grid sampling)",
    "lost_fraction": "fraction of this budget's samples that is non-finite or off the grid",
    "n_nonfinite": "how many of this budget's samples are non-finite (any makes the cell lose "
                   "samples in the findings)",
    "sample_seconds": "wall time of drawing this budget's samples (s)",
    "rule": "Snakemake rule",
    "job": "the job: rule and wildcards",
    "jobs": "number of jobs of the rule",
    "total_seconds": "summed wall time of the rule's jobs (s)",
    "mean_seconds": "mean wall time per job (s)",
    "max_seconds": "longest job (s)",
    "peak_rss_mb": "largest peak resident memory of a job (MB)",
    "s": "wall time (s)",
    "h:m:s": "wall time (h:m:s)",
    "max_rss": "peak resident set size (MB)",
    "max_vms": "peak virtual memory (MB)",
    "max_uss": "peak unique set size (MB)",
    "max_pss": "peak proportional set size (MB)",
    "io_in": "data read (MB)",
    "io_out": "data written (MB)",
    "mean_load": "mean CPU load (%)",
    "cpu_time": "CPU time (s)",
}



def floor_descriptions(gap: Gap) -> dict[str, str]:
    """The noise floors, described as the floors of the gap's pair's columns."""
    first_data, second_data = gap.data_columns
    return {
        "w2sq_floor": f"noise floor of `{gap.column}`: W2^2 between two fresh, disjoint data "
                      "sets of the run's sample size, both binned as model samples, by the "
                      "runs' own W2 method; W2^2 values within 2x of it cannot be told from "
                      "sampling noise",
        "w2sq_floor_data": f"noise floor of `{first_data}` and `{second_data}`: W2^2 between a "
                           "fresh data set of the run's sample size (as model samples) and the "
                           "run's held-out reference set (as data): what a perfect sampler "
                           "scores",
    }


def _set(name: str) -> str:
    if name == "data":
        return DATA_SET
    return DYNAMICS_SETS.get(name) or ROW_SETS.get(name, f"sampler `{name}`'s samples")


def patterns(samplers, gap: Gap) -> list:
    """(regex, description) of every family of column names, for these sampler names (the
    config's `samplers`, which the gap's are among)."""
    names = "|".join(sorted({*samplers, *gap, *ROW_SETS}, key=len, reverse=True))
    one, sets = f"({names})", f"({names}|data)"
    pair = f"{sets}_{sets}"
    return [
        (rf"w2sq_{pair}", lambda a, b: f"W2^2 between {_set(a)} and {_set(b)}"),
        (rf"sliced_w2sq_{pair}", lambda a, b: f"sliced W2^2 between {_set(a)} and {_set(b)} on "
                                              "the raw samples inside the box (a grid-free "
                                              "cross-check)"),
        (rf"debiased_w2sq_{pair}", lambda a, b: f"debiased W2^2 between {_set(a)} and "
                                                f"{_set(b)}: the plug-in minus a cross-fitted "
                                                "estimate of its upward bias, the population "
                                                "value on the grid (docs/noise_floor.md)"),
        (rf"se_debiased_w2sq_{pair}", lambda a, b: "standard error of the debiased W2^2 "
                                                   f"between {_set(a)} and {_set(b)}, at the "
                                                   "measured distance"),
        (rf"fid_{pair}", lambda a, b: f"FID between {_set(a)} and {_set(b)} (clean-fid)"),
        (rf"kid_{pair}", lambda a, b: f"KID between {_set(a)} and {_set(b)} (clean-fid)"),
        (rf"w2sq_to_{sets}", lambda a: f"W2^2 between this eta's samples and {_set(a)}"),
        (rf"n_outside_{sets}", lambda a: f"points of {_set(a)} outside the grid's box "
                                         "(dropped from the grid W2^2)"),
        (rf"n_nonfinite_{sets}", lambda a: f"non-finite points of {_set(a)} (dropped)"),
        (rf"n_images_{sets}", lambda a: f"images of {_set(a)} fed to the extractor"),
        (rf"nfe_{one}", lambda a: f"score evaluations per trajectory of {_set(a)}"
                                  if a not in DYNAMICS_SETS else
                                  f"score evaluations per trajectory of the {sampler_label(a)}"),
        (rf"n_samples_{one}", lambda a: f"number of {_set(a)}"),
        (rf"near_floor_{pair}", lambda a, b: f"true where W2^2 between {_set(a)} and {_set(b)} "
                                             "is within 2x of its noise floor (a bound, not a "
                                             "measurement)"),
        (rf"lost_fraction_{one}", lambda a: f"fraction of {_set(a)} that is non-finite or off "
                                            "the grid (dropped from the grid W2^2)"),
        (rf"lost_samples_{one}", lambda a: f"true where {_set(a)} lose more than 2x what a data "
                                           "set of the same size loses, or any non-finite "
                                           "point: such a model is never called best"),
        (rf"sample_seconds_{one}", lambda a: f"wall time of drawing {_set(a)} (s)"),
    ]


def describe(column: str, samplers, gap: Gap) -> str:
    """What `column` means (`samplers`: the configured sampler names, `gap`: the config's
    pair); KeyError for a column the workflow does not know."""
    if column.endswith("_ci95"):
        return (f"half-width of the 95% confidence interval (Student's t over seeds) of "
                f"`{column[:-5]}`; empty with one seed")
    exact = EXACT | floor_descriptions(gap)
    if column in exact:
        return exact[column]
    families = patterns(samplers, gap)
    parts = column.split("_")
    # the column itself, then as an NFE row's column with the sampler put back in each place
    for candidate in [column] + ["_".join([*parts[:i], BUDGET, *parts[i:]])
                                 for i in range(1, len(parts) + 1)]:
        for pattern, text in families:
            match = re.fullmatch(pattern, candidate)
            if match:
                return text(*match.groups())
    raise KeyError(f"no description for table column {column!r}: add it to "
                   "odesdegap/reporting/table_docs.py")


def readme(tables: dict[str, pd.DataFrame], w2: str, floor_note: str, samplers,
           gap: Gap) -> str:
    """The README of results/tables: for each table (file name -> its frame, in order), what
    each column means (`samplers`: the configured sampler names, `gap`: the config's pair)."""
    lines = ["# Tables of this run", "",
             "Generated by the workflow (rule `tables_readme`); do not edit by hand.", "",
             f"W2^2 is the squared 2-Wasserstein distance, measured by {w2}. {floor_note}",
             "Summary tables give the mean over seeds; `<column>_ci95` is its 95% interval "
             "half-width. The `.md`, `.tex` and `.html` summaries show the same numbers as "
             "`mean ± half-width`.", ""]
    for name, frame in tables.items():
        lines += [f"## {name}", ""]
        lines += [f"- `{column}`: {_described(column, samplers, gap)}"
                  for column in frame.columns]
        lines.append("")
    return "\n".join(lines)


def undescribed(tables: dict[str, pd.DataFrame], samplers, gap: Gap) -> list[str]:
    """The columns `describe` does not know."""
    return sorted({c for frame in tables.values() for c in frame.columns
                   if _described(c, samplers, gap) == NOT_DESCRIBED})


NOT_DESCRIBED = "not described yet (add it to odesdegap/reporting/table_docs.py)"


def _described(column: str, samplers, gap: Gap) -> str:
    try:
        return describe(column, samplers, gap)
    except KeyError:
        return NOT_DESCRIBED


def read_table(path) -> pd.DataFrame:
    return pd.read_csv(path, nrows=1) if Path(path).stat().st_size else pd.DataFrame()
