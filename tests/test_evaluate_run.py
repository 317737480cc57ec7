"""evaluate_run (rules evaluate_sampler, evaluate and metrics in one call) on tiny inputs
with the exact model of Gaussian
data: ODE and SDE "samples" drawn from the data distribution itself are as close to the data as
the noise floor says, the exact model's FP residual vanishes on the box and near the data, and
its NLL is the Gaussian's own."""

import numpy as np
import pytest
import torch

from odesdegap.config import from_schema_defaults
from odesdegap.diffusion.processes import OrnsteinUhlenbeck
from odesdegap.engine import REFERENCE
from odesdegap.evaluation.distances import W2Measure
from odesdegap.evaluation.run import evaluate_run
from odesdegap.evaluation.sampler_metrics import evaluate_sampler
from odesdegap.models import GaussianPotential
from odesdegap.settings import EvaluationSettings

PROCESS = OrnsteinUhlenbeck()
CPU = torch.device("cpu")
MEAN, STD, N = [0.3, -0.2], 0.5, 2000


def _gaussian(n, seed, dim=2):
    mean = np.resize(MEAN, dim)
    return (mean + STD * np.random.default_rng(seed).standard_normal((n, dim))).astype(np.float32)


def _evaluation(**changes) -> EvaluationSettings:
    small = dict(residual_points=256, residual_points_per_time=32, sliced_projections=20,
                 w2_subsample_points=300, nll=dict(points=100, steps=20))
    return from_schema_defaults(EvaluationSettings, "evaluation", **{**small, **changes})


def _floor(evaluation, n, dim=2):
    """A floor record as rule noise_floor writes it, for this Gaussian."""
    measure = W2Measure(evaluation, dim)
    first, second = (measure.prepare(_gaussian(n, seed, dim), "model") for seed in (11, 12))
    reference = measure.prepare(_gaussian(n, 13, dim), "data")
    return {"dataset": "gaussian", "n_floor_points": n,
            "w2sq_floor": measure.w2sq(first, second),
            "w2sq_floor_data": measure.w2sq(first, reference),
            "lost_fraction_floor": measure.lost_fraction(first)}


def _samples(dim=2, names=(("ode", 1), ("sde", 2))):
    return {name: {"samples": _gaussian(N, seed, dim), "nfe": 7, "wall_time_s": 0.5}
            for name, seed in names}


def _run(evaluation, dim=2, floor=None, ode=None, samples=None, reference_sampler="sde"):
    reference = _gaussian(N, 0, dim)
    samples = samples or _samples(dim)
    if ode is not None:
        samples["ode"]["samples"] = ode
    model = GaussianPotential(PROCESS, np.resize(MEAN, dim), STD)
    return evaluate_run(dataset="gaussian", fp_weight=0.0, seed=0, samples=samples,
                        reference_sampler=reference_sampler, reference=reference, model=model,
                        process=PROCESS,
                        evaluation=evaluation, dsm_weighting="uniform",
                        floor=floor or _floor(evaluation, N, dim), device=CPU, engine=REFERENCE)


def test_exact_model_sits_at_the_floor_with_no_residual():
    evaluation = _evaluation()
    result = _run(evaluation)
    assert result["w2_method"] == "grid" and result["w2_convention"].startswith("nodes 64x64")
    floor = result["w2sq_floor"]
    for pair in ("ode_sde", "ode_data", "sde_data"):
        assert result[f"w2sq_{pair}"] < 3 * floor, pair
        assert 0 <= result[f"sliced_w2sq_{pair}"] < result[f"w2sq_{pair}"] + 0.01
    assert result["fp_residual"] < 1e-6 and result["fp_residual_data"] < 1e-6
    assert result["n_outside_ode"] == 0 and result["n_nonfinite_sde"] == 0
    assert result["n_samples_ode"] == result["n_samples_sde"] == N
    assert result["nfe_ode"] == 7 and result["sample_seconds_sde"] == 0.5
    # the NLL of held-out points is the Gaussian's own -log N(x; mean, std^2 I)
    x = _gaussian(N, 0)[:100].astype(np.float64)
    analytic = (0.5 * ((x - MEAN) ** 2).sum(1) / STD**2 + np.log(2 * np.pi * STD**2)).mean()
    assert result["nll_nats"] == pytest.approx(analytic, abs=1e-2)
    assert np.isfinite(result["dsm_loss"])


def test_a_shifted_sampler_is_far_above_the_floor():
    result = _run(_evaluation(), ode=_gaussian(N, 1) + np.float32(0.5))
    assert result["w2sq_ode_sde"] > 20 * result["w2sq_floor"]
    assert result["w2sq_sde_data"] < 3 * result["w2sq_floor"]


def test_above_two_dimensions_w2_is_exact_ot_and_lost_samples_are_counted():
    evaluation = _evaluation(nll=dict(points=0))
    broken = _gaussian(N, 1, dim=3)
    broken[:5] = np.nan
    result = _run(evaluation, dim=3, ode=broken)
    assert result["w2_method"] == "subsample"
    assert result["w2_convention"] == "exact OT on 300-point subsamples"
    assert result["n_nonfinite_ode"] == 5 and result["n_nonfinite_sde"] == 0
    assert "n_outside_ode" not in result and "nll_nats" not in result


def test_floor_at_another_sample_size_is_refused():
    evaluation = _evaluation(nll=dict(points=0))
    with pytest.raises(ValueError, match="measured at 500 points"):
        _run(evaluation, floor=_floor(evaluation, 500))


def test_columns_are_keyed_by_sampler_name_against_the_reference_sampler():
    """Every sampler is measured against the data and the reference sampler; the default pair
    gives the paper's columns, a third sampler adds only its own."""
    evaluation = _evaluation(nll=dict(points=0))
    samples = _samples(names=(("ode", 1), ("sde", 2), ("heun10", 3)))
    result = _run(evaluation, samples=samples)
    assert {c for c in result if c.startswith("w2sq_") and "floor" not in c} == {
        "w2sq_ode_sde", "w2sq_ode_data", "w2sq_sde_data", "w2sq_heun10_sde", "w2sq_heun10_data"}
    assert result["nfe_heun10"] == 7 and result["n_samples_heun10"] == N
    pair = _run(evaluation)
    for column, value in pair.items():
        assert result[column] == value, column
    # one sampler's columns alone, as rule evaluate_sampler writes them from its settings
    import dataclasses

    from odesdegap.settings import SamplerEvaluationSettings

    subset = {f.name: getattr(evaluation, f.name)
              for f in dataclasses.fields(SamplerEvaluationSettings)}
    alone = evaluate_sampler("heun10", samples["heun10"], data=_gaussian(N, 0),
                             evaluation=SamplerEvaluationSettings.from_config(subset),
                             reference_name="sde",
                             reference=samples["sde"])
    assert alone == {k: v for k, v in result.items() if "heun10" in k}
    by_ode = _run(evaluation, samples=_samples(), reference_sampler="ode")
    assert "w2sq_sde_ode" in by_ode and "w2sq_ode_sde" not in by_ode
