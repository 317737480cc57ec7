"""Denoising score matching."""

from __future__ import annotations

import torch

from odesdegap.diffusion.processes import ForwardProcess
from odesdegap.diffusion.residual import sample_dsm_times
from odesdegap.engine import uses_forward_jet
from odesdegap.models.potential_jet import potential_score

DSM_WEIGHTINGS = ("uniform", "variance")


def dsm_loss(model, process: ForwardProcess, x0: torch.Tensor, t: torch.Tensor,
             noise: torch.Tensor, create_graph: bool = True,
             weighting: str = "uniform", derivatives: str = "autograd") -> torch.Tensor:
    """mean lambda(t) || s_theta(x_t, t) - grad log p(x_t | x0) ||^2 / d.

    Averaged over coordinates as well as samples, as in the authors' code, so that the FP
    weight w_R has the same meaning as in the paper. lambda = 1 is the paper's; lambda = std(t)^2
    (`variance`) keeps the small-t terms, whose targets grow like 1/std, from dominating, which
    images need. `derivatives` = "forward" takes the score from potential_score where the
    model allows it (the same numbers to round-off, no nested graph); "autograd" is the
    reference.
    """
    if weighting not in DSM_WEIGHTINGS:
        raise ValueError(f"DSM weighting must be one of {DSM_WEIGHTINGS}, got {weighting!r}")
    x_t, target = process.perturb(x0, t, noise)
    if uses_forward_jet(model, derivatives):
        with torch.set_grad_enabled(create_graph and torch.is_grad_enabled()):
            score = potential_score(model, x_t, t)
    else:
        score = model.score(x_t, t, create_graph=create_graph)
    squared_error = ((score - target) ** 2).mean(dim=1)
    if weighting == "variance":
        squared_error = squared_error * process.marginal_std(t) ** 2
    return squared_error.mean()


def draw_dsm_batch(data: torch.Tensor, batch_size: int, process: ForwardProcess,
                   generator: torch.Generator):
    """Data points (with replacement), times and kernel noise for one DSM estimate."""
    index = torch.randint(len(data), (batch_size,), generator=generator)
    t = sample_dsm_times(batch_size, process, generator)
    noise = torch.randn(batch_size, data.shape[1], generator=generator)
    return data[index], t, noise
