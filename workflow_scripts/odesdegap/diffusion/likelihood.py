"""Negative log-likelihood of held-out data under the model's probability-flow ODE.

Along dx/dt = v(x, t) = f(x, t) - g(t)^2/2 s(x, t) the density obeys d log p_t(x(t))/dt = -div v,
so, integrating forwards from a data point x at t_min,
    log p_{t_min}(x) = log p_prior(x(t_max)) + int_{t_min}^{t_max} div v(x(t), t) dt.
torchdiffeq integrates the augmented state [x, int div v]. The divergence is exact (d backward
passes) up to `exact_divergence_max_dim` and Hutchinson's estimate above it. The probes stay
fixed along each trajectory, so the augmented ODE is smooth (as adaptive solvers need), and are
drawn once for the whole data set from a seeded generator, so the result does not depend on
the chunk size.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torchdiffeq

from odesdegap.diffusion.divergence import (
    exact_divergence,
    hutchinson_divergence,
    rademacher_probes,
)
from odesdegap.diffusion.processes import ForwardProcess
from odesdegap.diffusion.samplers import ODE_ADAPTIVE_METHODS, TimeGrid
from odesdegap.engine import maybe_compiled, uses_forward_jet
from odesdegap.models.potential_jet import potential_jet
from odesdegap.settings import EngineSettings, NllSettings

TIME_SPACINGS = ("log", "uniform")


# Points integrated at once: bounds memory; not a config key.
NLL_CHUNK_POINTS = 4096


def nll_times(settings: NllSettings, process: ForwardProcess) -> torch.Tensor:
    """Increasing times from t_min to t_max (only the end points for adaptive methods): a
    fixed-grid method on `steps` steps, either geometric in t (`log`: equal ratios
    t_{k+1}/t_k, so the steps near t_min, where the velocity changes on the time scale of the
    data's own variance, are as short as that needs) or `uniform` (the first `refine_first` of
    them, at small t, split `refine_factor`-fold); an adaptive method uses rtol/atol."""
    if settings.method in ODE_ADAPTIVE_METHODS:
        return torch.tensor([process.t_min, process.t_max], dtype=torch.float64)
    if settings.spacing not in TIME_SPACINGS:
        raise ValueError(f"NLL time spacing must be one of {TIME_SPACINGS}, "
                         f"got {settings.spacing!r}")
    if settings.spacing == "log":
        return torch.logspace(np.log10(process.t_min), np.log10(process.t_max),
                              settings.steps + 1, dtype=torch.float64)
    grid = TimeGrid(process.t_max, process.t_min, settings.steps, settings.refine_first,
                    settings.refine_factor)
    return grid.points().double().flip(0)


class AugmentedFlow(torch.nn.Module):
    """d/dt [x, L] = [v(x, t), div v(x, t)] with v the probability-flow velocity; `probes`
    (k, n, d) switches the divergence to Hutchinson's estimate. With the forward engine on an
    MLP potential and the exact divergence, div v = div f - g^2/2 Lap phi comes from
    potential_jet (one forward pass, no graph)."""

    def __init__(self, model, process: ForwardProcess, probes: torch.Tensor | None,
                 engine: EngineSettings):
        super().__init__()
        self.model, self.process, self.probes = model, process, probes
        self.calls = 0
        self.closed_form = None
        if probes is None and uses_forward_jet(model, engine.derivatives):
            self.closed_form = maybe_compiled(self._closed_form, engine, "evaluate")

    def _closed_form(self, t, x):
        with torch.no_grad():
            jet = potential_jet(self.model, x, t, time_derivative=False)
            velocity = self.process.flow_velocity(x, t, jet["gradient"])
            divergence = (self.process.drift_divergence(x, t)
                          - 0.5 * self.process.diffusion(t) ** 2 * jet["laplacian"])
        return velocity, divergence

    def forward(self, t, state):
        x, _ = state
        self.calls += 1
        # adaptive solvers probe times just outside [t_min, t_max], where the process is undefined
        t = t.clamp(self.process.t_min, self.process.t_max)
        if self.closed_form is not None:
            return self.closed_form(t, x)
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            velocity = self.process.flow_velocity(x, t, self.model.score(x, t, create_graph=True))
            if self.probes is None:
                divergence = exact_divergence(velocity, x)
            else:
                divergence = hutchinson_divergence(velocity, x, self.probes)
        # detached: nothing differentiates through the solver, and the graph must not grow
        return velocity.detach(), divergence.detach()


def ode_log_likelihood(model, process: ForwardProcess, data, settings: NllSettings,
                       seed: int, device: torch.device, *, engine: EngineSettings,
                       chunk_size: int = NLL_CHUNK_POINTS) -> tuple[torch.Tensor, int]:
    """log p_{t_min}(x) for every row of `data` (n, d) in the data's dtype, and the largest number
    of velocity evaluations (NFE) any chunk needed (`settings.points` is the caller's to apply:
    every row is integrated); `engine` as in AugmentedFlow."""
    x_all = torch.as_tensor(data)
    n, dim = x_all.shape
    probes = None
    if dim > settings.exact_divergence_max_dim:
        generator = torch.Generator().manual_seed(seed)
        probes = rademacher_probes(settings.hutchinson_probes, x_all, generator)
    model = model.to(device).eval()
    times = nll_times(settings, process).to(device=device, dtype=x_all.dtype)
    options = {}
    if settings.method in ODE_ADAPTIVE_METHODS:
        options = {"rtol": settings.rtol, "atol": settings.atol}
    log_likelihood, nfe = [], 0
    for start in range(0, n, chunk_size):
        x0 = x_all[start:start + chunk_size].to(device)
        chunk_probes = None if probes is None else probes[:, start:start + len(x0)].to(device)
        flow = AugmentedFlow(model, process, chunk_probes, engine)
        with torch.no_grad():
            path_x, path_integral = torchdiffeq.odeint(
                flow, (x0, torch.zeros_like(x0[:, 0])), times, method=settings.method, **options)
        log_likelihood.append((process.prior_log_prob(path_x[-1]) + path_integral[-1]).cpu())
        nfe = max(nfe, flow.calls)
    return torch.cat(log_likelihood), nfe


def ode_nll(model, process: ForwardProcess, data, settings: NllSettings, seed: int,
            device: torch.device, *, engine: EngineSettings,
            chunk_size: int = NLL_CHUNK_POINTS) -> dict:
    """Mean negative log-likelihood of `data` under the probability-flow ODE, in total nats and
    nats per dimension, with its standard error over data points, the NFE and the wall time."""
    started = time.perf_counter()
    log_likelihood, nfe = ode_log_likelihood(model, process, data, settings, seed, device,
                                             engine=engine, chunk_size=chunk_size)
    nll = -log_likelihood.double().numpy()
    dim = np.shape(data)[1]
    return {
        "nll_nats": float(nll.mean()),
        "nll_nats_per_dim": float(nll.mean() / dim),
        "nll_nats_std_error": float(nll.std(ddof=1) / np.sqrt(len(nll))) if len(nll) > 1 else 0.0,
        "nfe": nfe,
        "wall_time_s": time.perf_counter() - started,
    }
