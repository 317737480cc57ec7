"""The score FP residual and the vector score model: R_s vanishes on exact scores, matches a
hand derivation, equals grad_x of the log-density residual for a potential's score, its
Hutchinson form is unbiased, and a VectorScoreMLP trains with it."""

import copy

import pytest
import torch

from odesdegap.data.datasets import sample_dataset
from odesdegap.diffusion.losses import draw_dsm_batch, dsm_loss
from odesdegap.diffusion.processes import OrnsteinUhlenbeck, VarianceExploding, VariancePreserving
from odesdegap.diffusion.residual import CollocationSampler, fp_residual
from odesdegap.diffusion.score_residual import (
    score_fp_residual,
    score_residual_penalty,
    time_derivative,
)
from odesdegap.models import (
    MODEL_KINDS,
    GaussianPotential,
    PotentialMLP,
    VectorScoreMLP,
    build_model,
)

PROCESSES = [OrnsteinUhlenbeck(), VariancePreserving(), VarianceExploding(sigma_max=3.0)]

# score_residual_penalty with the exact divergence and no time weighting
EXACT = dict(hutchinson_probes=0, generator=None, weighting="none")


def _box(dim, collocation_points, points_per_time, box_half_width):
    """Collocation points uniform on the box at uniform times (the paper's)."""
    return CollocationSampler(dim=dim, collocation_points=collocation_points,
                              points_per_time=points_per_time, box_half_width=box_half_width,
                              time_distribution="uniform", noised_fraction=0.0, data=None)


def _collocation(process, n=256, dim=2, seed=0, points_per_time=32):
    sampler = _box(dim, n, points_per_time, 3.0)
    return sampler.sample(process, torch.Generator().manual_seed(seed))


class ScoreOnly(torch.nn.Module):
    """Exposes only another model's score, so nothing can reach its potential."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def score(self, x, t, create_graph=False):
        return self.model.score(x, t, create_graph=create_graph)


class LinearScore(torch.nn.Module):
    """s(x, t) = -(a + b t) x."""

    def __init__(self, a, b):
        super().__init__()
        self.a, self.b = a, b

    def score(self, x, t, create_graph=False):
        return -(self.a + self.b * t)[:, None] * x


class ShiftedProcess:
    """`process` with its drift read at x + shift: R(x; shift) = R(x + shift), so d/d shift at
    shift = 0 is grad_x R even though fp_residual detaches its own x."""

    def __init__(self, process, shift):
        self.process, self.shift = process, shift

    def drift(self, x, t):
        return self.process.drift(x + self.shift, t)

    def drift_divergence(self, x, t):
        return self.process.drift_divergence(x + self.shift, t)

    def diffusion(self, t):
        return self.process.diffusion(t)


class ShiftedPotential(torch.nn.Module):
    def __init__(self, model, shift):
        super().__init__()
        self.model, self.shift = model, shift

    def potential(self, x, t):
        return self.model.potential(x + self.shift, t)


def _small_vector_mlp(dim, seed=0):
    torch.manual_seed(seed)
    return VectorScoreMLP(dim, hidden_width=16, hidden_layers=2, softplus_beta=5.0,
                          gaussian_baseline=False).double()


# --- the model ----------------------------------------------------------------------------------
def test_vector_mlp_shapes_and_time_broadcast():
    model = VectorScoreMLP(3, hidden_width=8, hidden_layers=2, softplus_beta=100.0,
                           gaussian_baseline=False)
    x = torch.randn(5, 3)
    assert model.score(x, torch.full((5,), 0.3)).shape == (5, 3)
    assert torch.equal(model.score(x, torch.tensor(0.3)), model.score(x, torch.full((5,), 0.3)))
    assert not hasattr(model, "potential")


def test_vector_mlp_is_registered_and_built_like_the_potential():
    assert MODEL_KINDS["vector_mlp"][1] == MODEL_KINDS["potential_mlp"][1]
    settings = {"kind": "vector_mlp", "hidden_width": 8, "hidden_layers": 2,
                "softplus_beta": 100.0, "gaussian_baseline": False}
    model = build_model(settings, dim=2, process=OrnsteinUhlenbeck())
    assert isinstance(model, VectorScoreMLP)
    model.fit_baseline(torch.randn(10, 2))  # a no-op, for callers that treat models alike
    with pytest.raises(ValueError, match="baseline"):
        build_model({**settings, "gaussian_baseline": True}, dim=2, process=OrnsteinUhlenbeck())


# --- analytic cases -----------------------------------------------------------------------------
@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: type(p).__name__)
@pytest.mark.parametrize("dim", [1, 2, 3])
def test_exact_score_has_zero_residual(process, dim):
    exact = GaussianPotential(process, mean=torch.linspace(-1, 1, dim), std=0.4).double()
    x, t = _collocation(process, dim=dim)
    residual = score_fp_residual(ScoreOnly(exact), process, x.double(), t.double(),
                                 create_graph=False)
    assert residual.shape == (len(x), dim)
    assert residual.abs().max() < 1e-6


def test_wrong_score_has_nonzero_residual():
    """The score of N(0, I), frozen in time, is not that of the OU's stationary N(0, I/2)."""
    process = OrnsteinUhlenbeck()
    x, t = _collocation(process)
    residual = score_fp_residual(LinearScore(1.0, 0.0), process, x, t, create_graph=False)
    assert residual.abs().mean() > 0.5


@pytest.mark.parametrize("a, b", [(1.0, 0.0), (2.0, 0.0), (0.5, 1.5)])
def test_ou_residual_matches_hand_derivation(a, b):
    """s = -c(t) x, c = a + b t, under OU in d = 2: div s = -2c, |s|^2 = c^2 |x|^2, f.s = c |x|^2,
    div f = -2, so grad_x[...] = (c^2 - 2c) x and R_s = -b x - (c^2 - 2c) x. For s = -x that is
    R_s = x; for the stationary score -2x it is 0."""
    process = OrnsteinUhlenbeck()
    x, t = _collocation(process)
    c = (a + b * t)[:, None]
    expected = -b * x - (c**2 - 2 * c) * x
    residual = score_fp_residual(LinearScore(a, b), process, x, t, create_graph=False)
    assert torch.allclose(residual, expected, atol=1e-5)


@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: type(p).__name__)
def test_equals_gradient_of_log_density_residual(process):
    """For s = grad phi, R_s = grad_x R: ties score_fp_residual to residual.fp_residual."""
    torch.manual_seed(0)
    potential = PotentialMLP(2, hidden_width=16, hidden_layers=2, softplus_beta=5.0,
                             gaussian_baseline=False).double()
    x, t = _collocation(process, n=64)
    x, t = x.double(), t.double()
    shift = torch.zeros_like(x, requires_grad=True)
    residual = fp_residual(ShiftedPotential(potential, shift), ShiftedProcess(process, shift),
                           x, t, create_graph=True)
    (grad_residual,) = torch.autograd.grad(residual.sum(), shift)
    score_residual = score_fp_residual(potential, process, x, t, create_graph=False)
    assert grad_residual.abs().max() > 1e-3  # not a trivial zero
    torch.testing.assert_close(score_residual, grad_residual, rtol=1e-8, atol=1e-8)


def test_time_derivative_matches_finite_difference():
    model = _small_vector_mlp(3)
    x = torch.randn(10, 3, dtype=torch.float64)
    t = torch.rand(10, dtype=torch.float64).requires_grad_(True)
    exact = time_derivative(model.score(x, t), t)
    h = 1e-6
    finite = (model.score(x, t.detach() + h) - model.score(x, t.detach() - h)) / (2 * h)
    torch.testing.assert_close(exact, finite, rtol=1e-6, atol=1e-7)


# --- Hutchinson ---------------------------------------------------------------------------------
def test_hutchinson_residual_is_unbiased():
    """Averaged over independent probes, the Hutchinson R_s tends to the exact one in d = 3 (the
    network's Jacobian is not diagonal, so single probes are genuinely noisy)."""
    model = _small_vector_mlp(3)
    process = OrnsteinUhlenbeck()
    x, t = _collocation(process, n=8, dim=3, points_per_time=8)
    x, t = x.double(), t.double()
    exact = score_fp_residual(model, process, x, t, create_graph=False)
    generator = torch.Generator().manual_seed(1)
    draws = torch.stack([
        score_fp_residual(model, process, x, t, create_graph=False, hutchinson_probes=20,
                          generator=generator)
        for _ in range(50)
    ])
    assert (draws[0] - exact).abs().max() > 1e-4  # the estimate is random, not exact
    standard_error = draws.std(dim=0) / len(draws) ** 0.5
    assert ((draws.mean(dim=0) - exact).abs() <= 5 * standard_error + 1e-10).all()


def test_hutchinson_is_reproducible_from_the_generator():
    model = _small_vector_mlp(2)
    process = VariancePreserving()
    x, t = _collocation(process, n=16, points_per_time=8)
    first, second = (
        score_fp_residual(model, process, x.double(), t.double(), create_graph=False,
                          hutchinson_probes=2, generator=torch.Generator().manual_seed(3))
        for _ in range(2)
    )
    assert torch.equal(first, second)


# --- training -----------------------------------------------------------------------------------
def test_penalty_is_mean_squared_norm_and_reaches_every_weight():
    model = _small_vector_mlp(2)
    process = OrnsteinUhlenbeck()
    x, t = _collocation(process, n=32)
    x, t = x.double(), t.double()
    parts = score_residual_penalty(model, process, x, t, **EXACT)
    residual = score_fp_residual(model, process, x, t, create_graph=False)
    torch.testing.assert_close(parts["total"].detach(), (residual**2).mean())
    assert parts["penalty"] is parts["total"]
    parts["penalty"].backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def _train_vector_mlp(model, process, data, steps, weight, generator):
    """Adam on DSM + weight * score-residual penalty; returns the gradients of the first step."""
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    collocation = _box(2, 64, 16, 3.0)
    first_gradients = None
    for _ in range(steps):
        x0, t, noise = draw_dsm_batch(data, 128, process, generator)
        x_col, t_col = collocation.sample(process, generator)
        loss = dsm_loss(model, process, x0, t, noise)
        if weight > 0:
            loss = loss + weight * score_residual_penalty(model, process, x_col, t_col,
                                                        **EXACT)["penalty"]
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        if first_gradients is None:
            first_gradients = {name: p.grad.clone() for name, p in model.named_parameters()
                               if p.grad is not None}
        optimiser.step()
    return first_gradients


@pytest.mark.slow
def test_vector_mlp_trains_with_dsm_and_score_residual():
    """From a DSM warm start (a fresh, near-constant network has R_s ~ 0, and DSM alone then
    raises it), a few hundred steps of DSM + w * penalty reduce both losses, and end well below
    the residual of the same steps without the penalty; the combined loss reaches every weight."""
    process = OrnsteinUhlenbeck(t_max=3.0)
    data = torch.as_tensor(sample_dataset("mixture", 2000, 0))
    held_out = torch.Generator().manual_seed(123)
    eval_dsm = draw_dsm_batch(data, 2048, process, held_out)
    eval_x, eval_t = _box(2, 512, 32, 3.0).sample(
        process, held_out)

    def evaluate(model):
        dsm = dsm_loss(model, process, *eval_dsm, create_graph=False).item()
        penalty = score_residual_penalty(model, process, eval_x, eval_t, **EXACT)["total"].item()
        return dsm, penalty

    torch.manual_seed(0)
    model = VectorScoreMLP(2, hidden_width=32, hidden_layers=2, softplus_beta=10.0,
                           gaussian_baseline=False)
    dsm_init, _ = evaluate(model)
    generator = torch.Generator().manual_seed(0)
    _train_vector_mlp(model, process, data, 150, 0.0, generator)
    dsm_warm, penalty_warm = evaluate(model)
    twin, twin_generator = copy.deepcopy(model), copy.deepcopy(generator)

    gradients = _train_vector_mlp(model, process, data, 150, 0.2, generator)
    dsm_after, penalty_after = evaluate(model)
    _train_vector_mlp(twin, process, data, 150, 0.0, twin_generator)
    _, penalty_unregularised = evaluate(twin)

    assert set(gradients) == {name for name, _ in model.named_parameters()}
    assert all(g.abs().sum() > 0 for g in gradients.values())
    assert dsm_warm < 0.9 * dsm_init
    assert dsm_after < dsm_warm
    assert penalty_after < 0.25 * penalty_warm
    assert penalty_after < 0.5 * penalty_unregularised


def test_variance_weighting_of_the_score_residual_uses_std_cubed():
    torch.manual_seed(0)
    process = OrnsteinUhlenbeck()
    model = VectorScoreMLP(2, hidden_width=16, hidden_layers=2, softplus_beta=10.0,
                           gaussian_baseline=False)
    x, t = torch.randn(6, 2), torch.tensor([1e-3, 1e-3, 0.5, 0.5, 3.0, 3.0])
    residual = score_fp_residual(model, process, x, t, create_graph=False)
    weighted = score_residual_penalty(model, process, x, t,
                                      **{**EXACT, "weighting": "variance"})
    expected = ((residual * process.marginal_std(t)[:, None] ** 3) ** 2).mean()
    torch.testing.assert_close(weighted["total"].detach(), expected)
