"""ODE likelihood against closed forms: under the exact score of Gaussian data the probability
flow carries the data density exactly, so the NLL of held-out points is the Gaussian's own
-log N(x; mean, cov) averaged over the same points (up to t_min > 0 and the prior mismatch at
t_max, both far below the tolerances)."""

import numpy as np
import pytest
import torch

from odesdegap.config import from_schema_defaults
from odesdegap.diffusion.likelihood import ode_log_likelihood, ode_nll
from odesdegap.diffusion.processes import OrnsteinUhlenbeck, VariancePreserving
from odesdegap.engine import REFERENCE
from odesdegap.models import GaussianPotential, PotentialMLP
from odesdegap.settings import NllSettings

CPU = torch.device("cpu")
OU = OrnsteinUhlenbeck()


def _nll(**changes) -> NllSettings:
    """The schema's evaluation.nll settings with `changes`."""
    return from_schema_defaults(NllSettings, "evaluation.nll", **changes)


def _gaussian_nll(x, mean, cov):
    centred = x - mean
    quadratic = np.einsum("ni,ij,nj->n", centred, np.linalg.inv(cov), centred)
    return 0.5 * (quadratic + np.linalg.slogdet(2 * np.pi * cov)[1])


def _isotropic_case(dim, n=400, seed=0):
    mean, std = np.linspace(-1.0, 1.0, dim), 0.5
    x = mean + std * np.random.default_rng(seed).standard_normal((n, dim))
    return x, mean, std, _gaussian_nll(x, mean, std**2 * np.eye(dim))


class CorrelatedGaussianPotential(torch.nn.Module):
    """Exact log-density of data N(mean, Q diag(std^2) Q^T) under a process: the axis-aligned
    GaussianPotential in the rotated coordinates Q^T x (a rotation has unit Jacobian). Its
    velocity Jacobian is not diagonal, so Hutchinson's estimate is genuinely noisy here."""

    score = PotentialMLP.score

    def __init__(self, process, rotation, mean, std):
        super().__init__()
        self.register_buffer("rotation", rotation)
        self.aligned = GaussianPotential(process, mean @ rotation, std)

    def potential(self, x, t):
        return self.aligned.potential(x @ self.rotation, t)


def _correlated_case(dim=4, n=400):
    rng = np.random.default_rng(1)
    rotation = np.linalg.qr(rng.standard_normal((dim, dim)))[0]
    mean, std = rng.uniform(-1, 1, dim), np.linspace(0.3, 0.9, dim)
    cov = rotation @ np.diag(std**2) @ rotation.T
    x = rng.multivariate_normal(mean, cov, size=n)
    model = CorrelatedGaussianPotential(OU, *(torch.as_tensor(v) for v in (rotation, mean, std)))
    return x, model.double(), _gaussian_nll(x, mean, cov)


@pytest.mark.parametrize("process", [OU, VariancePreserving()], ids=["ou", "vp"])
def test_exact_score_nll_matches_the_gaussian_in_2d(process):
    x, mean, std, analytic = _isotropic_case(2)
    model = GaussianPotential(process, mean, std).double()
    result = ode_nll(model, process, x, _nll(steps=100), seed=0, device=CPU, engine=REFERENCE)
    assert result["nll_nats"] == pytest.approx(analytic.mean(), abs=2e-3)
    assert result["nll_nats_per_dim"] == pytest.approx(result["nll_nats"] / 2)
    assert result["nfe"] == 4 * 100  # rk4: four velocity evaluations a step
    assert result["nll_nats_std_error"] == pytest.approx(analytic.std() / 20, rel=0.05)


def test_per_point_log_likelihood_and_adaptive_solver():
    x, mean, std, analytic = _isotropic_case(2, n=100)
    model = GaussianPotential(OU, mean, std).double()
    for settings in (_nll(steps=100), _nll(method="dopri5")):
        log_likelihood, nfe = ode_log_likelihood(model, OU, x, settings, seed=0, device=CPU,
                                                 engine=REFERENCE)
        assert log_likelihood.dtype == torch.float64 and log_likelihood.shape == (100,)
        assert np.allclose(-log_likelihood.numpy(), analytic, atol=1e-3)
        assert nfe > 0


def test_float32_data_and_chunks():
    x, mean, std, analytic = _isotropic_case(2, n=100)
    model = GaussianPotential(OU, mean, std)
    whole = ode_nll(model, OU, x.astype(np.float32), _nll(steps=50), seed=0, device=CPU,
                    engine=REFERENCE)
    chunked = ode_nll(model, OU, x.astype(np.float32), _nll(steps=50), seed=0, device=CPU,
                      chunk_size=30, engine=REFERENCE)
    assert whole["nll_nats"] == pytest.approx(analytic.mean(), abs=2e-3)
    assert chunked["nll_nats"] == pytest.approx(whole["nll_nats"], abs=1e-5)


def test_exact_divergence_nll_of_a_correlated_gaussian():
    x, model, analytic = _correlated_case()
    result = ode_nll(model, OU, x, _nll(steps=100), seed=0, device=CPU, engine=REFERENCE)
    assert result["nll_nats"] == pytest.approx(analytic.mean(), abs=2e-3)


@pytest.mark.slow
def test_hutchinson_agrees_with_exact_divergence_in_expectation():
    """Forced on in d = 4 (threshold 0): per point the estimate is noisy, but the noise has mean
    zero over points, and the probes are seeded and independent of the chunk size."""
    x, model, analytic = _correlated_case()
    exact, _ = ode_log_likelihood(model, OU, x, _nll(steps=100), 0, CPU, engine=REFERENCE)
    hutchinson = _nll(steps=100, exact_divergence_max_dim=0, hutchinson_probes=1)
    estimate, _ = ode_log_likelihood(model, OU, x, hutchinson, 0, CPU, engine=REFERENCE)
    error = (estimate - exact).numpy()
    assert error.std() > 0.01  # the probes do add noise: this is not the exact path
    assert abs(error.mean()) < 4 * error.std() / np.sqrt(len(error))
    assert -estimate.mean().item() == pytest.approx(analytic.mean(), abs=4 * error.std() / 20)

    more_probes = _nll(steps=100, exact_divergence_max_dim=0, hutchinson_probes=8)
    averaged, _ = ode_log_likelihood(model, OU, x, more_probes, 0, CPU, engine=REFERENCE)
    assert (averaged - exact).std() < 0.5 * error.std()

    chunked = _nll(steps=100, exact_divergence_max_dim=0)
    assert torch.allclose(ode_log_likelihood(model, OU, x, chunked, 0, CPU, chunk_size=64,
                                             engine=REFERENCE)[0],
                          estimate)
    assert not torch.allclose(ode_log_likelihood(model, OU, x, hutchinson, 1, CPU,
                                                 engine=REFERENCE)[0], estimate)


def test_hutchinson_is_the_default_above_the_threshold():
    torch.manual_seed(0)
    dim = 10
    model = PotentialMLP(dim, hidden_width=16, gaussian_baseline=True, process=OU, hidden_layers=3,
                         softplus_beta=100.0)
    x = np.random.default_rng(0).standard_normal((32, dim)).astype(np.float32)
    settings = _nll(steps=10)
    first, second = (ode_nll(model, OU, x, settings, seed=3, device=CPU,
                             engine=REFERENCE) for _ in range(2))
    assert np.isfinite(first["nll_nats"]) and first["nll_nats"] == second["nll_nats"]
    assert first["nll_nats"] != ode_nll(model, OU, x, settings, seed=4, device=CPU,
                                        engine=REFERENCE)["nll_nats"]
    exact = ode_nll(model, OU, x, _nll(steps=10, exact_divergence_max_dim=dim), seed=0,
                    device=CPU, engine=REFERENCE)
    assert exact["nll_nats"] == pytest.approx(first["nll_nats"], abs=0.3)  # ~14 nats


def _schema_nll_settings(**overrides) -> NllSettings:
    """The NLL settings a default run uses: the schema's defaults, as evaluate.py passes them."""
    from odesdegap.config_checks import checked

    nll = checked({"datasets": ["mixture"], "fp_weights": [0.0], "seeds": [0]})[
        "evaluation"]["nll"]
    return NllSettings.from_config({**nll, **overrides}, "evaluation.nll")


@pytest.mark.parametrize("std", [0.03, 0.1, 0.15, 0.2])
def test_default_nll_is_accurate_for_narrow_data(std):
    """At the defaults the exact score's NLL is within 1e-3 nats of the truth even where the
    data's std is small: 50 uniform RK4 steps over [1e-5, 10] (a first step 0.2 long) were
    15.4 nats too low at std 0.03, 0.51 at 0.1, 0.086 at 0.15 and 0.015 at 0.2."""
    mean = np.array([0.3, -0.2])
    x = (mean + std * np.random.default_rng(0).standard_normal((200, 2))).astype(np.float32)
    analytic = _gaussian_nll(x.astype(np.float64), mean, std**2 * np.eye(2)).mean()
    settings = _schema_nll_settings()
    result = ode_nll(GaussianPotential(OU, mean, std), OU, x, settings, seed=0, device=CPU,
                     engine=REFERENCE)
    assert abs(result["nll_nats"] - analytic) < 1e-3
    assert result["nfe"] == 4 * settings.steps  # no more work than the old default


@pytest.mark.slow
def test_uniform_spacing_is_still_available_and_refinable():
    mean, std = np.array([0.3, -0.2]), 0.1
    x = (mean + std * np.random.default_rng(0).standard_normal((100, 2))).astype(np.float32)
    analytic = _gaussian_nll(x.astype(np.float64), mean, std**2 * np.eye(2)).mean()
    model = GaussianPotential(OU, mean, std)
    coarse = ode_nll(model, OU, x, _schema_nll_settings(spacing="uniform"), seed=0, device=CPU,
                     engine=REFERENCE)
    refined = ode_nll(model, OU, x, _schema_nll_settings(spacing="uniform", refine_first=2,
                                                          refine_factor=50), seed=0, device=CPU,
                                                          engine=REFERENCE)
    assert analytic - coarse["nll_nats"] > 0.1  # the bias the log spacing removes
    assert abs(refined["nll_nats"] - analytic) < 1e-3
    with pytest.raises(ValueError, match="spacing must be one of"):
        ode_nll(model, OU, x, _schema_nll_settings(spacing="cosine"), seed=0, device=CPU,
                engine=REFERENCE)
