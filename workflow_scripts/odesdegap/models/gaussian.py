"""The exact model of Gaussian data: the reference for tests, studies and baselines."""

from __future__ import annotations

import torch

from odesdegap.models.base import PotentialModel


class GaussianPotential(PotentialModel):
    """The exact log-density of Gaussian data N(mean, diag(std^2)) pushed through a process:
    p_t = N(a(t) mean, diag(a(t)^2 std^2 + s(t)^2)). Its FP residual is zero and its ODE and SDE
    agree, which makes it the reference ('exact-score') model for tests and sampler studies, and
    the optional baseline of PotentialMLP."""

    def __init__(self, process, mean, std):
        super().__init__()
        self.process = process
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).expand_as(
            self.mean).clone())

    def potential(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(x.shape[0])
        scale = self.process.mean_scale(t)[:, None]
        variance = (scale * self.std) ** 2 + self.process.marginal_std(t)[:, None] ** 2
        centred = x - scale * self.mean
        log_density = -0.5 * centred**2 / variance - 0.5 * torch.log(2 * torch.pi * variance)
        return log_density.sum(dim=1)
