"""The FP residual against analytic cases: it vanishes on exact log-densities, it is the
time derivative of a time-only shift, and its split into parts is exact."""

import pytest
import torch

from odesdegap.diffusion.processes import OrnsteinUhlenbeck, VarianceExploding, VariancePreserving
from odesdegap.diffusion.residual import (
    CollocationSampler,
    fp_residual,
    residual_penalty,
    split_residual,
)
from odesdegap.models import GaussianPotential, PotentialMLP

PROCESSES = [OrnsteinUhlenbeck(), VariancePreserving(), VarianceExploding(sigma_max=3.0)]


def _box(dim, collocation_points, points_per_time, box_half_width):
    """Collocation points uniform on the box at uniform times (the paper's)."""
    return CollocationSampler(dim=dim, collocation_points=collocation_points,
                              points_per_time=points_per_time, box_half_width=box_half_width,
                              time_distribution="uniform", noised_fraction=0.0, data=None)


def _penalty(points_per_time, form, hutchinson_probes=0, generator=None, weighting="none"):
    """residual_penalty's keyword arguments: the exact Laplacian by autograd (the reference)
    and no time weighting unless asked."""
    return dict(points_per_time=points_per_time, form=form, hutchinson_probes=hutchinson_probes,
                generator=generator, weighting=weighting, derivatives="autograd")


def _collocation(process, n=512, dim=2, seed=0):
    sampler = _box(dim, n, 32, 3.0)
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
    model = PotentialMLP(2, hidden_width=16, hidden_layers=3, softplus_beta=100.0,
                         gaussian_baseline=False)
    x, t = _collocation(process, n=64)
    centred = residual_penalty(model, process, x, t, **_penalty(32, "centred"))
    full = residual_penalty(model, process, x, t, **_penalty(32, "full"))
    assert torch.isclose(centred["penalty"], centred["centred"])
    assert torch.isclose(full["penalty"], full["total"])
    centred["penalty"].backward()
    # The output bias shifts phi by a constant, which no derivative sees: it gets no gradient.
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert len(grads) == len(list(model.parameters())) - 1
    assert all(torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)


def _probe_generator(seed=1):
    return torch.Generator().manual_seed(seed)


def test_hutchinson_is_exact_for_a_diagonal_hessian():
    """v^T H v = tr H for every +-1 probe when H is diagonal, as for the exact Gaussian model."""
    process = OrnsteinUhlenbeck()
    model = GaussianPotential(process, mean=[0.5, -0.5, 0.2], std=0.4).double()
    x, t = _collocation(process, dim=3)
    exact = fp_residual(model, process, x.double(), t.double(), create_graph=False)
    estimate = fp_residual(model, process, x.double(), t.double(), create_graph=False,
                           hutchinson_probes=1, generator=_probe_generator())
    assert torch.allclose(estimate, exact, atol=1e-10)


def test_hutchinson_is_unbiased_for_a_quadratic_potential():
    """phi = -x^T A x / 2 with a full A: v^T H v = -tr A - sum_{i != j} A_ij v_i v_j, whose
    variance is 2 sum_{i != j} A_ij^2; the probe average must sit within a few standard errors
    of the exact residual, at every point."""
    process = OrnsteinUhlenbeck()
    generator = torch.Generator().manual_seed(0)
    root = torch.randn(4, 4, generator=generator, dtype=torch.float64)
    matrix = root @ root.T / 4 + torch.eye(4, dtype=torch.float64)

    class Quadratic(torch.nn.Module):
        def potential(self, x, t):
            return -0.5 * ((x @ matrix) * x).sum(1) + 0 * t

    x, t = _collocation(process, n=64, dim=4)
    x, t = x.double(), t.double()
    exact = fp_residual(Quadratic(), process, x, t, create_graph=False)
    probes = 400
    estimate = fp_residual(Quadratic(), process, x, t, create_graph=False,
                           hutchinson_probes=probes, generator=_probe_generator())
    off_diagonal = matrix - torch.diag(torch.diag(matrix))
    probe_std = torch.sqrt(2 * (off_diagonal**2).sum())
    g_squared = process.diffusion(t) ** 2
    standard_error = 0.5 * g_squared * probe_std / probes**0.5
    assert ((estimate - exact).abs() < 4 * standard_error).all()
    assert (estimate != exact).any()  # the probes do vary: this is not the exact path
    # and the error is centred: its mean over points shrinks like 1/sqrt(points)
    assert (estimate - exact).mean().abs() < 4 * standard_error.mean() / len(x) ** 0.5


def test_hutchinson_agrees_with_exact_residual_of_an_mlp():
    torch.manual_seed(0)
    process = OrnsteinUhlenbeck()
    model = PotentialMLP(2, hidden_width=16, softplus_beta=1.0, hidden_layers=3,
                         gaussian_baseline=False).double()
    # larger weights than the default init: a curved potential with a far-from-diagonal Hessian
    torch.nn.init.normal_(model.network[0].weight, std=1.5)
    torch.nn.init.normal_(model.network[-1].weight, std=1.0)
    x, t = _collocation(process, n=64)
    x, t = x.double(), t.double()
    exact = fp_residual(model, process, x, t, create_graph=False)
    few = fp_residual(model, process, x, t, create_graph=False, hutchinson_probes=1,
                      generator=_probe_generator())
    many = fp_residual(model, process, x, t, create_graph=False, hutchinson_probes=200,
                       generator=_probe_generator())
    error_few, error_many = (few - exact).abs().mean(), (many - exact).abs().mean()
    assert error_few > 0.01  # one probe is noticeably off ...
    assert error_many < 0.2 * error_few  # ... 200 shrink the error about sqrt(200)-fold ...
    assert (many - exact).abs().max() < 0.1  # ... everywhere (|R| is about 2 here)


def test_hutchinson_residual_is_seeded_and_differentiable():
    torch.manual_seed(0)
    process = OrnsteinUhlenbeck()
    model = PotentialMLP(2, hidden_width=16, hidden_layers=3, softplus_beta=100.0,
                         gaussian_baseline=False)
    x, t = _collocation(process, n=64)
    first, second = (residual_penalty(model, process, x, t,
                                      **_penalty(32, "centred", hutchinson_probes=2,
                                                 generator=_probe_generator(7))) for _ in range(2))
    assert torch.equal(first["penalty"], second["penalty"])
    first["penalty"].backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert len(grads) == len(list(model.parameters())) - 1
    assert all(torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)


def test_gaussian_baseline_alone_is_an_exact_solution():
    """With the network's output layer zeroed, the potential is the baseline's exact Gaussian
    log-density, fitted to the data: its residual vanishes."""
    process = OrnsteinUhlenbeck()
    model = PotentialMLP(2, hidden_width=8, gaussian_baseline=True, process=process,
                         hidden_layers=3, softplus_beta=100.0)
    data = torch.randn(4000, 2, generator=torch.Generator().manual_seed(0)) * 0.7 + 0.4
    model.fit_baseline(data)
    assert torch.allclose(model.baseline.mean, torch.full((2,), 0.4), atol=0.05)
    with torch.no_grad():
        model.network[-1].weight.zero_()
    x, t = _collocation(process)
    assert fp_residual(model, process, x, t, create_graph=False).abs().max() < 1e-3


def test_variance_weighting_scales_each_time_by_its_std_squared():
    torch.manual_seed(0)
    process = OrnsteinUhlenbeck()
    model = PotentialMLP(3, hidden_width=16, hidden_layers=2, softplus_beta=10.0,
                         gaussian_baseline=False)
    x = torch.randn(8, 3)
    t = torch.tensor([1e-3, 1e-3, 1e-3, 1e-3, 2.0, 2.0, 2.0, 2.0])
    plain = residual_penalty(model, process, x, t, **_penalty(4, "full"))
    weighted = residual_penalty(model, process, x, t,
                                **_penalty(4, "full", weighting="variance"))
    residual = fp_residual(model, process, x, t, create_graph=False)
    expected = ((residual * process.marginal_std(t) ** 2) ** 2).mean()
    torch.testing.assert_close(weighted["total"].detach(), expected)
    assert weighted["total"] < plain["total"]
    with pytest.raises(ValueError, match="residual weighting must be one of"):
        residual_penalty(model, process, x, t, **_penalty(4, "full", weighting="sigma"))


def test_one_point_per_time_is_the_papers_collocation():
    """points_per_time 1 with the full form: every collocation point gets its own uniform time
    in [t_min, t_max] and its own uniform position in the box, and the penalty is mean R^2."""
    process = OrnsteinUhlenbeck()
    sampler = _box(2, 500, 1, 3.5)
    x, t = sampler.sample(process, torch.Generator().manual_seed(0))
    assert x.shape == (500, 2) and t.shape == (500,)
    assert len(torch.unique(t)) == 500
    assert float(t.min()) >= process.t_min and float(t.max()) <= process.t_max
    assert float(x.abs().max()) <= 3.5
    torch.manual_seed(0)
    model = PotentialMLP(2, hidden_width=8, hidden_layers=3, softplus_beta=100.0,
                         gaussian_baseline=False)
    parts = residual_penalty(model, process, x, t, **_penalty(1, "full"))
    residual = fp_residual(model, process, x, t)
    assert torch.allclose(parts["penalty"], (residual**2).mean())
