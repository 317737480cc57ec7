"""Two studies that separate what the samplers do from what the model does.

- The eta family: dX = [f - (1 + eta^2)/2 g^2 s] dt + eta g dW (reverse time) has the exact
  score's marginals for every eta >= 0 (eta = 0: probability-flow ODE, eta = 1: reverse SDE).
  With a learned score, how far each member lands from the data and from the SDE shows how the
  gap opens as noise is removed.
- The sampler study: ODE–SDE W2^2 against step count for several integrators. For the exact
  score (Gaussian data) the gap is pure discretisation error and must vanish as steps grow; for
  a trained model what remains at many steps is the model-induced gap.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from odesdegap.diffusion.samplers import sample
from odesdegap.evaluation.metrics import Grid, w2sq_between_histograms
from odesdegap.settings import EngineSettings, SamplerStudySettings, SamplingSettings

EXACT_GAUSSIAN = {"mean": [0.5, -0.5], "std": 0.5}
# The exact lane's name in the `dataset` column of the sampler study (it has no FP weight).
EXACT_GAUSSIAN_LANE = "exact Gaussian"


def exact_gaussian_lane(process, n: int, seed: int):
    """The exact-score lane: the exact model of EXACT_GAUSSIAN data and n seeded data points."""
    from odesdegap.models import GaussianPotential

    mean, std = np.asarray(EXACT_GAUSSIAN["mean"]), EXACT_GAUSSIAN["std"]
    data = mean + std * np.random.default_rng(seed).standard_normal((n, len(mean)))
    return GaussianPotential(process, mean, std), data.astype(np.float32)


def eta_rows(eta_samples: dict[float, np.ndarray], references: dict[str, np.ndarray],
             grid: Grid) -> list[dict]:
    """W2^2 of each eta's samples to each reference set (data, ODE, SDE)."""
    reference_weights = {name: grid.histogram(s, "data" if name == "data" else "model")[0]
                         for name, s in references.items()}
    rows = []
    for eta, samples in sorted(eta_samples.items()):
        weights, dropped = grid.histogram(samples, "model")
        row = {"eta": eta, "n_outside": dropped["n_outside"] + dropped["n_nonfinite"]}
        for name, other in reference_weights.items():
            row[f"w2sq_to_{name}"] = w2sq_between_histograms(weights, other, grid.support)
        rows.append(row)
    return rows


def study_sampling(n_samples: int, steps: int, ode_method: str, sde_method: str
                   ) -> SamplingSettings:
    """The samplers of one cell of the study: `steps` uniform steps (no refinement), all samples
    in one chunk, noise on every SDE step. The study's ODE methods are fixed-grid (the schema
    allows euler, midpoint, rk4), so the tolerances are never read."""
    return SamplingSettings(n_samples=n_samples, chunk_size=n_samples, steps=steps,
                            refine_last=0, refine_factor=1, ode_method=ode_method,
                            sde_method=sde_method, sde_final_step_noise=True,
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
        cells = [("ode", method, study.sde_methods[0]) for method in study.ode_methods]
        cells += [("sde", study.ode_methods[0], method) for method in study.sde_methods]
        for kind, ode_method, sde_method in cells:
            settings = study_sampling(study.n_samples, n_steps, ode_method, sde_method)
            result = sample(kind, model, process, dim, settings, seed, device, eta=1.0,
                            engine=engine)
            method = ode_method if kind == "ode" else sde_method
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
