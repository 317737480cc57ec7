"""The forward processes' Gaussian kernels against an independent simulation of their SDEs."""

import math

import pytest
import torch
import torchsde

from odesdegap.diffusion.processes import OrnsteinUhlenbeck, VarianceExploding, VariancePreserving

PROCESSES = [OrnsteinUhlenbeck(), VariancePreserving(), VarianceExploding(sigma_max=3.0),
             # the config's default t_max with `process: {name: ve}`: sigma_max is reached at
             # t_max, not at t = 1 (where it was the kernel's std 1e7 at t = 3)
             VarianceExploding(t_max=10.0, sigma_max=3.0)]
IDS = ["ou", "vp", "ve", "ve_t_max_10"]


def test_ou_kernel_matches_closed_form():
    process = OrnsteinUhlenbeck()
    t = torch.tensor([0.1, 1.0, 10.0])
    assert torch.allclose(process.mean_scale(t), torch.exp(-t))
    assert torch.allclose(process.marginal_std(t) ** 2, (1 - torch.exp(-2 * t)) / 2)
    assert math.isclose(process.prior_std**2, 0.5)


class _ForwardSDE(torch.nn.Module):
    noise_type, sde_type = "diagonal", "ito"

    def __init__(self, process):
        super().__init__()
        self.process = process

    def f(self, t, x):
        return self.process.drift(x, t)

    def g(self, t, x):
        return self.process.diffusion(t).expand_as(x)


@pytest.mark.parametrize("process", PROCESSES, ids=IDS)
def test_kernel_moments_match_simulated_sde(process):
    """Simulate dX = f dt + g dW from a point mass and compare mean and variance with a, s."""
    torch.manual_seed(0)
    x0 = torch.full((20000, 2), 1.5)
    t_end = 0.5 * process.t_max
    ts = torch.tensor([0.0, t_end])
    x_t = torchsde.sdeint(_ForwardSDE(process), x0, ts, method="euler", dt=t_end / 400)[-1]
    expected_mean = process.mean_scale(torch.tensor(t_end)) * 1.5
    expected_std = process.marginal_std(torch.tensor(t_end))
    assert torch.allclose(x_t.mean(0), expected_mean.expand(2), atol=4 * expected_std / 100 + 0.01)
    assert torch.allclose(x_t.std(0), expected_std.expand(2), rtol=0.03)


@pytest.mark.parametrize("process", PROCESSES, ids=IDS)
def test_perturb_returns_kernel_score(process):
    generator = torch.Generator().manual_seed(1)
    x0 = torch.randn(5, 2, generator=generator)
    t = torch.rand(5, generator=generator) * process.t_max + process.t_min
    noise = torch.randn(5, 2, generator=generator)
    x_t, score = process.perturb(x0, t, noise)
    std = process.marginal_std(t)[:, None]
    mean = process.mean_scale(t)[:, None] * x0
    assert torch.allclose(score, -(x_t - mean) / std**2, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("process", PROCESSES, ids=IDS)
def test_prior_matches_marginal_at_t_max(process):
    """At T the kernel's spread equals the prior the samplers start from; OU and VP also forget
    x0 (VE keeps it, relying on sigma_max being much larger than the data)."""
    t = torch.tensor(process.t_max)
    assert math.isclose(float(process.marginal_std(t)), process.prior_std, rel_tol=0.01)
    if not isinstance(process, VarianceExploding):
        assert float(process.mean_scale(t)) < 0.01


def test_ve_diffusion_is_the_derivative_of_the_kernel_variance():
    """g(t)^2 = d s(t)^2 / dt, for any t_max."""
    for process in (VarianceExploding(), VarianceExploding(t_max=10.0)):
        t = torch.linspace(0.1, 0.9, 5, dtype=torch.float64) * process.t_max
        h = 1e-6 * process.t_max
        derivative = (process.marginal_std(t + h) ** 2 - process.marginal_std(t - h) ** 2) / (2 * h)
        assert torch.allclose(process.diffusion(t) ** 2, derivative, rtol=1e-5)
