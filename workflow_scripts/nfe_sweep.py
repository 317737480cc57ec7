"""Rules nfe_sweep and nfe_sweep_exact: one sampler at each of its NFE budgets (a list `nfe`),
each budget measured as rule evaluate_sampler measures a sampler, against the data and the
reference sampler (odesdegap.evaluation.studies.nfe_sweep), for a trained model or for the exact
score of Gaussian data (the exact lane: no reference sampler; its rows carry their own floor,
the noise floor of data set exact_gaussian)."""

from odesdegap import runtime
from odesdegap.data.datasets import EXACT_LANE
from odesdegap.diffusion.processes import build_process
from odesdegap.evaluation import noise_floor, studies
from odesdegap.io import artifacts, rows, weights
from odesdegap.settings import (
    EngineSettings,
    SamplerEvaluationSettings,
    SamplerSettings,
    SamplingSettings,
)

sm, device = runtime.job(snakemake)  # noqa: F821 (injected by Snakemake)
params = sm.params
process = build_process(params.process)
settings = SamplingSettings.from_config({**sm.config["sampling"], **params.sampling}, "sampling")
evaluation = SamplerEvaluationSettings.from_config(params.evaluation, "evaluation")
data = artifacts.load_arrays(sm.input.data)["reference"]
if "model" in sm.input.keys():
    run = runtime.run_identity(sm)
    dim = params.dim
    model = weights.load_model(sm.input.model, params.model, dim, process, params.image_shape)
    reference = artifacts.load_arrays(sm.input.reference)["samples"]
    floor = {}
else:  # the exact lane: data set EXACT_LANE's held-out draw and noise floor, its exact score
    run = {"dataset": EXACT_LANE, "fp_weight": None, "seed": params.seed}
    model, dim, reference = studies.exact_gaussian_model(process), data.shape[1], None
    record = artifacts.read_json(sm.input.floor)
    floor = {"w2sq_floor_data": noise_floor.run_fields(record, settings.n_samples)[
        "w2sq_floor_data"]}
budgets = studies.nfe_sweep(
    sm.wildcards.sampler,
    SamplerSettings.from_config(params.sampler, "sampler"),
    model,
    process,
    dim,
    settings,
    params.sample_seed,
    device,
    data=data,
    reference=reference,
    evaluation=evaluation,
    engine=EngineSettings.from_config(params.engine, "engine"),
)
rows.write_rows(sm.output.rows, run, [{**row, **floor} for row in budgets])
for row in budgets:
    print(f"NFE {row['nfe_budget']}: W2^2 to the data {row['w2sq_data']:.4g}, to the reference "
          f"{row['w2sq_reference']:.4g}, lost {row['lost_fraction']:.2%}")
print(*(f"{k}: {v:.4g}" for k, v in floor.items()), sep="\n")
