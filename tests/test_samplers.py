"""Samplers: the time grid, NFE bookkeeping, reproducibility, and the exact-score lane where
the probability-flow ODE and the reverse SDE must agree with each other and with the data."""

import numpy as np
import pytest
import torch

from odesdegap.config import from_schema_defaults
from odesdegap.diffusion.processes import OrnsteinUhlenbeck
from odesdegap.diffusion.samplers import SamplingProgress, TimeGrid, sample, sampler
from odesdegap.engine import REFERENCE
from odesdegap.evaluation.distances import Grid, grid_w2sq
from odesdegap.models import GaussianPotential
from odesdegap.settings import SamplingSettings

PROCESS = OrnsteinUhlenbeck()
MEAN, STD = [1.0, -0.5], 0.5
CPU = torch.device("cpu")


ODE, SDE = sampler("ode"), sampler("sde")  # the default pair: Euler and Euler–Maruyama


def _settings(n=4000, steps=200, chunk=None, refine_last=0, refine_factor=10,
              final_step_noise=True) -> SamplingSettings:
    return from_schema_defaults(
        SamplingSettings, "sampling", n_samples=n, chunk_size=chunk or n, steps=steps,
        refine_last=refine_last, refine_factor=refine_factor,
        sde_final_step_noise=final_step_noise)


def _w2sq(a, b):
    return grid_w2sq(a, "model", b, "model", Grid(64, 3.5, "nodes"))


def test_paper_time_grid():
    grid = TimeGrid(10.0, 1e-5, steps=800, refine_last=10, refine_factor=10)
    segments = grid.segments()
    assert [n for _, _, n in segments] == [790, 100]
    points = grid.points()
    assert len(points) == 891
    assert torch.isclose(points[0], torch.tensor(10.0)) and torch.isclose(
        points[-1], torch.tensor(1e-5))
    assert (points.diff() < 0).all()
    steps = -points.diff()
    assert torch.allclose(steps[:790], steps[0], rtol=1e-4)
    assert torch.allclose(steps[790:], steps[0] / 10, rtol=1e-3)


@pytest.fixture(scope="module")
def exact_samples():
    model = GaussianPotential(PROCESS, MEAN, STD)
    rng = np.random.default_rng(0)
    data = (np.array(MEAN) + STD * rng.standard_normal((4000, 2))).astype(np.float32)
    ode = sample(ODE, model, PROCESS, 2, _settings(), seed=1, device=CPU,
                 engine=REFERENCE)
    sde = sample(SDE, model, PROCESS, 2, _settings(), seed=2, device=CPU,
                 engine=REFERENCE)
    return data, ode, sde


def test_exact_score_ode_and_sde_agree(exact_samples):
    data, ode, sde = exact_samples
    # Two independent 4000-point sets of one distribution sit ~0.01 apart on this grid.
    assert _w2sq(ode["samples"], sde["samples"]) < 0.03
    assert _w2sq(ode["samples"], data) < 0.03
    assert _w2sq(sde["samples"], data) < 0.03
    for result in (ode, sde):
        assert np.allclose(result["samples"].mean(0), MEAN, atol=0.05)
        assert np.allclose(result["samples"].std(0), STD, atol=0.05)


def test_nfe_is_counted(exact_samples):
    _, ode, sde = exact_samples
    assert ode["nfe"] == 200
    # torchsde evaluates the drift once more per sdeint call to check shapes: that is spent too.
    assert sde["nfe"] == 201
    model = GaussianPotential(PROCESS, MEAN, STD)
    rk4 = sample(sampler("ode", "rk4"), model, PROCESS, 2, _settings(n=100, steps=20), 0, CPU,
                 engine=REFERENCE)
    assert rk4["nfe"] == 80
    dopri = sample(sampler("ode", "dopri5"), model, PROCESS, 2, _settings(n=100), 0, CPU,
                   engine=REFERENCE)
    assert dopri["nfe"] > 0 and np.isfinite(dopri["samples"]).all()


def test_same_seed_same_samples_and_chunking_does_not_change_the_ode():
    model = GaussianPotential(PROCESS, MEAN, STD)
    first = sample(SDE, model, PROCESS, 2, _settings(n=300, steps=30), 5, CPU,
                   engine=REFERENCE)
    again = sample(SDE, model, PROCESS, 2, _settings(n=300, steps=30), 5, CPU,
                   engine=REFERENCE)
    assert np.array_equal(first["samples"], again["samples"])
    whole = sample(ODE, model, PROCESS, 2, _settings(n=300, steps=30), 5, CPU,
                   engine=REFERENCE)
    chunked = sample(ODE, model, PROCESS, 2, _settings(n=300, steps=30, chunk=70), 5, CPU,
                     engine=REFERENCE)
    assert np.allclose(whole["samples"], chunked["samples"], atol=1e-5)


def test_refined_grid_spends_the_extra_steps():
    model = GaussianPotential(PROCESS, MEAN, STD)
    result = sample(ODE, model, PROCESS, 2, _settings(n=50, steps=40, refine_last=4), 0, CPU,
                    engine=REFERENCE)
    assert result["nfe"] == 36 + 40


def test_unknown_sampler_kind_is_refused():
    model = GaussianPotential(PROCESS, MEAN, STD)
    with pytest.raises(ValueError, match="'sampler.solver' has value 'leapfrog'"):
        sample(sampler("ode", "leapfrog"), model, PROCESS, 2, _settings(n=10), 0, CPU,
               engine=REFERENCE)


def test_eta_family_interpolates_between_the_dynamics():
    """eta = 0 of the SDE family is the probability-flow ODE (same Euler steps, no noise); every
    eta keeps the exact score's marginals."""
    model = GaussianPotential(PROCESS, MEAN, STD)
    settings = _settings(n=2000, steps=200)
    ode = sample(ODE, model, PROCESS, 2, settings, 3, CPU, engine=REFERENCE)
    flow_as_sde = sample(sampler("eta", eta=0.0), model, PROCESS, 2, settings, 3, CPU,
                         engine=REFERENCE)
    assert np.allclose(ode["samples"], flow_as_sde["samples"], atol=1e-4)
    halfway = sample(sampler("eta", eta=0.5), model, PROCESS, 2, settings, 4, CPU,
                     engine=REFERENCE)
    assert np.allclose(halfway["samples"].mean(0), MEAN, atol=0.05)
    assert np.allclose(halfway["samples"].std(0), STD, atol=0.05)


@pytest.mark.parametrize(("steps", "refine_last", "refine_factor", "nfe"), [
    (100, 2, 40, 98 + 80 + 2),      # the default grid: two segments, one shape check each
    pytest.param(800, 10, 10, 790 + 100 + 2, marks=pytest.mark.slow),  # the paper's grid
])
@pytest.mark.parametrize("final_step_noise", [True, False])
def test_sde_takes_exactly_the_grid_steps(steps, refine_last, refine_factor, nfe,
                                          final_step_noise):
    """No extra, tiny step from round-off in the solver's clock (float32 times gave 181 and
    893); the noise-free last step is one drift evaluation that needs no shape check."""
    model = GaussianPotential(PROCESS, MEAN, STD)
    settings = _settings(n=20, steps=steps, refine_last=refine_last, refine_factor=refine_factor,
                         final_step_noise=final_step_noise)
    assert sample(SDE, model, PROCESS, 2, settings, 0, CPU,
                  engine=REFERENCE)["nfe"] == nfe


def test_noise_free_final_step_is_the_drifts_euler_step():
    """On a one-step grid the noise-free SDE is x_prior + dt * reverse drift, exactly."""
    model = GaussianPotential(PROCESS, MEAN, STD)
    settings = _settings(n=50, steps=1, final_step_noise=False)
    result = sample(SDE, model, PROCESS, 2, settings, 3, CPU, engine=REFERENCE)
    x = PROCESS.prior_sample(50, 2, torch.Generator().manual_seed(3))
    t = torch.tensor(PROCESS.t_max)
    drift = PROCESS.drift(x, t) - PROCESS.diffusion(t) ** 2 * model.score(x, t)
    expected = x - (PROCESS.t_max - PROCESS.t_min) * drift
    assert result["nfe"] == 1
    np.testing.assert_allclose(result["samples"], expected.numpy(), rtol=1e-5, atol=1e-5)
    noisy = sample(SDE, model, PROCESS, 2, _settings(n=50, steps=1), 3, CPU, engine=REFERENCE)
    assert not np.allclose(noisy["samples"], expected.numpy(), atol=1e-3)


def test_sampling_reports_progress_to_stderr(capsys):
    """A progress bar over the chunks, advanced within a chunk by the integrator's time."""
    model = GaussianPotential(PROCESS, MEAN, STD)
    sample(sampler("eta", eta=0.5), model, PROCESS, 2, _settings(n=90, steps=10, chunk=30), 0,
           CPU, engine=REFERENCE)
    err = capsys.readouterr().err
    assert "euler sampling (eta 0.5): 100%" in err and "3.00/3 chunks" in err
    progress = SamplingProgress("ode sampling", 2, t_max=10.0, t_min=0.0, interval=0.0)
    progress.at(torch.tensor(7.5))
    assert progress.bar.n == pytest.approx(0.25)
    progress.chunk_done()
    progress.at(5.0)
    assert progress.bar.n == pytest.approx(1.5)
    progress.close()
    assert "ode sampling:  75%" in capsys.readouterr().err  # 1.5 of 2 chunks


@pytest.mark.parametrize(("name", "dynamics"), [("heun", "ode"), ("dpmpp_2m", "ode"),
                                                 ("unipc", "ode"), ("dpmpp_2m_sde", "sde"),
                                                 ("heun_sde", "sde")])
def test_fast_solvers_are_wired_chunk_by_chunk_within_their_budget(name, dynamics):
    """A few-step solver is a sampler like the others: sample() runs fast_solvers.solve on each
    chunk of the prior draws (a stochastic one with the noise of the chunk's samples) and counts
    its score evaluations, which meet the budget and do not exceed it."""
    from odesdegap.diffusion.fast_solvers import FAST_SOLVERS, solve
    from odesdegap.diffusion.sample_noise import sample_gaussian_noise

    model = GaussianPotential(PROCESS, MEAN, STD)
    result = sample(sampler(dynamics, name, grid="edm", nfe=20), model, PROCESS, 2,
                    _settings(n=300, chunk=100), 6, CPU, engine=REFERENCE)
    solver = FAST_SOLVERS[name]
    assert result["nfe"] == solver.nfe(solver.steps(20)) <= 20
    prior = PROCESS.prior_sample(300, 2, torch.Generator().manual_seed(6))
    expected = [solve(name, model.score, PROCESS, prior[100 * i:100 * (i + 1)], nfe=20,
                      **({"noise": sample_gaussian_noise(6, 100 * i, 100)}
                         if solver.stochastic else {})) for i in range(3)]
    np.testing.assert_array_equal(result["samples"], torch.cat(expected).numpy())


@pytest.mark.parametrize("spec", [SDE, sampler("eta", "euler", eta=0.5),
                                  sampler("sde", "srk"),
                                  sampler("sde", "dpmpp_2m_sde", grid="edm", nfe=10)],
                         ids=["sde", "eta", "srk", "dpmpp_2m_sde"])
def test_stochastic_samples_do_not_depend_on_the_chunk_size(spec):
    """The noise is the samples' own (sample_noise): chunks that cut the blocks of
    NOISE_BLOCK samples anywhere give the samples of one whole chunk, up to the score's
    batch-size round-off; another seed gives other samples."""
    from odesdegap.seeds import NOISE_BLOCK

    model = GaussianPotential(PROCESS, MEAN, STD)
    n = 2 * NOISE_BLOCK + 100

    def draw(chunk, seed=5):
        return sample(spec, model, PROCESS, 2, _settings(n=n, steps=12, chunk=chunk), seed,
                      CPU, engine=REFERENCE)["samples"]

    whole = draw(None)
    for chunk in (700, NOISE_BLOCK):
        np.testing.assert_allclose(draw(chunk), whole, atol=1e-5)
    assert not np.allclose(draw(None, seed=6), whole, atol=1e-2)


def test_a_stochastic_fast_solver_repeats_with_its_seed_and_a_sweep_takes_one_budget():
    model = GaussianPotential(PROCESS, MEAN, STD)
    spec = sampler("sde", "dpmpp_2m_sde", grid="edm", nfe=10)
    first, again, other = (sample(spec, model, PROCESS, 2, _settings(n=200, chunk=70), seed,
                                  CPU, engine=REFERENCE)["samples"] for seed in (4, 4, 5))
    assert np.array_equal(first, again) and not np.allclose(first, other)
    sweep = sampler("ode", "heun", grid="edm", nfe=[5, 9])
    with pytest.raises(ValueError, match="one budget at a time"):
        sample(sweep, model, PROCESS, 2, _settings(n=10), 0, CPU, engine=REFERENCE)
    assert sample(sweep, model, PROCESS, 2, _settings(n=10), 0, CPU, engine=REFERENCE,
                  nfe=5)["nfe"] == 5
    adaptive = sample(sampler("ode", "dopri5_edm", grid="edm"), model, PROCESS, 2, _settings(n=50),
                      0, CPU, engine=REFERENCE)
    assert adaptive["nfe"] > 0 and np.isfinite(adaptive["samples"]).all()
