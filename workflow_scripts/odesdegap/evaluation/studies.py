"""Two studies that separate what the samplers do from what the model does.

- The eta family: dX = [f - (1 + eta^2)/2 g^2 s] dt + eta g dW (reverse time) has the exact
  score's marginals for every eta >= 0 (eta = 0: probability-flow ODE, eta = 1: reverse SDE).
  With a learned score, how far each member lands from the data and from the SDE shows how the
  gap opens as noise is removed. Its members are samplers (dynamics eta) like any other;
  eta_rows reads their columns of the metrics table.
- The sampler study: ODE–SDE W2^2 against step count for several integrators. For the exact
  score (Gaussian data) the gap is pure discretisation error and must vanish as steps grow; for
  a trained model what remains at many steps is the model-induced gap.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import torch

from odesdegap.diffusion.samplers import sample, sampler
from odesdegap.evaluation.metrics import Grid, w2sq_between_histograms
from odesdegap.settings import (
    EngineSettings,
    SamplerSettings,
    SamplerStudySettings,
    SamplingSettings,
)

EXACT_GAUSSIAN = {"mean": [0.5, -0.5], "std": 0.5}
# The exact lane's name in the `dataset` column of the sampler study (it has no FP weight).
EXACT_GAUSSIAN_LANE = "exact Gaussian"


def exact_gaussian_lane(process, n: int, seed: int):
    """The exact-score lane: the exact model of EXACT_GAUSSIAN data and n seeded data points."""
    from odesdegap.models import GaussianPotential

    mean, std = np.asarray(EXACT_GAUSSIAN["mean"]), EXACT_GAUSSIAN["std"]
    data = mean + std * np.random.default_rng(seed).standard_normal((n, len(mean)))
    return GaussianPotential(process, mean, std), data.astype(np.float32)


def eta_rows(metrics: pd.DataFrame, members: dict[str, float], reference: str
             ) -> pd.DataFrame:
    """The eta family's table from the runs' metrics table: one row per run and member (a
    sampler with dynamics eta; `members` maps its name to its eta), with its W2^2 to the data
    (w2sq_to_data) and to the reference sampler (w2sq_to_{reference}), its NFE and the samples
    the grid could not use (n_outside: off the grid or non-finite)."""
    rows = []
    for name, eta in sorted(members.items(), key=lambda item: item[1]):
        lost = sum(metrics[c].fillna(0) for c in (f"n_outside_{name}", f"n_nonfinite_{name}")
                   if c in metrics)
        rows.append(pd.DataFrame({
            "dataset": metrics["dataset"], "fp_weight": metrics["fp_weight"],
            "seed": metrics["seed"], "sampler": name, "eta": eta,
            "n_outside": lost if not isinstance(lost, int) else 0,
            "nfe": metrics[f"nfe_{name}"],
            "w2sq_to_data": metrics[f"w2sq_{name}_data"],
            f"w2sq_to_{reference}": metrics[f"w2sq_{name}_{reference}"],
        }))
    return pd.concat(rows, ignore_index=True)


def study_sampling(n_samples: int, steps: int) -> SamplingSettings:
    """The grid of one cell of the study: `steps` uniform steps (no refinement), all samples
    in one chunk, noise on every SDE step. The study's ODE methods are fixed-grid (the schema
    allows euler, midpoint, rk4), so the tolerances are never read."""
    return SamplingSettings(n_samples=n_samples, chunk_size=n_samples, steps=steps,
                            refine_last=0, refine_factor=1, sde_final_step_noise=True,
                            ode_rtol=1e-5, ode_atol=1e-5)


def sampler_study(model, process, reference: np.ndarray, study: SamplerStudySettings,
                  grid: Grid, seed: int, device: torch.device, *,
                  engine: EngineSettings) -> list[dict]:
    """ODE–SDE, ODE–data and SDE–data W2^2 for every step count of `study` and pair of its
    methods, with `study.n_samples` samples per sampler; `engine` picks how the score is
    computed."""
    dim = reference.shape[1]
    data_weights = grid.histogram(reference, "data")[0]
    rows = []
    for n_steps in study.steps:
        drawn = {}
        # each cell pairs an ODE and an SDE method; a sampler reads only its own one
        cells = [("ode", method) for method in study.ode_methods]
        cells += [("sde", method) for method in study.sde_methods]
        settings = study_sampling(study.n_samples, n_steps)
        for kind, method in cells:
            result = sample(sampler(kind, method), model, process, dim, settings, seed, device,
                            engine=engine)
            drawn[kind, method] = (grid.histogram(result["samples"], "model")[0], result["nfe"])
        for ode_method, sde_method in itertools.product(study.ode_methods, study.sde_methods):
            (ode, ode_nfe), (sde, sde_nfe) = drawn["ode", ode_method], drawn["sde", sde_method]
            rows.append({
                "steps": n_steps,
                "ode_method": ode_method,
                "sde_method": sde_method,
                "nfe_ode": ode_nfe,
                "nfe_sde": sde_nfe,
                "w2sq_ode_sde": w2sq_between_histograms(ode, sde, grid.support),
                "w2sq_ode_data": w2sq_between_histograms(ode, data_weights, grid.support),
                "w2sq_sde_data": w2sq_between_histograms(sde, data_weights, grid.support),
            })
    return rows


# --- NFE sweeps ---------------------------------------------------------------------------------
# The columns of an NFE sweep's rows (rule nfe_sweep, results/studies/nfe/{run}/{sampler}.csv),
# after the run's identity (dataset, fp_weight, seed) and the sampler's name and solver.
NFE_SWEEP_COLUMNS = ("nfe_budget", "nfe", "w2sq_data", "w2sq_reference", "lost_fraction",
                     "sample_seconds")


def nfe_sweep(name: str, spec: SamplerSettings, model, process, dim: int,
              settings: SamplingSettings, seed: int, device: torch.device, *,
              data: np.ndarray, reference: np.ndarray, grid: Grid,
              engine: EngineSettings) -> list[dict]:
    """Sample with sampler `spec` (named `name`) at each of its NFE budgets (spec.nfe, a tuple)
    from the same prior draws (`seed`), in settings' chunks, and measure each budget's samples
    on the 2-D W2 grid: to the held-out `data` and to the reference sampler's samples
    `reference`, with the fraction of samples the grid could not use. One row per budget
    (NFE_SWEEP_COLUMNS): `nfe` is the evaluations counted, which an adaptive solver decides."""
    data_weights = grid.histogram(data, "data")[0]
    reference_weights = grid.histogram(reference, "model")[0]
    rows = []
    for budget in spec.nfe:
        result = sample(spec, model, process, dim, settings, seed, device, engine=engine,
                        nfe=budget)
        weights, dropped = grid.histogram(result["samples"], "model")
        rows.append({
            "sampler": name,
            "solver": spec.solver,
            "nfe_budget": budget,
            "nfe": result["nfe"],
            "w2sq_data": w2sq_between_histograms(weights, data_weights, grid.support),
            "w2sq_reference": w2sq_between_histograms(weights, reference_weights, grid.support),
            "lost_fraction": (dropped["n_outside"] + dropped["n_nonfinite"])
            / len(result["samples"]),
            "sample_seconds": result["wall_time_s"],
        })
    return rows
