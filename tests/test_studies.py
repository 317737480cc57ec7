"""The studies' library side: the exact score's ODE–SDE gap is discretisation error that
vanishes as steps grow, and the eta rows compare each member with every reference."""

import numpy as np
import pytest
import torch

from odesdegap.diffusion.processes import OrnsteinUhlenbeck
from odesdegap.diffusion.samplers import sample
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
    settings = study_sampling(2000, 100, ode_method="euler", sde_method="euler")
    members = {eta: sample("sde", MODEL, PROCESS, 2, settings, 1, CPU, eta=eta,
                           engine=REFERENCE)["samples"]
               for eta in (0.0, 1.0)}
    rows = eta_rows(members, {"data": DATA, "sde": members[1.0]}, GRID)
    assert [r["eta"] for r in rows] == [0.0, 1.0]
    assert rows[1]["w2sq_to_sde"] == pytest.approx(0.0, abs=1e-12)
    assert all(r["w2sq_to_data"] < 0.05 for r in rows)
