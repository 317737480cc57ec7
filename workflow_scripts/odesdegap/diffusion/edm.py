"""The EDM change of variables (Karras et al. 2022, eq. 4 and Table 1) for the benchmark's
processes, so that one set of fast solvers serves OU, VP and VE alike.

With the kernel X_t | X_0 ~ N(a(t) X_0, s(t)^2 I), the scaled state x~ = x / a(t) is X_0 plus
noise of standard deviation sigma~ = s(t) / a(t): every process becomes the variance-exploding
one, indexed by sigma~ instead of t. Its probability-flow ODE is dx~/dsigma~ = (x~ - D) / sigma~
with the denoiser D(x~, sigma~) = x~ + sigma~^2 a(t) score(a(t) x~, t), t = t(sigma~). Solvers
step in sigma~ (or lambda = -log sigma~, the half log-SNR) and never see t, a or s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from odesdegap.diffusion.processes import (
    ForwardProcess,
    OrnsteinUhlenbeck,
    VarianceExploding,
    VariancePreserving,
)

GRIDS = ("edm", "logsnr")
# EDM's noise range starts at sigma_max = 80 for data of standard deviation sigma_data = 0.5.
EDM_SIGMA_MAX_PER_DATA_STD = 160.0


def edm_sigma_max(data_std: float) -> float:
    """EDM's rule for the top of a fast solver's noise range (Karras et al. 2022): 160 times
    the data's standard deviation. There the start law's mismatch with the noised data costs
    about (data scale / sigma_max)^2 of the data's second moment, far below a W2 noise floor,
    and no step is spent where the denoiser returns the data's mean (docs/studies.md)."""
    return EDM_SIGMA_MAX_PER_DATA_STD * data_std


# The config value of samplers.<name>.sigma_max that starts a fast solver at t_max, the whole of
# the process's noise range (the grids before the noise range was fitted to the data).
FULL_RANGE = "t_max"


def resolve_sigma_max(setting: float | str | None, data_std: float,
                      process: ForwardProcess) -> float | None:
    """The top of a fast solver's noise range from its setting (samplers.<name>.sigma_max):
    null (the default) follows EDM's rule, edm_sigma_max(data_std), held to the process's range
    (sigma~(t_max) where the rule would pass it); "t_max" is the whole range (None, what the
    solvers read as sigma~(t_max)); a number is itself."""
    if setting == FULL_RANGE:
        return None
    if setting is not None:
        return float(setting)
    return min(edm_sigma_max(data_std), EDMView(process).sigma_max)


@dataclass(frozen=True)
class EDMView:
    """A process seen through the EDM variables; `score_fn(x, t)` is the model's score in the
    process's own variables (a CountingScore in the workflow, so NFE is counted where it
    happens)."""

    process: ForwardProcess

    # --- sigma~ <-> t --------------------------------------------------------------------------
    def sigma_of_t(self, t) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=torch.float64)
        return self.process.marginal_std(t) / self.process.mean_scale(t)

    def t_of_sigma(self, sigma) -> torch.Tensor:
        """The inverse of sigma_of_t: closed form for OU, VP and VE, bisection otherwise."""
        sigma = torch.as_tensor(sigma, dtype=torch.float64)
        p = self.process
        if isinstance(p, OrnsteinUhlenbeck):
            # sigma~^2 = (e^{2t} - 1) / 2
            return 0.5 * torch.log1p(2 * sigma**2)
        if isinstance(p, VariancePreserving):
            # sigma~^2 = e^{B(t)} - 1, B(t) = beta_min t + (beta_max - beta_min) t^2 / 2: the
            # quadratic's positive root, written without cancellation for small B
            integrated = torch.log1p(sigma**2)
            slope = p.beta_max - p.beta_min
            root = torch.sqrt(p.beta_min**2 + 2 * slope * integrated)
            return 2 * integrated / (p.beta_min + root)
        if isinstance(p, VarianceExploding):
            # sigma~^2 = sigma_min^2 ((sigma_max / sigma_min)^{2t / t_max} - 1)
            return (p.t_max * 0.5 * torch.log1p((sigma / p.sigma_min) ** 2)
                    / math.log(p.sigma_max / p.sigma_min))
        return self.t_of_sigma_bisection(sigma)

    def t_of_sigma_bisection(self, sigma, iterations: int = 100) -> torch.Tensor:
        """The generic inverse: bisection on the increasing sigma_of_t over [0, 2 t_max] (a new
        process needs no closed form; the tests hold the closed forms to it)."""
        sigma = torch.as_tensor(sigma, dtype=torch.float64)
        low = torch.zeros_like(sigma)
        high = torch.full_like(sigma, 2 * self.process.t_max)
        for _ in range(iterations):
            middle = 0.5 * (low + high)
            below = self.sigma_of_t(middle) < sigma
            low, high = torch.where(below, middle, low), torch.where(below, high, middle)
        return 0.5 * (low + high)

    # --- end points --------------------------------------------------------------------------
    @property
    def sigma_max(self) -> float:
        return float(self.sigma_of_t(self.process.t_max))

    @property
    def sigma_min(self) -> float:
        return float(self.sigma_of_t(self.process.t_min))

    def to_edm(self, x: torch.Tensor, t) -> torch.Tensor:
        """x~ = x / a(t) (the prior at t_max enters the solvers this way)."""
        return x / self.process.mean_scale(torch.as_tensor(t, dtype=torch.float64)).item()

    def from_edm(self, x_edm: torch.Tensor, t) -> torch.Tensor:
        return x_edm * self.process.mean_scale(torch.as_tensor(t, dtype=torch.float64)).item()

    # --- the denoiser --------------------------------------------------------------------------
    def denoiser(self, score_fn, x_edm: torch.Tensor, sigma: float) -> torch.Tensor:
        """D(x~, sigma~) = x~ + sigma~^2 a score(a x~, t(sigma~)): one score evaluation. The
        score sees a scalar time tensor of x's dtype, as in samplers.py."""
        t = self.t_of_sigma(sigma)
        scale = float(self.process.mean_scale(t))
        t_model = t.to(dtype=x_edm.dtype, device=x_edm.device)
        return x_edm + (sigma**2 * scale) * score_fn(scale * x_edm, t_model)

    # --- grids ---------------------------------------------------------------------------------
    def start_sigma(self, sigma_max: float | None = None) -> float:
        """The grid's first level: `sigma_max` (a sampler's noise range, checked to lie in
        (sigma~(t_min), sigma~(t_max)]: the model knows no noisier level), or sigma~(t_max) when
        None."""
        if sigma_max is None:
            return self.sigma_max
        if not self.sigma_min < sigma_max <= self.sigma_max * (1 + 1e-12):
            raise ValueError(f"sigma_max {sigma_max!r} is outside the process's noise range "
                             f"({self.sigma_min:.4g}, {self.sigma_max:.6g}]")
        return float(sigma_max)

    def start_time(self, sigma_max: float | None = None) -> float:
        """The time t(sigma_max) the solvers start at (t_max when sigma_max is None)."""
        if sigma_max is None:
            return self.process.t_max
        return float(self.t_of_sigma(self.start_sigma(sigma_max)))

    def sigma_grid(self, steps: int, grid: str = "edm", rho: float = 7.0,
                   sigma_max: float | None = None) -> torch.Tensor:
        """steps + 1 noise levels (float64) from sigma_max (default sigma~(t_max)) down to
        sigma~(t_min).

        "edm": Karras et al.'s eq. 5, uniform in sigma~^(1/rho) (rho = 7: short steps at low
        noise); "logsnr": uniform in lambda = -log sigma~. The last level is sigma~(t_min), not
        EDM's zero: the benchmark compares samples at t_min. Starting below sigma~(t_max)
        spends no steps where the denoiser returns the data's mean (see start_sigma)."""
        if steps < 1:
            raise ValueError(f"a grid needs at least one step, got {steps}")
        fraction = torch.linspace(0, 1, steps + 1, dtype=torch.float64)
        high, low = self.start_sigma(sigma_max), self.sigma_min
        if grid == "edm":
            root_high, root_low = high ** (1 / rho), low ** (1 / rho)
            sigmas = (root_high + fraction * (root_low - root_high)) ** rho
        elif grid == "logsnr":
            sigmas = torch.exp(math.log(high) + fraction * (math.log(low) - math.log(high)))
        else:
            raise ValueError(f"unknown grid {grid!r}; expected one of {GRIDS}")
        sigmas[0], sigmas[-1] = high, low
        return sigmas
