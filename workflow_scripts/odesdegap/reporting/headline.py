"""The run's headline, generated from its tables: the gap of the config's `gap` pair (ODE–SDE by
default) at the largest FP weight relative to weight 0, per data set, next to the noise floor;
the best weight for the pair's first sampler (the ODE); and the run's recipe in one line.
Written as reStructuredText, the landing text of the report
(rules/captions/workflow.rst pulls it in), and printed by `make report`."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from odesdegap.reporting.findings import item_keys
from odesdegap.reporting.gap import Gap, sampler_label
from odesdegap.settings import GridSettings

FLOOR_COLUMN = "w2sq_floor"
# The rules whose jobs train a diffusion model (benchmarks_by_job.csv's `rule`).
TRAINING_RULES = ("pretrain", "train")


@dataclass(frozen=True)
class Recipe:
    """What produced the run, as one line: config files, sweep, sizes, device and job time."""

    configfiles: list[str]
    datasets: list[str]
    weights: list[float]
    seeds: list[int]
    training_steps: int | None  # None: the authors' published models, imported
    n_samples: int
    sampling_steps: int
    devices: list[str]
    n_jobs: int
    job_seconds: float
    # The training jobs' share (rules TRAINING_RULES); 0 where nothing was trained here.
    training_seconds: float = 0.0

    def line(self) -> str:
        files = ", ".join(self.configfiles) if self.configfiles else "config.yaml"
        weights = ", ".join(f"{w:g}" for w in self.weights)
        training = ("the authors' published models, imported (not trained here)"
                    if self.training_steps is None else f"{self.training_steps} training steps")
        device = f"; trained on {', '.join(self.devices)}" if self.devices else ""
        return (f"{files}; {len(self.datasets)} data set(s) x FP weights {{{weights}}} x "
                f"{len(self.seeds)} seed(s); {training}; "
                f"{self.n_samples} samples per sampler, {self.sampling_steps} steps{device}; "
                f"{self.n_jobs} compute jobs, {_duration(self.job_seconds)} of job wall time "
                f"in all{self._against_training()}.")

    def _against_training(self) -> str:
        """All jobs' seconds against the training jobs': what the run spends besides the
        training it exists for (sampling, distances, start-up), on this host."""
        if self.training_seconds <= 0:
            return ""
        return (f", {self.job_seconds / self.training_seconds:.1f} times the training jobs' "
                f"{_duration(self.training_seconds)}")


def w2_description(methods, grid: GridSettings) -> str:
    """How W2^2 was measured in this run, from the metrics table's `w2_method` values."""
    parts = []
    if "grid" in set(methods):
        parts.append(f"exact optimal transport on the {grid.grid_bins} x {grid.grid_bins} grid "
                     f"({grid.grid_convention} convention)")
    if "subsample" in set(methods):
        parts.append("exact optimal transport between seeded subsamples")
    return " and ".join(parts) or "no W2^2 in this run"


def dataset_lines(summary: pd.DataFrame, findings: dict, gap: Gap) -> list[str]:
    """One sentence per data set: the gap at weight 0 and at the largest weight, their ratio
    (paired by seed, with its 95% interval), the noise floor and the best weight of the gap's
    first sampler."""
    by_dataset = {item["dataset"]: item for item in findings["datasets"]}
    keys, column, pair, first = item_keys(gap), gap.column, gap.label, sampler_label(gap.first)
    lines = []
    for dataset, rows in summary.groupby("dataset", sort=True):
        rows = rows.sort_values("fp_weight")
        largest = rows.iloc[-1]
        item = by_dataset.get(dataset, {})
        text = f"**{dataset}**: "
        zero = rows[rows.fp_weight == 0]
        ratio = next((r for r in item.get("gap_ratio", [])
                      if r["fp_weight"] == largest.fp_weight), None)
        if len(zero) and largest.fp_weight != 0:
            if ratio is not None and ratio.get("debiased_ratio") is not None:
                text += debiased_sentence(ratio, largest.fp_weight, pair) + "; plug-in "
            text += (f"{pair} W2^2 {_value(zero.iloc[0], column)} at w = 0, "
                     f"{_value(largest, column)} at w = {largest.fp_weight:g}")
            if ratio is not None:
                text += f": ratio {_number(ratio['ratio'])}{_interval(ratio['ratio_ci95'])}"
                if ratio.get("bound"):
                    text += " (a bound: a gap within 2x of the noise floor)"
                if ratio.get("lost_samples"):
                    text += " (a model lost samples off the grid)"
            text += f" ({int(largest.n_seeds)} seed(s))"
        else:
            text += (f"{pair} W2^2 {_value(largest, column)} at w = "
                     f"{largest.fp_weight:g} (no w = 0 run to compare with)")
        if FLOOR_COLUMN in rows and rows[FLOOR_COLUMN].notna().any():
            text += f"; noise floor {_number(rows[FLOOR_COLUMN].mean())}"
        else:
            text += "; noise floor not measured in this run"
        if item.get(keys["best_weight"]) is not None:
            text += (f"; best weight for the {first}: {item[keys['best_weight']]:g} "
                     f"({first}–data W2^2 {_number(item[keys['best_w2sq']])}"
                     f"{', within 2x of the floor' if item.get(keys['best_near_floor']) else ''})")
        elif keys["best_weight"] in item:
            text += f"; no weight qualifies as best for the {first} (every model lost samples)"
        lines.append(text + ".")
    return lines


def debiased_sentence(ratio: dict, weight: float, pair: str) -> str:
    """'w = 10 shrinks the ODE–SDE gap to 0.08 of its w = 0 value (debiased W2^2; 95% interval
    0.05-0.11 from the estimates' standard errors, 1 seed)'."""
    value = ratio["debiased_ratio"]
    verb = "shrinks" if value < 1 else "grows"
    low, high = ratio.get("debiased_ratio_low"), ratio.get("debiased_ratio_high")
    seeds = int(ratio["n_seeds"])
    basis = ("over seeds" if ratio.get("debiased_ratio_interval") == "seeds"
             else "from the estimates' standard errors")
    interval = (f"95% interval {_number(low, 2)} to {_number(high, 2)} {basis}"
                if all(v is not None and math.isfinite(v) for v in (low, high))
                else "its 95% interval unbounded: the gap at w = 0 is not clearly above zero")
    return (f"w = {weight:g} {verb} the {pair} gap to {_number(value, 2)} of its w = 0 value "
            f"(debiased W2^2; {interval}, {seeds} seed{'s' if seeds != 1 else ''})")


def to_rst(summary: pd.DataFrame, findings: dict, recipe: Recipe, w2: str, gap: Gap) -> str:
    """The headline as a reStructuredText section."""
    has_floor = FLOOR_COLUMN in summary and summary[FLOOR_COLUMN].notna().any()
    intro = (f"{_escape(gap.label)} gap at the largest FP weight against weight 0, per data "
             f"set; W2^2 is the squared 2-Wasserstein distance, by {w2}.")
    if has_floor:
        intro += (" The noise floor is W2^2 between two disjoint held-out data sets of the "
                  "run's sample size: distances near it are sampling noise.")
    lines = ["Headline", "--------", "", intro, ""]
    lines += [f"- {_escape(line)}" for line in dataset_lines(summary, findings, gap)]
    lines += ["", f"Recipe: {_escape(recipe.line())}", ""]
    return "\n".join(lines)


def _value(row, column: str) -> str:
    ci = row.get(f"{column}_ci95", float("nan"))
    return f"{_number(row[column])}{_interval(ci)}"


def _interval(ci) -> str:
    return "" if ci is None or not math.isfinite(ci) else f" ± {_number(ci, 2)}"


def _number(value, digits: int = 3) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}g}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _escape(text: str) -> str:
    """Keep reStructuredText from reading '*' in 'x' lists or a trailing '_' as markup; the
    bold data set names are the only markup the headline means."""
    return text.replace("\\", "\\\\").replace("_", "\\_")
