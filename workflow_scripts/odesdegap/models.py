"""Score models. The paper's parameterisation: a scalar potential phi(x, t), read as a
log-density, whose input-gradient is the score. The FP residual needs phi itself, which is why
the potential (not a vector field) is the default; VectorScoreMLP, a direct vector field
regularised by the score FP equation, is the alternative."""

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

    def score(self, x: torch.Tensor, t: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
        """grad_x phi(x, t). With create_graph the result can be differentiated again (training)."""
        with torch.enable_grad():
            if not x.requires_grad:
                x = x.detach().requires_grad_(True)
            phi = self.potential(x, t)
            (grad_x,) = torch.autograd.grad(phi.sum(), x, create_graph=create_graph)
        return grad_x


class VectorScoreMLP(nn.Module):
    """s_theta(x, t): the score as a direct vector field (no potential), the parameterisation of
    FP-Diffusion (Lai et al., 2023). Same network layout as PotentialMLP but with d outputs; it is
    regularised with the score FP equation (score_residual.py), since there is no phi to plug
    into the log-density one."""

    def __init__(self, dim: int, hidden_width: int = 80, hidden_layers: int = 3,
                 softplus_beta: float = 100.0, gaussian_baseline: bool = False, process=None):
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


MLP_KEYS = ("hidden_width", "hidden_layers", "softplus_beta", "gaussian_baseline")
UNET_KEYS = ("channels", "channel_multipliers")
# Which `model` config keys each kind reads: the rules pass only these on, so that editing, say,
# the U-Net's channels does not retrain the MLPs.
MODEL_KEYS = {
    "potential_mlp": MLP_KEYS,
    "vector_mlp": MLP_KEYS,
    "unet_potential": UNET_KEYS,
    "unet_vector": UNET_KEYS,
}


def model_settings(settings: dict) -> dict:
    """The config's `model` section reduced to its kind and the keys that kind reads."""
    kind = settings["kind"]
    return {"kind": kind, **{k: settings[k] for k in MODEL_KEYS[kind] if k in settings}}


def build_model(settings: dict, dim: int, process=None,
                image_shape: tuple[int, int, int] | None = None) -> nn.Module:
    """Build a model from the config's `model` section: {kind, ...architecture keys}. The
    U-Nets see flat (n, C*H*W) points like every other model and fold them into `image_shape`."""
    settings = model_settings(settings)
    kind = settings.pop("kind")
    if kind.startswith("unet"):
        from .unet import UNetPotential, UNetScore

        if image_shape is None:
            raise ValueError(f"model kind {kind!r} needs an image data set")
        network = UNetPotential if kind == "unet_potential" else UNetScore
        settings["channel_multipliers"] = tuple(settings.get("channel_multipliers", (1, 2)))
        return network(dim=dim, image_shape=tuple(image_shape), process=process, **settings)
    return {"potential_mlp": PotentialMLP, "vector_mlp": VectorScoreMLP}[kind](
        dim=dim, process=process, **settings)


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
