"""Score models. The paper's parameterisation: a scalar potential phi(x, t), read as a
log-density, whose input-gradient is the score. The FP residual needs phi itself, which is why
the potential (not a vector field) is the default."""

from __future__ import annotations

import torch
from torch import nn


class PotentialMLP(nn.Module):
    """phi_theta(x, t): an MLP on (t, x) with Softplus activations (the paper: 3 x 80, beta=100)."""

    def __init__(self, dim: int, hidden_width: int = 80, hidden_layers: int = 3,
                 softplus_beta: float = 100.0, gaussian_baseline: bool = False, process=None):
        super().__init__()
        self.dim = dim
        self.baseline = None
        if gaussian_baseline:
            if process is None:
                raise ValueError("a Gaussian baseline needs the forward process")
            self.baseline = GaussianPotential(process, torch.zeros(dim), torch.ones(dim))
        layers: list[nn.Module] = []
        width_in = dim + 1
        for _ in range(hidden_layers):
            layers += [nn.Linear(width_in, hidden_width), nn.Softplus(beta=softplus_beta)]
            width_in = hidden_width
        layers.append(nn.Linear(width_in, 1))
        self.network = nn.Sequential(*layers)

    def potential(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """phi(x, t) for x of shape (n, d) and t of shape (n,) or a scalar; returns (n,)."""
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(x.shape[0])
        phi = self.network(torch.cat([t[:, None], x], dim=1)).squeeze(1)
        return phi if self.baseline is None else phi + self.baseline.potential(x, t)

    def fit_baseline(self, data: torch.Tensor) -> None:
        """Match the baseline to the data's per-coordinate mean and standard deviation."""
        if self.baseline is not None:
            self.baseline.mean.copy_(data.mean(dim=0))
            self.baseline.std.copy_(data.std(dim=0))

    def score(self, x: torch.Tensor, t: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
        """grad_x phi(x, t). With create_graph the result can be differentiated again (training)."""
        with torch.enable_grad():
            if not x.requires_grad:
                x = x.detach().requires_grad_(True)
            phi = self.potential(x, t)
            (grad_x,) = torch.autograd.grad(phi.sum(), x, create_graph=create_graph)
        return grad_x


MODELS = {"potential_mlp": PotentialMLP}


def build_model(settings: dict, dim: int, process=None) -> nn.Module:
    """Build a model from the config's `model` section: {kind, ...architecture keys}."""
    settings = dict(settings)
    kind = settings.pop("kind")
    return MODELS[kind](dim=dim, process=process, **settings)


class GaussianPotential(nn.Module):
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

    score = PotentialMLP.score
