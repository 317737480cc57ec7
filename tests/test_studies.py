"""The studies' library side: on the exact lane an NFE sweep's distance to the data is
discretisation error that vanishes as the budget grows (fast solvers and the grid integrators on
uniform steps alike), and the eta rows compare each member with every reference."""

import numpy as np
import pandas as pd
import pytest
import torch

from odesdegap.config import from_schema_defaults
from odesdegap.data.datasets import EXACT_GAUSSIAN, EXACT_LANE, point_draws
from odesdegap.diffusion.processes import OrnsteinUhlenbeck
from odesdegap.diffusion.samplers import sample, sampler, uniform_steps
from odesdegap.engine import REFERENCE
from odesdegap.evaluation.noise_floor import noise_floor
from odesdegap.evaluation.studies import NFE_SWEEP_COLUMNS, exact_gaussian_model, nfe_sweep
from odesdegap.models import GaussianPotential
from odesdegap.reporting.eta_table import eta_rows
from odesdegap.settings import SamplerEvaluationSettings, SamplingSettings, W2Settings

PROCESS = OrnsteinUhlenbeck()
CPU = torch.device("cpu")
# The NFE rows' measure: the default evaluation (W2 on the paper's 64 x 64 grid in 2-D).
EVALUATION = from_schema_defaults(SamplerEvaluationSettings, "evaluation")
MODEL = GaussianPotential(PROCESS, EXACT_GAUSSIAN["mean"], EXACT_GAUSSIAN["std"])
DATA = (np.asarray(EXACT_GAUSSIAN["mean"]) + EXACT_GAUSSIAN["std"] * np.random.default_rng(
    0).standard_normal((3000, 2))).astype(np.float32)




def study_sampling(n_samples: int, steps: int) -> SamplingSettings:
    """`steps` uniform steps, all samples in one chunk, noise on every SDE step."""
    return uniform_steps(SamplingSettings(
        n_samples=n_samples, chunk_size=n_samples, steps=1, refine_last=0, refine_factor=1,
        sde_final_step_noise=True, ode_rtol=1e-5, ode_atol=1e-5), steps)


@pytest.mark.slow
def test_the_step_count_study_is_an_nfe_sweep_of_the_grid_integrators():
    """Euler and RK4 on uniform steps (grid sampling with NFE budgets) and Euler–Maruyama, on the
    exact lane: the budget sets the steps (RK4: 4 evaluations each, counted), and the distance
    to the exact data falls to the floor as the budget grows."""
    model = exact_gaussian_model(PROCESS)
    # rule prepare_data's draw
    data = point_draws(EXACT_LANE, 0, 3000, 0)["reference"]
    floor = noise_floor(EXACT_LANE, 3000, data, from_schema_defaults(W2Settings, "evaluation"),
                        0)["w2sq_floor_data"]
    settings = study_sampling(3000, 7)  # its steps are the budgets' to set
    found = {}
    for name, entry in {"euler": sampler("ode", nfe=[4, 200]),
                        "rk4": sampler("ode", "rk4", nfe=[16, 800]),
                        "em": sampler("sde", nfe=[4, 200])}.items():
        rows = nfe_sweep(name, entry, model, PROCESS, 2, settings, 1, CPU, data=data,
                         reference=None, evaluation=EVALUATION, engine=REFERENCE)
        # counted: torchsde evaluates the drift once more, to check its shapes
        extra = 1 if entry.dynamics == "sde" else 0
        assert [r["nfe"] for r in rows] == [b + extra for b in entry.nfe], name
        assert all(np.isnan(r["w2sq_reference"]) for r in rows)
        found[name] = [r["w2sq_data"] for r in rows]
    assert found["euler"][0] > 5 * found["euler"][1]
    assert found["em"][0] > 5 * found["em"][1]
    for name, (_, converged) in found.items():
        assert converged < 2 * floor, (name, converged, floor)
    assert 0 < floor < 0.03


def test_a_budget_on_grid_sampling_steps_uniformly():
    """nfe on grid sampling: budget / evaluations-per-step uniform steps, no refinement, the
    sampling section's own steps ignored."""
    refined = SamplingSettings(n_samples=200, chunk_size=200, steps=50, refine_last=2,
                               refine_factor=10, sde_final_step_noise=False, ode_rtol=1e-5,
                               ode_atol=1e-5)
    for entry, nfe in ((sampler("ode", "midpoint", nfe=12), 12), (sampler("sde", nfe=9), 9 + 1)):
        result = sample(entry, MODEL, PROCESS, 2, refined, 3, CPU, engine=REFERENCE)
        assert result["nfe"] == nfe
    default = sample(sampler("ode"), MODEL, PROCESS, 2, refined, 3, CPU, engine=REFERENCE)
    assert default["nfe"] == 48 + 2 * 10
    with pytest.raises(ValueError, match="one budget at a time"):
        sample(sampler("ode", nfe=[4, 8]), MODEL, PROCESS, 2, refined, 3, CPU, engine=REFERENCE)


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
    settings = study_sampling(3000, 1)
    reference = sample(sampler("sde"), MODEL, PROCESS, 2, study_sampling(3000, 200), 2, CPU,
                       engine=REFERENCE)["samples"]
    heun = sampler("ode", "heun", grid="edm", nfe=[9, 39, 129])
    rows = nfe_sweep("heun", heun, MODEL, PROCESS, 2, settings, 1, CPU, data=DATA,
                     reference=reference, evaluation=EVALUATION,
                     engine=REFERENCE)
    assert [r["nfe_budget"] for r in rows] == [9, 39, 129]
    assert [r["nfe"] for r in rows] == [9, 39, 129]
    assert set(NFE_SWEEP_COLUMNS) <= set(rows[0]) and rows[0]["sampler"] == "heun"
    assert rows[0]["w2sq_data"] > 3 * rows[-1]["w2sq_data"]
    assert rows[-1]["w2sq_data"] < 0.03 and rows[-1]["w2sq_reference"] < 0.03
    assert all(r["lost_fraction"] == 0 for r in rows)


def test_a_budget_row_is_the_evaluate_sampler_record_of_its_samples():
    """An NFE row measures a budget's samples as rule evaluate_sampler measures a sampler's
    (the same function, its columns named without the sampler), so a metric added there reaches
    the NFE rows too; docs/extending.md's recipe, done: the new column is in the row and the
    tables README describes it in both tables from its one line."""
    from odesdegap.evaluation import sampler_metrics, studies
    from odesdegap.reporting import table_docs
    from odesdegap.reporting.gap import Gap

    spec = sampler("sde", "dpmpp_2m_sde", grid="edm", nfe=[10])
    reference = DATA[::-1].copy()
    row, = nfe_sweep("two_m", spec, MODEL, PROCESS, 2, study_sampling(500, 1), 3, CPU,
                     data=DATA, reference=reference, evaluation=EVALUATION, engine=REFERENCE)
    drawn = sample(spec, MODEL, PROCESS, 2, study_sampling(500, 1), 3, CPU, engine=REFERENCE,
                   nfe=10)
    record = sampler_metrics.evaluate_sampler("two_m", drawn, data=DATA, evaluation=EVALUATION,
                                              reference_name="reference",
                                              reference={"samples": reference})
    for column in ("w2sq", "sliced_w2sq"):
        assert row[f"{column}_data"] == record[f"{column}_two_m_data"]
        assert row[f"{column}_reference"] == record[f"{column}_two_m_reference"]
    assert row["n_samples"] == 500 and row["nfe"] == record["nfe_two_m"]

    def with_mean_shift(name, drawn, *, data, **kwargs):
        result = sampler_metrics.evaluate_sampler(name, drawn, data=data, **kwargs)
        result[f"mean_shift_{name}_data"] = float(np.linalg.norm(
            np.nanmean(drawn["samples"], axis=0) - data.mean(axis=0)))
        return result

    def with_its_line(samplers, gap):
        one = f"({'|'.join(sorted({*samplers, *gap, *table_docs.ROW_SETS}))})"
        return [*patterns(samplers, gap),
                (rf"mean_shift_{one}_data",
                 lambda a: f"distance between the means of {table_docs._set(a)} and the data")]

    patterns = table_docs.patterns
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(studies, "evaluate_sampler", with_mean_shift)
        rows = nfe_sweep("two_m", spec, MODEL, PROCESS, 2, study_sampling(500, 1), 3, CPU,
                         data=DATA, reference=None, evaluation=EVALUATION, engine=REFERENCE)
        patch.setattr(table_docs, "patterns", with_its_line)
        gap = Gap("ode", "sde")
        assert "this budget's samples" in table_docs.describe("mean_shift_data", ["two_m"], gap)
        assert "sampler `two_m`" in table_docs.describe("mean_shift_two_m_data", ["two_m"], gap)
    assert rows[0]["mean_shift_data"] < 0.1 and np.isnan(rows[0]["mean_shift_reference"])
    assert np.isnan(rows[0]["w2sq_reference"]) and rows[0]["w2sq_data"] == row["w2sq_data"]
