"""The Fokker–Planck residual of a vector score model s(x, t), which has no potential to put into
the log-density FP equation (residual.py). Taking grad_x of that equation gives the score FP
equation of FP-Diffusion (Lai et al., 2023): for dX = f dt + g dW,
    d s/dt = grad_x [ g^2/2 (div s + |s|^2) - f . s - div f ],
so the model's residual is the vector
    R_s = d s/dt - grad_x [ g^2/2 (div s + |s|^2) - f . s - div f ].

For s = grad phi, R_s = grad_x R with R the log-density residual. A time-only shift of phi
vanishes under the gradient, so R_s has no time-only part to split off: the penalty is simply
the mean of R_s^2.
"""

from __future__ import annotations

import torch

from odesdegap.diffusion.divergence import (
    exact_divergence,
    hutchinson_divergence,
    rademacher_probes,
)
from odesdegap.diffusion.processes import ForwardProcess
from odesdegap.diffusion.residual import time_weight


def score_fp_residual(model, process: ForwardProcess, x: torch.Tensor, t: torch.Tensor,
                      create_graph: bool = True, hutchinson_probes: int = 0,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """R_s(x, t) of shape (n, d), for x (n, d) and t (n,) or a scalar; `model` needs only
    `score`. div s is exact by default (one backward pass per dimension) or, with
    `hutchinson_probes` = k > 0, Hutchinson's estimate from k Rademacher probes; the estimate
    is linear in the probes' outer products, so its gradient stays unbiased for grad_x div s."""
    x = x.detach().requires_grad_(True)
    t = torch.as_tensor(t, dtype=x.dtype, device=x.device).detach()
    t = t.expand(x.shape[0]).clone().requires_grad_(True)
    with torch.enable_grad():
        score = model.score(x, t, create_graph=True)
        # div s is differentiated again (grad_x below), so its graph is always kept.
        if hutchinson_probes > 0:
            probes = rademacher_probes(hutchinson_probes, x, generator)
            divergence = hutchinson_divergence(score, x, probes, create_graph=True)
        else:
            divergence = exact_divergence(score, x, create_graph=True)
        g_squared = process.diffusion(t) ** 2
        rhs_potential = (
            0.5 * g_squared * (divergence + (score**2).sum(dim=1))
            - (process.drift(x, t) * score).sum(dim=1)
            - process.drift_divergence(x, t)
        )
        (grad_rhs,) = torch.autograd.grad(rhs_potential.sum(), x, create_graph=create_graph,
                                          retain_graph=True)
        residual = time_derivative(score, t, create_graph=create_graph) - grad_rhs
    return residual if create_graph else residual.detach()


def time_derivative(field: torch.Tensor, t: torch.Tensor,
                    create_graph: bool = False) -> torch.Tensor:
    """d field / dt per point, for field (n, d) whose row i depends on t only through t[i].

    A forward-mode product by the double-backward trick: u -> u . (d field / dt) is linear in u,
    so its gradient in u is d field / dt. Two backward passes whatever d (instead of d). Zero
    where the field does not depend on t.
    """
    cotangent = torch.zeros_like(field, requires_grad=True)
    (weighted,) = torch.autograd.grad(field, t, grad_outputs=cotangent, create_graph=True,
                                      allow_unused=True)
    if weighted is None:
        return torch.zeros_like(field)
    (derivative,) = torch.autograd.grad(weighted, cotangent, grad_outputs=torch.ones_like(weighted),
                                        create_graph=create_graph, retain_graph=True,
                                        allow_unused=True)
    return torch.zeros_like(field) if derivative is None else derivative


def score_residual_penalty(model, process: ForwardProcess, x: torch.Tensor, t: torch.Tensor, *,
                           hutchinson_probes: int, generator: torch.Generator | None,
                           weighting: str) -> dict:
    """The regulariser: mean R_s^2 over points and coordinates (coordinates averaged like the
    DSM loss, so that w_R weighs the two parameterisations alike), as {"total", "penalty"} so
    the trainer treats it like residual.residual_penalty; there is no time-only part to drop."""
    residual = score_fp_residual(model, process, x, t, hutchinson_probes=hutchinson_probes,
                                 generator=generator)
    weight = time_weight(process, t, weighting, power=3)
    residual = residual * (weight[:, None] if torch.is_tensor(weight) else weight)
    total = (residual**2).mean()
    return {"total": total, "penalty": total}
