"""The fast solvers' noise range (samplers.<name>.sigma_max) on the exact Gaussian lane.

Started at sigma~(t_max) (about 15,600 for OU) a fast solver spends much of its grid where the
denoiser returns the data's mean; started at EDM's 160 x the data's standard deviation it does
not, and the start law's own mismatch with the noised data stays far below the W2 floor. The
errors are closed-form (studies.exact_lane_solver_w2sq: the solvers are affine there, so the
output law is Gaussian), so no sampling noise enters; the binned check is marked slow. The
floor is the default config's: the noise floor of data set exact_gaussian at 40,000 points
(evaluation.noise_floor, as rule noise_floor measures it), against its held-out draw."""

import numpy as np
import pytest
import torch

from odesdegap.config import fill_defaults, from_schema_defaults, merged
from odesdegap.config_checks import ConfigError, checked
from odesdegap.data.datasets import (
    EXACT_GAUSSIAN,
    EXACT_LANE,
    data_scale,
    point_draws,
    sample_dataset,
)
from odesdegap.diffusion.edm import EDMView, edm_sigma_max, resolve_sigma_max
from odesdegap.diffusion.fast_solvers import solve
from odesdegap.diffusion.processes import (
    OrnsteinUhlenbeck,
    VarianceExploding,
    VariancePreserving,
)
from odesdegap.diffusion.samplers import sample, sampler, with_noise_range
from odesdegap.engine import REFERENCE
from odesdegap.evaluation.noise_floor import noise_floor
from odesdegap.evaluation.studies import exact_gaussian_model, exact_lane_solver_w2sq, nfe_sweep
from odesdegap.settings import SamplerEvaluationSettings, SamplingSettings, W2Settings

PROCESS = OrnsteinUhlenbeck()
# The NFE rows' measure: the default evaluation (W2 on the paper's 64 x 64 grid in 2-D).
EVALUATION = from_schema_defaults(SamplerEvaluationSettings, "evaluation")
N = 40000  # the default config's sample size
BASE_SEED = merged()["data"]["seed"]  # the default config's data.seed
RECOMMENDED = edm_sigma_max(EXACT_GAUSSIAN["std"])  # 80
# The NFE study's solvers on its grids (presets/studies/nfe.yaml), and dpmpp_3m
STUDY_GRIDS = {"ddim": "logsnr", "heun": "edm", "dpmpp_2m": "logsnr", "dpmpp_3m": "logsnr",
               "unipc": "logsnr"}
# The budget from which each solver's binned W2^2 stays within twice the floor, started at
# RECOMMENDED (DDIM at 50: 0.0043, 2.9 floors, docs/studies.md)
CONVERGED_FROM = {"ddim": 100, "heun": 50, "dpmpp_2m": 20, "unipc": 20}
BUDGETS = (10, 20, 50, 100, 200)


@pytest.fixture(scope="module")
def data():
    """The exact lane's held-out data, as rule prepare_data draws it for the default config."""
    return point_draws(EXACT_LANE, 0, N, BASE_SEED)["reference"]


@pytest.fixture(scope="module")
def floor(data):
    """The floor of the exact lane's distance to its data, as rule noise_floor measures it."""
    w2 = from_schema_defaults(W2Settings, "evaluation")
    return noise_floor(EXACT_LANE, N, data, w2, BASE_SEED)["w2sq_floor_data"]


def _error(solver, nfe, sigma_max=RECOMMENDED, grid=None):
    return exact_lane_solver_w2sq(solver, PROCESS, nfe, grid=grid or STUDY_GRIDS[solver],
                                  sigma_max=sigma_max)


def test_the_grid_starts_at_sigma_max_and_the_default_is_today_s():
    view = EDMView(PROCESS)
    for grid in ("edm", "logsnr"):
        assert torch.equal(view.sigma_grid(10, grid), view.sigma_grid(10, grid, sigma_max=None))
        levels = view.sigma_grid(10, grid, sigma_max=RECOMMENDED)
        assert levels[0] == RECOMMENDED and levels[-1] == view.sigma_min
        assert torch.all(levels[1:] < levels[:-1])
    assert abs(view.sigma_max - 15575.06) < 0.01
    assert abs(float(view.sigma_of_t(view.start_time(RECOMMENDED))) - RECOMMENDED) < 1e-9


def test_the_default_range_is_edm_s_rule_for_the_data_s_scale():
    """null: 160 x the data's scale (80 on the exact lane), held to sigma~(t_max); "t_max" is
    the whole range (None to the solvers); a number is itself. The rules resolve each fast
    solver's entry so (samplers.with_noise_range); the paper's samplers are left as they are."""
    assert data_scale(EXACT_LANE) == 0.5 and resolve_sigma_max(None, 0.5, PROCESS) == 80
    assert resolve_sigma_max("t_max", 0.5, PROCESS) is None
    assert resolve_sigma_max(50, 0.5, PROCESS) == 50.0
    vp = VariancePreserving()
    assert resolve_sigma_max(None, 1e3, vp) == EDMView(vp).sigma_max  # the rule passes the top
    points = sample_dataset("checkerboard", 200_000, 0).astype(float)
    assert data_scale("checkerboard") == np.sqrt(points.var(axis=0).mean())
    assert abs(data_scale("checkerboard") - 6 / 12**0.5) < 0.01  # 6 x the unit square's spread
    fast = sampler("ode", "heun", grid="edm", nfe=20).as_dict()
    assert with_noise_range(fast, 0.5, PROCESS)["sigma_max"] == 80
    paper = sampler("ode", "euler").as_dict()
    assert with_noise_range(paper, 0.5, PROCESS) == paper


def test_the_config_takes_a_level_null_or_t_max_and_names_anything_else():
    base = {"datasets": ["mixture"], "fp_weights": [0.0], "seeds": [0]}
    heun = {"dynamics": "ode", "solver": "heun", "grid": "edm", "nfe": 20}
    paper = fill_defaults(base)["samplers"]
    for level in (None, "t_max", 80.0):
        config = checked({**base, "samplers": {**paper, "heun": {**heun, "sigma_max": level}}})
        assert config["samplers"]["heun"]["sigma_max"] == level
    with pytest.raises(ConfigError, match="samplers.heun.sigma_max' has value 'full'"):
        checked({**base, "samplers": {**paper, "heun": {**heun, "sigma_max": "full"}}})


def test_a_sigma_max_outside_the_process_s_range_is_refused():
    x = torch.zeros(4, 2, dtype=torch.float64)
    model = exact_gaussian_model(PROCESS)
    for level in (2e4, 1e-3, 0.0):
        with pytest.raises(ValueError, match="outside the process's noise range"):
            solve("heun", model.score, PROCESS, x, nfe=9, sigma_max=level)
    with pytest.raises(ValueError, match="outside the process's noise range"):
        EDMView(VarianceExploding()).sigma_grid(4, sigma_max=80)  # VE's sigma~(t_max) is ~10


def test_the_start_law_is_the_kernel_s_spread_from_the_same_draws():
    """prior_sample at t: N(0, s(t)^2), from the draws the prior at t_max uses (so choices of
    sigma_max are compared on common noise); at t_max it is the prior to within e^{-2 t_max}."""
    t = EDMView(PROCESS).start_time(RECOMMENDED)
    at_t_max = PROCESS.prior_sample(5, 2, torch.Generator().manual_seed(3))
    at_t = PROCESS.prior_sample(5, 2, torch.Generator().manual_seed(3), t=t)
    ratio = float(PROCESS.marginal_std(torch.tensor(t, dtype=torch.float64))) / PROCESS.prior_std
    assert torch.allclose(at_t, at_t_max * ratio)
    assert abs(PROCESS.start_std(PROCESS.t_max) / PROCESS.prior_std - 1) < 1e-8


def test_sample_starts_fast_solvers_at_sigma_max_and_counts_the_same_nfe():
    model = exact_gaussian_model(PROCESS)
    settings = SamplingSettings(n_samples=500, chunk_size=500, steps=1, refine_last=0,
                                refine_factor=1, sde_final_step_noise=True, ode_rtol=1e-5,
                                ode_atol=1e-5)
    cpu = torch.device("cpu")
    today = sample(sampler("ode", "heun", grid="edm", nfe=9), model, PROCESS, 2, settings, 0,
                   cpu, engine=REFERENCE)
    ranged = sample(sampler("ode", "heun", grid="edm", nfe=9, sigma_max=RECOMMENDED), model,
                    PROCESS, 2, settings, 0, cpu, engine=REFERENCE)
    assert today["nfe"] == ranged["nfe"] == 9
    # the workflow's path is solve() from the start law's draws at t(sigma_max), seed and all
    start = EDMView(PROCESS).start_time(RECOMMENDED)
    prior = PROCESS.prior_sample(500, 2, torch.Generator().manual_seed(0), t=start)
    expected = solve("heun", model.score, PROCESS, prior, nfe=9, sigma_max=RECOMMENDED)
    assert torch.allclose(torch.as_tensor(ranged["samples"]), expected, atol=1e-6)
    assert not torch.allclose(torch.as_tensor(today["samples"]), expected, atol=1e-2)
    with pytest.raises(ValueError, match="'sampler.sigma_max' has value 80"):
        sample(sampler("ode", nfe=8, sigma_max=80), model, PROCESS, 2, settings, 0, cpu,
               engine=REFERENCE)


def test_the_start_law_s_mismatch_is_far_below_the_floor(floor):
    """The exact flow from the start law: what sigma_max costs by itself, about |m|^2 v /
    sigma_max^2 here (2e-5 at 80, a seventieth of the floor)."""
    mismatch = exact_lane_solver_w2sq("exact", PROCESS, None, sigma_max=RECOMMENDED)
    assert mismatch < floor / 10
    assert abs(mismatch / (0.5 * 0.25 / RECOMMENDED**2) - 1) < 0.01
    assert exact_lane_solver_w2sq("exact", PROCESS, None) < 1e-8


def test_heun_from_the_recommended_range_is_ten_times_closer_at_20_nfe():
    today, ranged = _error("heun", 20, sigma_max=None), _error("heun", 20)
    assert ranged * 10 < today, (today, ranged)


@pytest.mark.parametrize(("solver", "first"), [("ddim", 50), ("heun", 50), ("dpmpp_2m", 20),
                                               ("unipc", 20)])
def test_from_the_default_range_each_solver_is_within_twice_the_floor(solver, first, floor):
    """The fast-sampler issue's acceptance, from the default range (EDM's rule for the exact
    lane's data): W2^2 of the output law to the exact one within twice the floor from 50 NFE
    (DDIM, Heun) and from 20 (DPM-Solver++ 2M, UniPC) on."""
    default = resolve_sigma_max(None, data_scale(EXACT_LANE), PROCESS)
    for nfe in (budget for budget in BUDGETS if budget >= first):
        assert _error(solver, nfe, sigma_max=default) <= 2 * floor, (solver, nfe, floor)


@pytest.mark.parametrize("solver", STUDY_GRIDS)
def test_errors_do_not_grow_with_nfe_until_twice_the_floor(solver, floor):
    errors = [_error(solver, nfe) for nfe in BUDGETS]
    for (nfe, error), later in zip(zip(BUDGETS, errors, strict=False), errors[1:],
                                   strict=False):
        if error > 2 * floor:
            assert later <= error, (solver, nfe, errors)


@pytest.mark.parametrize("solver", CONVERGED_FROM)
def test_the_solvers_reach_the_floor_from_the_recommended_range(solver, floor):
    """Closed-form error e at most a quarter of the floor from each solver's budget on: the
    binned W2^2 is about floor + 2 sqrt(floor e) + e (a shift adds to the two-sample
    distance, not to its square), within twice the floor for e below about floor / 4."""
    for nfe in BUDGETS:
        if nfe >= CONVERGED_FROM[solver]:
            assert _error(solver, nfe) <= floor / 4, (solver, nfe, floor)


@pytest.mark.slow
def test_the_binned_distance_is_within_twice_the_floor(data, floor):
    """The NFE study's own measure (sampled, binned W2^2 to 40,000 data points) at each
    solver's first converged budget and at 200."""
    model = exact_gaussian_model(PROCESS)
    settings = SamplingSettings(n_samples=N, chunk_size=N, steps=1, refine_last=0,
                                refine_factor=1, sde_final_step_noise=True, ode_rtol=1e-5,
                                ode_atol=1e-5)
    for solver, first in CONVERGED_FROM.items():
        entry = sampler("ode", solver, grid=STUDY_GRIDS[solver], nfe=[first, 200],
                        sigma_max=RECOMMENDED)
        rows = nfe_sweep(solver, entry, model, PROCESS, 2, settings, 1, torch.device("cpu"),
                         data=data, reference=None, evaluation=EVALUATION, engine=REFERENCE)
        for row in rows:
            assert row["w2sq_data"] < 2 * floor, (solver, row, floor)
