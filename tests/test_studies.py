"""The studies' library side: the exact score's ODE–SDE gap is discretisation error that
vanishes as steps grow, and the eta rows compare each member with every reference."""

import numpy as np
import pandas as pd
import pytest
import torch

from odesdegap.diffusion.processes import OrnsteinUhlenbeck
from odesdegap.diffusion.samplers import sample, sampler
from odesdegap.engine import REFERENCE
from odesdegap.evaluation.metrics import Grid
from odesdegap.evaluation.studies import EXACT_GAUSSIAN, eta_rows, sampler_study, study_sampling
from odesdegap.models import GaussianPotential
from odesdegap.settings import SamplerStudySettings

PROCESS = OrnsteinUhlenbeck()
CPU = torch.device("cpu")
GRID = Grid(64, 3.5, "nodes")
MODEL = GaussianPotential(PROCESS, EXACT_GAUSSIAN["mean"], EXACT_GAUSSIAN["std"])
DATA = (np.asarray(EXACT_GAUSSIAN["mean"]) + EXACT_GAUSSIAN["std"] * np.random.default_rng(
    0).standard_normal((3000, 2))).astype(np.float32)


@pytest.mark.slow
def test_exact_score_gap_vanishes_with_steps():
    study = SamplerStudySettings(steps=(4, 200), ode_methods=("euler", "rk4"),
                                 sde_methods=("euler",), n_samples=3000)
    rows = sampler_study(MODEL, PROCESS, DATA, study, GRID, seed=0, device=CPU, engine=REFERENCE)
    gap = {(r["steps"], r["ode_method"]): r["w2sq_ode_sde"] for r in rows}
    assert gap[4, "euler"] > 5 * gap[200, "euler"]
    assert gap[200, "euler"] < 0.03 and gap[200, "rk4"] < 0.03
    assert {r["nfe_ode"] for r in rows if r["ode_method"] == "rk4"} == {16, 800}


def test_eta_rows_read_the_members_columns_of_the_metrics_table():
    """The eta family's members are samplers (dynamics eta): their table is their columns."""
    metrics = pd.DataFrame({"dataset": ["mixture"] * 2, "fp_weight": [0.0, 1.0], "seed": [0, 0],
                            "nfe_eta0": [10, 10], "w2sq_eta0_data": [0.5, 0.2],
                            "w2sq_eta0_sde": [0.4, 0.1], "n_outside_eta0": [3, 0],
                            "n_nonfinite_eta0": [1, 0], "nfe_half": [11, 11],
                            "w2sq_half_data": [0.3, 0.1], "w2sq_half_sde": [0.2, 0.05]})
    rows = eta_rows(metrics, {"half": 0.5, "eta0": 0.0}, "sde")
    assert list(rows.eta) == [0.0, 0.0, 0.5, 0.5] and list(rows.sampler[:1]) == ["eta0"]
    assert list(rows.w2sq_to_data) == [0.5, 0.2, 0.3, 0.1]
    assert list(rows.w2sq_to_sde) == [0.4, 0.1, 0.2, 0.05]
    assert list(rows.n_outside) == [4, 0, 0, 0]


def test_eta_zero_is_the_probability_flow_on_the_same_grid():
    settings = study_sampling(2000, 100)
    members = {eta: sample(sampler("eta", eta=eta), MODEL, PROCESS, 2, settings, 1, CPU,
                           engine=REFERENCE)["samples"] for eta in (0.0, 1.0)}
    ode = sample(sampler("ode"), MODEL, PROCESS, 2, settings, 1, CPU,
                 engine=REFERENCE)["samples"]
    assert np.allclose(members[0.0], ode, atol=1e-4)
    assert not np.allclose(members[1.0], ode, atol=1e-2)


def test_an_nfe_sweep_writes_one_row_per_budget_closing_on_the_data():
    """The NFE-sweep hook (rule nfe_sweep): one row per budget, the NFE counted, W2^2 to the
    data and to the reference sampler's samples; with the exact score Heun reaches the data's
    noise floor at a large enough budget (on the OU process's wide noise range, t_max = 10,
    t_min = 1e-5, it needs more steps than on EDM's usual range)."""
    from odesdegap.evaluation.studies import NFE_SWEEP_COLUMNS, nfe_sweep

    settings = study_sampling(3000, 1)
    reference = sample(sampler("sde"), MODEL, PROCESS, 2, study_sampling(3000, 200), 2, CPU,
                       engine=REFERENCE)["samples"]
    heun = sampler("ode", "heun", grid="edm", nfe=[9, 39, 129])
    rows = nfe_sweep("heun", heun, MODEL, PROCESS, 2, settings, 1, CPU, data=DATA,
                     reference=reference, grid=GRID,
                     engine=REFERENCE)
    assert [r["nfe_budget"] for r in rows] == [9, 39, 129]
    assert [r["nfe"] for r in rows] == [9, 39, 129]
    assert set(NFE_SWEEP_COLUMNS) <= set(rows[0]) and rows[0]["sampler"] == "heun"
    assert rows[0]["w2sq_data"] > 3 * rows[-1]["w2sq_data"]
    assert rows[-1]["w2sq_data"] < 0.03 and rows[-1]["w2sq_reference"] < 0.03
    assert all(r["lost_fraction"] == 0 for r in rows)
