"""The model's own diagnostics: its Fokker-Planck residual on a seeded collocation set and
its held-out denoising score-matching loss (torch).

The distances between sample sets are in odesdegap.evaluation.distances (numpy and POT, no
torch).
"""

from __future__ import annotations

import numpy as np
import torch

from odesdegap.diffusion.losses import dsm_loss
from odesdegap.diffusion.processes import ForwardProcess
from odesdegap.diffusion.residual import (
    CollocationSampler,
    fp_residual,
    sample_dsm_times,
    split_residual,
)
from odesdegap.diffusion.score_residual import score_fp_residual
from odesdegap.engine import maybe_compiled, uses_forward_jet
from odesdegap.settings import EngineSettings


def residual_summary(model, process: ForwardProcess, sampler: CollocationSampler, seed: int,
                     device: torch.device, *, prefix: str, hutchinson_probes: int,
                     chunk_points: int, engine: EngineSettings) -> dict:
    """mean R^2 of the model on a fixed, seeded collocation set, with its time-only and
    centred parts (see residual.py); the Laplacian by Hutchinson when probes > 0. For a vector
    score, the mean squared residual of the score FP equation (it has no time-only part).
    `engine` picks how the derivatives are computed."""
    generator = torch.Generator().manual_seed(seed)
    x, t = sampler.sample(process, generator)
    per_time = sampler.points_per_time
    chunk = max(per_time, chunk_points - chunk_points % per_time)
    if uses_forward_jet(model, engine.derivatives, hutchinson_probes):
        def forward_residual(x, t):
            with torch.no_grad():
                return fp_residual(model, process, x, t, create_graph=False,
                                   derivatives="forward")

        residual_of = maybe_compiled(forward_residual, engine, "evaluate")
    elif hasattr(model, "potential"):
        def residual_of(x, t):
            return fp_residual(model, process, x, t, create_graph=False,
                               hutchinson_probes=hutchinson_probes, generator=generator)
    else:
        def residual_of(x, t):
            return score_fp_residual(model, process, x, t, create_graph=False,
                                     hutchinson_probes=hutchinson_probes, generator=generator)
    residuals = torch.cat([
        residual_of(x[i:i + chunk].to(device), t[i:i + chunk].to(device)).cpu()
        for i in range(0, len(x), chunk)
    ])
    if residuals.dim() > 1:
        return {prefix: (residuals**2).mean().item()}
    parts = split_residual(residuals, per_time)
    return {f"{prefix}{'' if k == 'total' else '_' + k}": v.item() for k, v in parts.items()}


def heldout_dsm(model, process: ForwardProcess, data: np.ndarray, seed: int,
                device: torch.device, *, chunk_points: int, weighting: str,
                engine: EngineSettings) -> float:
    """DSM loss (weighted over time like training's) on held-out data with fixed, seeded times
    and noise; `engine` picks how the score is computed (it is never compiled here)."""
    generator = torch.Generator().manual_seed(seed)
    x0 = torch.as_tensor(data)
    t = sample_dsm_times(len(x0), process, generator)
    noise = torch.randn(x0.shape, generator=generator)
    total = 0.0
    for i in range(0, len(x0), chunk_points):
        parts = (v[i:i + chunk_points].to(device) for v in (x0, t, noise))
        loss = dsm_loss(model, process, *parts, create_graph=False, weighting=weighting,
                        derivatives=engine.derivatives)
        total += loss.item() * min(chunk_points, len(x0) - i)
    return total / len(x0)
