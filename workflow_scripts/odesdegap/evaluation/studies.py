"""Two studies that separate what the samplers do from what the model does.

- The eta family: dX = [f - (1 + eta^2)/2 g^2 s] dt + eta g dW (reverse time) has the exact
  score's marginals for every eta >= 0 (eta = 0: probability-flow ODE, eta = 1: reverse SDE).
  With a learned score, how far each member lands from the data and from the SDE shows how the
  gap opens as noise is removed. Its members are samplers (dynamics eta) like any other;
  reporting.eta_table.eta_rows reads their columns of the metrics table.
- NFE sweeps: one sampler at a list of score-evaluation budgets, its W2^2 to the data and to
  the reference sampler at each. A few-step solver's sweep is the NFE study; a grid solver's
  (Euler, RK4 on uniform steps) is the step-count study. On the exact lane (the exact score of
  Gaussian data) the distance to the data is discretisation error alone and must fall to the
  floor as the budget grows; for a trained model what remains at many steps is the model's.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from odesdegap.data.datasets import EXACT_GAUSSIAN
from odesdegap.diffusion.edm import EDMView
from odesdegap.diffusion.samplers import sample
from odesdegap.evaluation.sampler_metrics import DATA, evaluate_sampler
from odesdegap.evaluation.w2_rules import lost_fraction, uses_grid
from odesdegap.settings import (
    EngineSettings,
    SamplerEvaluationSettings,
    SamplerSettings,
    SamplingSettings,
)


def exact_gaussian_model(process):
    """The exact lane's model: the exact score of the EXACT_GAUSSIAN data under `process`. Its
    data and noise floor are those of data set EXACT_LANE, drawn and measured like every data
    set's (rules prepare_data and noise_floor)."""
    from odesdegap.models import GaussianPotential

    return GaussianPotential(process, np.asarray(EXACT_GAUSSIAN["mean"]), EXACT_GAUSSIAN["std"])


# --- NFE sweeps ---------------------------------------------------------------------------------
# The columns of an NFE sweep's rows (rule nfe_sweep, results/studies/nfe/{run}/{sampler}.csv),
# after the run's identity (dataset, fp_weight, seed) and the sampler's name and solver: every
# column rule evaluate_sampler writes for a sampler (sampler_metrics.evaluate_sampler), named
# without the sampler (w2sq_{name}_data -> w2sq_data, the reference sampler's as `reference`),
# so that a metric added there reaches these rows too; and the lost fraction.
NFE_SWEEP_COLUMNS = ("sigma_max", "nfe_budget", "nfe", "w2sq_data", "w2sq_reference",
                     "debiased_w2sq_data", "debiased_w2sq_reference", "se_debiased_w2sq_data",
                     "se_debiased_w2sq_reference", "sliced_w2sq_data", "sliced_w2sq_reference",
                     "n_samples", "lost_fraction", "n_nonfinite", "sample_seconds")
# The name of the reference sampler's samples in an NFE row (w2sq_reference).
REFERENCE = "reference"


def budget_row(record: dict, name: str) -> dict:
    """One budget's columns from sampler `name`'s evaluate_sampler record: each column named
    without the sampler (nfe_{name} -> nfe, w2sq_{name}_data -> w2sq_data)."""
    row = {}
    for column, value in record.items():
        if column.endswith(f"_{name}"):
            column = column[:-len(name) - 1]
        elif f"_{name}_" in column:
            column = column.replace(f"_{name}_", "_", 1)
        else:
            raise ValueError(f"column {column!r} of sampler {name!r} does not name it")
        row[column] = value
    return row


def nfe_sweep(name: str, spec: SamplerSettings, model, process, dim: int,
              settings: SamplingSettings, seed: int, device: torch.device, *,
              data: np.ndarray, reference: np.ndarray | None,
              evaluation: SamplerEvaluationSettings, engine: EngineSettings) -> list[dict]:
    """Sample with sampler `spec` (named `name`) at each of its NFE budgets (spec.nfe, a tuple)
    from the same prior draws (`seed`), in settings' chunks, and measure each budget's samples
    as rule evaluate_sampler measures a sampler's (`evaluation`: the run's W2 method and grid,
    the sliced cross-check): to the held-out `data` and to the reference sampler's samples
    `reference` (NaN without one: the exact lane), with the fraction of samples W2^2 could not
    use. One row per budget (NFE_SWEEP_COLUMNS, and any column evaluate_sampler adds): `nfe`
    is the evaluations counted, which an adaptive solver decides."""
    # The level a fast solver's grid starts at (its noise range's top); none on grid sampling.
    sigma_max = (float("nan") if spec.grid == "sampling"
                 else EDMView(process).start_sigma(spec.sigma_max))
    on_grid = uses_grid(evaluation, dim)
    rows = []
    for budget in spec.nfe:
        result = sample(spec, model, process, dim, settings, seed, device, engine=engine,
                        nfe=budget)
        record = evaluate_sampler(name, result, data=data, evaluation=evaluation,
                                  reference_name=None if reference is None else REFERENCE,
                                  reference=None if reference is None else {"samples": reference})
        row = budget_row(record, name)
        if reference is None:  # the columns a reference would fill, empty
            row |= {f"{column[:-len(DATA)]}{REFERENCE}": float("nan")
                    for column in list(row) if column.endswith(f"_{DATA}")}
        rows.append({"sampler": name, "solver": spec.solver, "sigma_max": sigma_max,
                     "nfe_budget": budget, **row,
                     "lost_fraction": lost_fraction(row.get("n_outside", 0),
                                                    row["n_nonfinite"], row["n_samples"],
                                                    on_grid)})
    return rows


# --- the fast solvers' noise range on the exact lane ---------------------------------------------
def exact_lane_solver_w2sq(solver: str, process, nfe: int | None, *, grid: str = "edm",
                           rho: float = 7.0, sigma_max: float | None = None) -> float:
    """W2^2, in closed form, between the law of deterministic fast solver `solver`'s output on
    the exact lane (NFE budget `nfe`, started at sigma_max: process.prior_sample's law there)
    and the exact law of X_{t_min}. solver "exact" is the exact flow: what remains is the start
    law's mismatch with the noised data alone.

    The exact denoiser is affine in x, so every deterministic solver's map is x -> A x + b,
    coordinate by coordinate; two solves (from 0 and from 1) give A and b, and the Gaussian
    start law goes to N(b, A^2 start_std^2). No samples, no grid: discretisation error alone,
    to compare with the binned noise floor (which the binned W2^2 adds to it)."""
    from odesdegap.diffusion.fast_solvers import solve
    from odesdegap.models import GaussianPotential

    mean = torch.tensor(EXACT_GAUSSIAN["mean"], dtype=torch.float64)
    variance = EXACT_GAUSSIAN["std"] ** 2
    view = EDMView(process)
    t_start = view.start_time(sigma_max)
    start_std = process.start_std(None if sigma_max is None else t_start)
    points = torch.stack([torch.zeros_like(mean), torch.ones_like(mean)])
    if solver == "exact":  # the probability-flow ODE's closed-form map (tests/test_fast_solvers)
        sigma_start, sigma_end = view.start_sigma(sigma_max), view.sigma_min
        ratio = math.sqrt((variance + sigma_end**2) / (variance + sigma_start**2))
        ends = view.from_edm(mean + (view.to_edm(points, t_start) - mean) * ratio,
                             process.t_min)
    else:
        model = GaussianPotential(process, mean, EXACT_GAUSSIAN["std"]).to(torch.float64)
        ends = solve(solver, model.score, process, points, nfe=nfe, grid=grid, rho=rho,
                     sigma_max=sigma_max)
    slope, offset = ends[1] - ends[0], ends[0]
    t_min = torch.tensor(process.t_min, dtype=torch.float64)
    scale, noise = process.mean_scale(t_min), process.marginal_std(t_min)
    exact_mean, exact_std = scale * mean, torch.sqrt(scale**2 * variance + noise**2)
    return float(((offset - exact_mean) ** 2).sum()
                 + ((slope.abs() * start_std - exact_std) ** 2).sum())
