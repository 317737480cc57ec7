"""Forward (noising) processes dX = f(X, t) dt + g(t) dW with a Gaussian transition kernel.

Every process used by the benchmark has a linear drift f(x, t) = -b(t) x, so the kernel is
X_t | X_0 = x0 ~ N(a(t) x0, s(t)^2 I) and the drift's divergence is -d b(t). The rest of the code
(DSM targets, the FP residual, both samplers) only talks to this interface, so a new process is
one small class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch


@dataclass(frozen=True)
class ForwardProcess:
    """Base class: subclasses give b(t), g(t), a(t), s(t) and the prior's standard deviation."""

    t_min: float
    t_max: float

    # --- the four scalar functions of time that define a linear-drift process -------------
    def drift_rate(self, t: torch.Tensor) -> torch.Tensor:
        """b(t) in f(x, t) = -b(t) x."""
        raise NotImplementedError

    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        """g(t)."""
        raise NotImplementedError

    def mean_scale(self, t: torch.Tensor) -> torch.Tensor:
        """a(t) = E[X_t | X_0 = x0] / x0."""
        raise NotImplementedError

    def marginal_std(self, t: torch.Tensor) -> torch.Tensor:
        """s(t), the kernel's standard deviation per coordinate."""
        raise NotImplementedError

    @property
    def prior_std(self) -> float:
        """Standard deviation of the reference distribution the samplers start from at t_max."""
        raise NotImplementedError

    # --- derived quantities: shared by every process ----------------------------------------
    def drift(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return -_column(self.drift_rate(t), x) * x

    def flow_velocity(self, x: torch.Tensor, t: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
        """The probability-flow ODE's velocity f(x, t) - g(t)^2 / 2 score, at a scalar time t."""
        return self.drift(x, t) - 0.5 * self.diffusion(t) ** 2 * score

    def drift_divergence(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """div_x f(x, t), shape (n,)."""
        return -x.shape[1] * self.drift_rate(t).reshape(-1).expand(x.shape[0])

    def perturb(
        self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw X_t given X_0 = x0 from the kernel; return it with the kernel's score."""
        scale, std = _column(self.mean_scale(t), x0), _column(self.marginal_std(t), x0)
        x_t = scale * x0 + std * noise
        return x_t, -noise / std

    def start_std(self, t: float | None = None) -> float:
        """The standard deviation of the draws sampling starts from: the prior's at t_max
        (t None); at a later start t (a fast solver's sigma_max) the kernel's spread s(t), i.e.
        the law at t of the process started from 0, which the noised data approach as t grows
        (in the EDM variables N(0, sigma~^2 I), EDM's prior; at t_max it is the prior to within
        e^{-2 t_max} for OU). Its mismatch with the noised data: docs/studies.md."""
        if t is None:
            return self.prior_std
        return float(self.marginal_std(torch.as_tensor(t, dtype=torch.float64)))

    def prior_sample(self, n: int, dim: int, generator: torch.Generator | None = None,
                     t: float | None = None):
        """n draws of N(0, start_std(t)^2 I): the prior at t_max, or at a later start t. The
        same generator gives the same standard normal draws for any t."""
        return self.start_std(t) * torch.randn(n, dim, generator=generator)

    def prior_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        var = self.prior_std**2
        return -0.5 * (x**2).sum(dim=1) / var - 0.5 * x.shape[1] * math.log(2 * math.pi * var)


def _column(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Broadcast a per-sample (or scalar) time function against an (n, d) batch."""
    values = torch.as_tensor(values, dtype=like.dtype, device=like.device)
    return values.reshape(-1, 1) if values.dim() > 0 else values


@dataclass(frozen=True)
class OrnsteinUhlenbeck(ForwardProcess):
    """dX = -X dt + dW: the paper's process. Prior N(0, I/2)."""

    t_min: float = 1e-5
    t_max: float = 10.0

    def drift_rate(self, t):
        return torch.ones_like(torch.as_tensor(t))

    def diffusion(self, t):
        return torch.ones_like(torch.as_tensor(t))

    def mean_scale(self, t):
        return torch.exp(-torch.as_tensor(t))

    def marginal_std(self, t):
        return torch.sqrt(-torch.expm1(-2 * torch.as_tensor(t)) / 2)

    @property
    def prior_std(self):
        return math.sqrt(0.5)


@dataclass(frozen=True)
class VariancePreserving(ForwardProcess):
    """Song et al.'s VP SDE: b(t) = beta(t)/2, g = sqrt(beta(t)), beta linear in t; prior N(0, I)
    """

    t_min: float = 1e-5
    t_max: float = 1.0
    beta_min: float = 0.1
    beta_max: float = 20.0

    def _beta(self, t):
        return self.beta_min + torch.as_tensor(t) * (self.beta_max - self.beta_min)

    def _integrated_beta(self, t):
        t = torch.as_tensor(t)
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t**2

    def drift_rate(self, t):
        return self._beta(t) / 2

    def diffusion(self, t):
        return torch.sqrt(self._beta(t))

    def mean_scale(self, t):
        return torch.exp(-self._integrated_beta(t) / 2)

    def marginal_std(self, t):
        return torch.sqrt(-torch.expm1(-self._integrated_beta(t)))

    @property
    def prior_std(self):
        return 1.0


@dataclass(frozen=True)
class VarianceExploding(ForwardProcess):
    """Song et al.'s VE SDE on [0, t_max]: no drift, sigma(t) = sigma_min (sigma_max /
    sigma_min)^(t / t_max), g(t) = sigma(t) sqrt(2 log(sigma_max / sigma_min) / t_max).

    The kernel's variance is sigma(t)^2 - sigma_min^2 (zero at t = 0); the prior is
    N(0, sigma_max^2 I), the kernel's spread at t_max for any t_max (Song et al.'s t_max = 1 is
    the special case).
    """

    t_min: float = 1e-5
    t_max: float = 1.0
    sigma_min: float = 0.01
    sigma_max: float = 10.0

    def _sigma(self, t):
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** (
            torch.as_tensor(t) / self.t_max)

    def drift_rate(self, t):
        return torch.zeros_like(torch.as_tensor(t))

    def diffusion(self, t):
        return self._sigma(t) * math.sqrt(2 * math.log(self.sigma_max / self.sigma_min)
                                          / self.t_max)

    def mean_scale(self, t):
        return torch.ones_like(torch.as_tensor(t))

    def marginal_std(self, t):
        return torch.sqrt(self._sigma(t) ** 2 - self.sigma_min**2)

    @property
    def prior_std(self):
        return self.sigma_max


PROCESSES = {"ou": OrnsteinUhlenbeck, "vp": VariancePreserving, "ve": VarianceExploding}


def build_process(settings: dict) -> ForwardProcess:
    """Build a process from the config's `process` section: {name, t_min, t_max, ...}; keys
    that belong to other processes (beta_* for VP, sigma_* for VE) are ignored."""
    cls = PROCESSES[settings["name"]]
    own = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in settings.items() if k in own})
