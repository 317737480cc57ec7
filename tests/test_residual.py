"""The FP residual against analytic cases: it vanishes on exact log-densities, it is the
time derivative of a time-only shift, and its split into parts is exact."""

import pytest
import torch

from odesdegap.models import GaussianPotential, PotentialMLP
from odesdegap.processes import OrnsteinUhlenbeck, VarianceExploding, VariancePreserving
from odesdegap.residual import CollocationSampler, fp_residual, residual_penalty, split_residual

PROCESSES = [OrnsteinUhlenbeck(), VariancePreserving(), VarianceExploding(sigma_max=3.0)]


def _collocation(process, n=512, dim=2, seed=0):
    sampler = CollocationSampler(dim, n, points_per_time=32, half_width=3.0)
    return sampler.sample(process, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: type(p).__name__)
@pytest.mark.parametrize("dim", [1, 2, 3])
def test_exact_log_density_has_zero_residual(process, dim):
    model = GaussianPotential(process, mean=torch.linspace(-1, 1, dim), std=0.4).double()
    x, t = _collocation(process, dim=dim)
    residual = fp_residual(model, process, x.double(), t.double(), create_graph=False)
    assert residual.abs().max() < 1e-6


def test_wrong_density_has_nonzero_residual():
    """N(0, I) frozen in time is not the OU's stationary N(0, I/2): it violates the FP equation."""
    process = OrnsteinUhlenbeck()

    class FrozenGaussian(torch.nn.Module):
        def potential(self, x, t):
            return -0.5 * (x**2).sum(1) + 0 * t

    x, t = _collocation(process)
    assert fp_residual(FrozenGaussian(), process, x, t, create_graph=False).abs().mean() > 0.5


def test_ou_residual_matches_hand_derivation():
    """For phi = -|x|^2 / 2 + c t under OU in d = 2: R = c - 2 + |x|^2 - (-2 + |x|^2)/2."""
    process = OrnsteinUhlenbeck()

    class Quadratic(torch.nn.Module):
        def potential(self, x, t):
            return -0.5 * (x**2).sum(1) + 0.3 * t

    x, t = _collocation(process)
    expected = 0.3 - 2 + (x**2).sum(1) - 0.5 * (-2 + (x**2).sum(1))
    residual = fp_residual(Quadratic(), process, x, t, create_graph=False)
    assert torch.allclose(residual, expected, atol=1e-5)


def test_time_only_shift_lands_in_time_only_part():
    """phi + c(t) keeps the score; the extra residual c'(t) is all time-only."""
    process = OrnsteinUhlenbeck()
    exact = GaussianPotential(process, mean=[0.5, -0.5], std=0.3).double()

    class Shifted(torch.nn.Module):
        def potential(self, x, t):
            return exact.potential(x, t) + torch.sin(t)

    x, t = _collocation(process)
    parts = split_residual(fp_residual(Shifted(), process, x.double(), t.double(),
                                       create_graph=False), points_per_time=32)
    assert parts["centred"] < 1e-10
    assert torch.isclose(parts["time_only"], (torch.cos(t.double()) ** 2).mean(), rtol=1e-6)
    assert torch.isclose(parts["total"], parts["time_only"] + parts["centred"], rtol=1e-6)


def test_penalty_is_differentiable_and_picks_the_form():
    torch.manual_seed(0)
    process = OrnsteinUhlenbeck()
    model = PotentialMLP(2, hidden_width=16)
    x, t = _collocation(process, n=64)
    centred = residual_penalty(model, process, x, t, 32, "centred")
    full = residual_penalty(model, process, x, t, 32, "full")
    assert torch.isclose(centred["penalty"], centred["centred"])
    assert torch.isclose(full["penalty"], full["total"])
    centred["penalty"].backward()
    # The output bias shifts phi by a constant, which no derivative sees: it gets no gradient.
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert len(grads) == len(list(model.parameters())) - 1
    assert all(torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)
