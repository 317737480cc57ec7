"""The studies' library side: the exact score's ODE–SDE gap is discretisation error that
vanishes as steps grow, and the eta rows compare each member with every reference."""

import numpy as np
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


def test_eta_rows_measure_every_member_against_every_reference():
    settings = study_sampling(2000, 100)
    members = {eta: sample(sampler("eta", eta=eta), MODEL, PROCESS, 2, settings, 1, CPU,
                           engine=REFERENCE)["samples"]
               for eta in (0.0, 1.0)}
    rows = eta_rows(members, {"data": DATA, "sde": members[1.0]}, GRID)
    assert [r["eta"] for r in rows] == [0.0, 1.0]
    assert rows[1]["w2sq_to_sde"] == pytest.approx(0.0, abs=1e-12)
    assert all(r["w2sq_to_data"] < 0.05 for r in rows)


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
