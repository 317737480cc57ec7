"""Fast solvers in the EDM variables, on the exact Gaussian lane: the change of variables, each
solver's order of convergence against the closed-form solution, NFE counted against the
documented formula, reproducibility, and the float32 path.

For data N(m, v) (per coordinate) the scaled marginal is N(m, v + sigma~^2), the denoiser is
D = m + v / (v + sigma~^2) (x~ - m), and the probability-flow ODE keeps (x~ - m) / sqrt(v +
sigma~^2) constant: the exact ODE map is closed form. The SDE family member with noise scale
eta (k = eta^2) moves the mean and variance in closed form too (see _exact_sde_moments)."""

import math

import numpy as np
import pytest
import torch

from odesdegap.diffusion.edm import EDMView
from odesdegap.diffusion.fast_solvers import FAST_SOLVERS, solve
from odesdegap.diffusion.processes import (
    ForwardProcess,
    OrnsteinUhlenbeck,
    VarianceExploding,
    VariancePreserving,
)
from odesdegap.diffusion.samplers import CountingScore
from odesdegap.diffusion.solvers import SOLVERS
from odesdegap.models import GaussianPotential

# exact in float32: GaussianPotential stores its parameters in float32
MEAN = torch.tensor([1.0, -0.5, 2.0], dtype=torch.float64)
STD = torch.tensor([0.5, 0.25, 1.0], dtype=torch.float64)
PROCESSES = {"ou": OrnsteinUhlenbeck(), "vp": VariancePreserving(), "ve": VarianceExploding()}
FIXED_STEP = [name for name, solver in FAST_SOLVERS.items() if not solver.adaptive]


def _model(process, dtype=torch.float64):
    return GaussianPotential(process, MEAN, STD).to(dtype)


def _prior(process, n=16, seed=0, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    return process.prior_sample(n, len(MEAN), generator).to(dtype)


def _scale(process, t) -> float:
    return float(process.mean_scale(torch.tensor(t, dtype=torch.float64)))


def _exact_ode(process, x_prior):
    """The probability-flow ODE's exact map from t_max to t_min for Gaussian data."""
    view = EDMView(process)
    variance = STD**2
    x = view.to_edm(x_prior, process.t_max)
    ratio = torch.sqrt((variance + view.sigma_min**2) / (variance + view.sigma_max**2))
    return view.from_edm(MEAN + (x - MEAN) * ratio, process.t_min)


def _exact_sde_moments(process, eta):
    """Mean and variance at t_min of the SDE member dx~ = -(1 + k) sigma score dsigma +
    sqrt(2 k sigma) dW (k = eta^2) started from the prior: with w = v + sigma^2 the variance P
    obeys dP/dw = (1 + k) P / w - k, so P - w scales as w^(1 + k), and the mean's offset from m
    as w^((1 + k) / 2)."""
    view, k = EDMView(process), eta**2
    w_start, w_end = STD**2 + view.sigma_max**2, STD**2 + view.sigma_min**2
    prior_variance = (process.prior_std / _scale(process, process.t_max)) ** 2
    mean = MEAN - MEAN * (w_end / w_start) ** ((1 + k) / 2)
    variance = w_end + (prior_variance - w_start) * (w_end / w_start) ** (1 + k)
    scale = _scale(process, process.t_min)
    return scale * mean, scale**2 * variance


def _slope(steps, errors) -> float:
    """The least-squares slope of -log(error) against log(steps): the observed order."""
    return -float(np.polyfit(np.log(steps), np.log(errors), 1)[0])


# --- the change of variables ------------------------------------------------------------------
@pytest.mark.parametrize("name", PROCESSES)
def test_time_of_sigma_inverts_sigma_of_time(name):
    view = EDMView(PROCESSES[name])
    times = torch.linspace(view.process.t_min, view.process.t_max, 50, dtype=torch.float64)
    assert torch.allclose(view.t_of_sigma(view.sigma_of_t(times)), times, rtol=1e-12, atol=0)
    sigmas = torch.logspace(-4, 4, 30, dtype=torch.float64)
    assert torch.allclose(view.t_of_sigma(sigmas), view.t_of_sigma_bisection(sigmas),
                          rtol=1e-10, atol=1e-14)


def test_a_process_without_a_closed_form_inverse_uses_bisection():
    """A new process (here VP under another class) needs only the kernel: solve() inverts
    sigma~(t) by bisection and lands where the closed form does."""
    vp = PROCESSES["vp"]

    class Unlisted(ForwardProcess):
        def drift_rate(self, t):
            return vp.drift_rate(t)

        def diffusion(self, t):
            return vp.diffusion(t)

        def mean_scale(self, t):
            return vp.mean_scale(t)

        def marginal_std(self, t):
            return vp.marginal_std(t)

        @property
        def prior_std(self):
            return vp.prior_std

    unlisted = Unlisted(vp.t_min, vp.t_max)
    x_prior = _prior(vp)
    expected = solve("heun", _model(vp).score, vp, x_prior, steps=8)
    found = solve("heun", _model(unlisted).score, unlisted, x_prior, steps=8)
    assert torch.allclose(found, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", PROCESSES)
def test_denoiser_is_the_ve_form_posterior_mean(name):
    """D computed from the process's score equals the closed-form VE denoiser of N(m, v)."""
    process = PROCESSES[name]
    view = EDMView(process)
    x = _prior(process) / _scale(process, process.t_max)
    for sigma in (view.sigma_min, 0.3, 2.0, view.sigma_max):
        denoised = view.denoiser(_model(process).score, x, sigma)
        expected = MEAN + STD**2 / (STD**2 + sigma**2) * (x - MEAN)
        assert torch.allclose(denoised, expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("grid", ["edm", "logsnr"])
def test_noise_grids(grid):
    view = EDMView(OrnsteinUhlenbeck())
    sigmas = view.sigma_grid(10, grid)
    assert len(sigmas) == 11 and (sigmas.diff() < 0).all()
    assert sigmas[0] == view.sigma_max and sigmas[-1] == view.sigma_min
    spacing = (sigmas ** (1 / 7) if grid == "edm" else torch.log(sigmas)).diff()
    assert torch.allclose(spacing, spacing[0], rtol=1e-9)
    with pytest.raises(ValueError):
        view.sigma_grid(10, "cosine")


# --- orders of convergence --------------------------------------------------------------------
# Step counts in each solver's asymptotic range on the rho = 7 grid (the error at the end of it
# is still far above float64's floor).
# Every deterministic noise-grid solver of the registry with an order is held to it: a new
# solver is tested by its registry line. Its steps are its order's, unless its asymptotic range
# lies elsewhere.
STEPS_BY_ORDER = {1: (32, 64, 128), 2: (32, 64, 128), 3: (64, 128, 256)}
STEPS_OF = {"heun": (16, 32, 64), "unipc": (32, 64, 128)}
ORDER_STEPS = {name: STEPS_OF.get(name, STEPS_BY_ORDER[solver.order])
               for name, solver in SOLVERS.items()
               if solver.family == "noise" and not solver.stochastic and solver.order}
ORDER_CASES = [(p, s) for p in PROCESSES for s in ORDER_STEPS
               # VE's sigma~_max = 10 is only ten times the data's scale: 3M's first-order
               # start-up step then costs O(h^2) and the observed order drifts towards 2
               # (2.6 at 128 steps, 2.4 at 512); OU and VP start where D has not yet moved.
               if not (p == "ve" and s == "dpmpp_3m")]


@pytest.mark.parametrize(("process_name", "solver"), ORDER_CASES)
def test_deterministic_solvers_converge_at_their_order(process_name, solver):
    process = PROCESSES[process_name]
    x_prior = _prior(process)
    exact = _exact_ode(process, x_prior)
    model = _model(process)
    steps = ORDER_STEPS[solver]
    errors = [(solve(solver, model.score, process, x_prior, steps=n) - exact).abs().max().item()
              for n in steps]
    assert all(b < a for a, b in zip(errors, errors[1:], strict=False)), errors
    order = _slope(steps, errors)
    assert abs(order - FAST_SOLVERS[solver].order) < 0.3, (order, errors)


@pytest.mark.parametrize(("predictor_order", "expected"), [(1, 2), (3, 4)])
def test_unipc_corrector_adds_one_order(predictor_order, expected):
    process = PROCESSES["ve"]
    x_prior = _prior(process)
    exact = _exact_ode(process, x_prior)
    steps = (32, 64, 128)
    errors = [(solve("unipc", _model(process).score, process, x_prior, steps=n,
                     order=predictor_order) - exact).abs().max().item() for n in steps]
    assert abs(_slope(steps, errors) - expected) < 0.3, errors


def test_dpmpp_3m_is_fourth_order_on_a_uniform_log_snr_grid_for_ou():
    """Not a claim of the method: a record of what the lane shows, which also proves the
    third-order term is right (a wrong D'' coefficient caps the order at 2)."""
    process = PROCESSES["ou"]
    x_prior = _prior(process)
    exact = _exact_ode(process, x_prior)
    steps = (32, 64, 128)
    errors = [(solve("dpmpp_3m", _model(process).score, process, x_prior, steps=n, grid="logsnr")
               - exact).abs().max().item() for n in steps]
    assert _slope(steps, errors) > 3.5, errors


@pytest.mark.parametrize("process_name", PROCESSES)
def test_dopri5_meets_its_tolerance_and_counts_its_evaluations(process_name):
    process = PROCESSES[process_name]
    x_prior = _prior(process)
    exact = _exact_ode(process, x_prior)
    results = []
    for tolerance in (1e-4, 1e-7):
        score = CountingScore(_model(process))
        x = solve("dopri5_edm", score, process, x_prior, rtol=tolerance, atol=tolerance)
        results.append(((x - exact).abs().max().item(), score.calls))
    (loose_error, loose_nfe), (tight_error, tight_nfe) = results
    assert tight_error < 1e-5 and tight_error < loose_error
    assert tight_nfe > loose_nfe > 6 and (loose_nfe - 2) % 6 == 0  # dopri5: 6 per step + 2
    with pytest.raises(ValueError):
        solve("dopri5_edm", _model(process).score, process, x_prior, steps=10)


def _sde_moments(process, steps, eta=None, solver="dpmpp_2m_sde", **options):
    """Mean and variance of a stochastic solver's output, exactly: the update is affine in the
    state and the noise, so one run with the prior and each step's noise switched on one row at
    a time gives the output's dependence on every Gaussian input (row 0: all off, the mean)."""
    x_prior = torch.zeros(steps + 2, len(MEAN), dtype=torch.float64)
    x_prior[1] = process.prior_std

    def unit_noise(step, like):
        z = torch.zeros_like(like)
        z[step + 2] = 1.0
        return z

    if eta is not None:
        options["eta"] = eta
    score = CountingScore(_model(process))
    out = solve(solver, score, process, x_prior, steps=steps, noise=unit_noise, **options)
    assert score.calls == FAST_SOLVERS[solver].nfe(steps)
    mean = out[0]
    return mean, ((out[1:] - mean) ** 2).sum(dim=0)


@pytest.mark.parametrize(("process_name", "eta"), [("ou", 1.0), ("vp", 1.0), ("ve", 1.0),
                                                   ("ou", 0.5)])
def test_dpmpp_2m_sde_converges_weakly_at_its_order(process_name, eta):
    """Weak error (of the output's mean and variance, propagated exactly: no Monte Carlo
    noise) against the SDE's closed form."""
    process = PROCESSES[process_name]
    exact_mean, exact_variance = _exact_sde_moments(process, eta)
    steps = (32, 64, 128)
    errors = []
    for n in steps:
        mean, variance = _sde_moments(process, n, eta)
        errors.append(max((mean - exact_mean).abs().max().item(),
                          (variance - exact_variance).abs().max().item()))
    assert all(b < a for a, b in zip(errors, errors[1:], strict=False)), errors
    order = _slope(steps, errors)
    assert abs(order - FAST_SOLVERS["dpmpp_2m_sde"].order) < 0.3, (order, errors)


@pytest.mark.parametrize("process_name", ["ou", "ve"])
def test_heun_sde_converges_weakly_at_its_order(process_name):
    """EDM's churn shrinks with the step count, so its limit depends on the grid: the order is
    read off the differences between successive doublings (self-convergence)."""
    process = PROCESSES[process_name]
    steps = (32, 64, 128, 256)
    moments = [_sde_moments(process, n, solver="heun_sde", churn=10.0) for n in steps]
    differences = [max((a[0] - b[0]).abs().max().item(), (a[1] - b[1]).abs().max().item())
                   for a, b in zip(moments, moments[1:], strict=False)]
    order = _slope(steps[:-1], differences)
    assert abs(order - FAST_SOLVERS["heun_sde"].order) < 0.3, (order, differences)
    # the limit is near the data (churn pulls towards the true marginals)
    assert torch.allclose(moments[-1][1], STD**2 * _scale(process, process.t_min) ** 2,
                          rtol=0.01)


def test_heun_sde_without_churn_is_heun():
    process = PROCESSES["ou"]
    x_prior = _prior(process)
    model = _model(process)
    ode = solve("heun", model.score, process, x_prior, steps=12)
    sde = solve("heun_sde", model.score, process, x_prior, steps=12, churn=0.0)
    assert torch.equal(ode, sde)


def test_dpmpp_2m_sde_samples_match_the_exact_moments():
    """The default noise path (generator draws), by Monte Carlo: 8,000 samples against the
    moments the same 32-step recursion has exactly."""
    process = PROCESSES["ou"]
    x_prior = _prior(process, n=8000, seed=1)
    x = solve("dpmpp_2m_sde", _model(process).score, process, x_prior, steps=32,
              generator=torch.Generator().manual_seed(2))
    mean, variance = _sde_moments(process, 32, 1.0)
    assert torch.allclose(x.mean(0), mean, atol=4 * variance.max().sqrt().item() / math.sqrt(8000))
    assert torch.allclose(x.var(0), variance, rtol=0.06)


def test_dpmpp_2m_sde_without_noise_is_dpmpp_2m():
    process = PROCESSES["vp"]
    x_prior = _prior(process)
    model = _model(process)
    ode = solve("dpmpp_2m", model.score, process, x_prior, steps=12)
    sde = solve("dpmpp_2m_sde", model.score, process, x_prior, steps=12, eta=0.0)
    assert torch.equal(ode, sde)


# --- NFE, reproducibility, dtypes -------------------------------------------------------------
@pytest.mark.parametrize("solver", FIXED_STEP)
def test_nfe_is_counted_and_matches_the_formula(solver):
    process = PROCESSES["ou"]
    for steps in (1, 2, 3, 7):
        score = CountingScore(_model(process))
        solve(solver, score, process, _prior(process, n=4), steps=steps,
              generator=torch.Generator().manual_seed(0))
        assert score.calls == FAST_SOLVERS[solver].nfe(steps)
    for budget in (5, 10, 35):
        score = CountingScore(_model(process))
        solve(solver, score, process, _prior(process, n=4), nfe=budget,
              generator=torch.Generator().manual_seed(0))
        assert budget - FAST_SOLVERS[solver].evaluations_per_step < score.calls <= budget


def test_documented_nfe_formulas():
    heun = FAST_SOLVERS["heun"]
    assert [heun.nfe(n) for n in (1, 5, 18)] == [1, 9, 35]  # EDM's 35 NFE = 18 steps
    assert [heun.steps(b) for b in (1, 9, 10, 35)] == [1, 5, 5, 18]
    assert FAST_SOLVERS["dpmpp_2m"].steps(10) == 10 and FAST_SOLVERS["dpmpp_3m"].nfe(10) == 10
    score = CountingScore(_model(PROCESSES["ou"]))
    solve("heun", score, PROCESSES["ou"], _prior(PROCESSES["ou"]), steps=4, final_euler=False)
    assert score.calls == 8
    with pytest.raises(ValueError):
        heun.steps(0)


def test_solve_rejects_bad_requests():
    process, x_prior = PROCESSES["ou"], _prior(PROCESSES["ou"])
    score = _model(process).score
    with pytest.raises(ValueError, match="unknown solver"):
        solve("plms", score, process, x_prior, steps=4)
    with pytest.raises(ValueError, match="exactly one"):
        solve("heun", score, process, x_prior, steps=4, nfe=7)
    with pytest.raises(ValueError, match="exactly one"):
        solve("heun", score, process, x_prior)
    with pytest.raises(ValueError, match="takes no option"):
        solve("heun", score, process, x_prior, steps=4, eta=1.0)


@pytest.mark.parametrize("process_name", PROCESSES)
@pytest.mark.parametrize("solver", list(FAST_SOLVERS))
def test_the_score_is_asked_only_about_times_in_range(process_name, solver):
    """A trained model knows [t_min, t_max] only (EDM's churn and dopri5's overshoot would
    leave it unless capped)."""
    process = PROCESSES[process_name]
    model, times = _model(process), []

    def score(x, t):
        times.append(float(t))
        return model.score(x, t)

    kwargs = {} if FAST_SOLVERS[solver].adaptive else {"steps": 6}
    solve(solver, score, process, _prior(process), generator=torch.Generator().manual_seed(0),
          **kwargs)
    assert min(times) >= process.t_min * (1 - 1e-9)
    assert max(times) <= process.t_max * (1 + 1e-9)


@pytest.mark.parametrize("solver", [n for n, s in FAST_SOLVERS.items() if s.stochastic])
def test_stochastic_solvers_are_reproducible_with_a_seed(solver):
    process = PROCESSES["ou"]
    x_prior, score = _prior(process), _model(process).score

    def run(seed):
        return solve(solver, score, process, x_prior, steps=10,
                     generator=torch.Generator().manual_seed(seed))

    assert torch.equal(run(3), run(3))
    assert not torch.allclose(run(3), run(4))


@pytest.mark.parametrize("process_name", PROCESSES)
@pytest.mark.parametrize("solver", list(FAST_SOLVERS))
def test_float32_path_runs_and_agrees_with_float64(process_name, solver):
    process = PROCESSES[process_name]
    kwargs = {} if FAST_SOLVERS[solver].adaptive else {"steps": 16}
    results = {}
    for dtype in (torch.float32, torch.float64):
        x = solve(solver, _model(process, dtype).score, process, _prior(process, dtype=dtype),
                  generator=torch.Generator().manual_seed(0), **kwargs)
        assert x.dtype == dtype and torch.isfinite(x).all()
        results[dtype] = x
    assert torch.allclose(results[torch.float32].double(), results[torch.float64], atol=1e-3)
