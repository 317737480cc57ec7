"""Score models. The paper's parameterisation: a scalar potential phi(x, t), read as a
log-density, whose input-gradient is the score. The FP residual needs phi itself, which is why
the potential (not a vector field) is the default; VectorScoreMLP, a direct vector field
regularised by the score FP equation, is the alternative."""

from __future__ import annotations

import torch
from torch import nn

from odesdegap.models.base import PotentialModel
from odesdegap.models.gaussian import GaussianPotential


class PotentialMLP(PotentialModel):
    """phi_theta(x, t): an MLP on (t, x) with Softplus activations (the paper: 3 x 80, beta=100)."""

    def __init__(self, dim: int, *, hidden_width: int, hidden_layers: int, softplus_beta: float,
                 gaussian_baseline: bool, process=None):
        super().__init__()
        self.dim = dim
        self.baseline = None
        if gaussian_baseline:
            if process is None:
                raise ValueError("a Gaussian baseline needs the forward process")
            self.baseline = GaussianPotential(process, torch.zeros(dim), torch.ones(dim))
        self.network = softplus_mlp(dim + 1, 1, hidden_width, hidden_layers, softplus_beta)

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


class VectorScoreMLP(nn.Module):
    """s_theta(x, t): the score as a direct vector field (no potential), the parameterisation of
    FP-Diffusion (Lai et al., 2023). Same network layout as PotentialMLP but with d outputs; it is
    regularised with the score FP equation (score_residual.py), since there is no phi to plug
    into the log-density one."""

    def __init__(self, dim: int, *, hidden_width: int, hidden_layers: int, softplus_beta: float,
                 gaussian_baseline: bool, process=None):
        super().__init__()
        if gaussian_baseline:
            raise ValueError("VectorScoreMLP has no Gaussian baseline (it has no potential)")
        del process  # accepted for build_model's uniform call; a vector field does not need it
        self.dim = dim
        self.network = softplus_mlp(dim + 1, dim, hidden_width, hidden_layers, softplus_beta)

    def score(self, x: torch.Tensor, t: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
        """s(x, t) for x of shape (n, d) and t of shape (n,) or a scalar; returns (n, d).
        `create_graph` is accepted for parity with PotentialMLP: the output is the network's, so
        it is differentiable whenever autograd is on."""
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(x.shape[0])
        return self.network(torch.cat([t[:, None], x], dim=1))

    def fit_baseline(self, data: torch.Tensor) -> None:
        """Nothing to fit (no baseline); kept so callers can treat every model alike."""


def softplus_mlp(width_in: int, width_out: int, hidden_width: int, hidden_layers: int,
                 softplus_beta: float) -> nn.Sequential:
    """Linear layers with Softplus between them: smooth, so the residuals' higher derivatives
    exist."""
    layers: list[nn.Module] = []
    for _ in range(hidden_layers):
        layers += [nn.Linear(width_in, hidden_width), nn.Softplus(beta=softplus_beta)]
        width_in = hidden_width
    layers.append(nn.Linear(width_in, width_out))
    return nn.Sequential(*layers)
