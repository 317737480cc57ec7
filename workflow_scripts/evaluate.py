"""Rule evaluate: every metric of one run (odesdegap.evaluation.run.evaluate_run), written with
the settings behind it."""

from odesdegap import runtime
from odesdegap.diffusion.processes import build_process
from odesdegap.evaluation.run import evaluate_run
from odesdegap.io import artifacts
from odesdegap.settings import EngineSettings, EvaluationSettings

sm, device = runtime.job(snakemake)  # noqa: F821 (injected by Snakemake)
params = sm.params

reference = artifacts.load_arrays(sm.input.data)["reference"]
process = build_process(params.process)
model = artifacts.load_model(sm.input.model, params.model, reference.shape[1], process,
                             params.image_shape)
result = evaluate_run(
    dataset=sm.wildcards.dataset,
    fp_weight=params.fp_weight,
    seed=params.seed,
    ode=artifacts.load_arrays(sm.input.ode),
    sde=artifacts.load_arrays(sm.input.sde),
    reference=reference,
    model=model,
    process=process,
    evaluation=EvaluationSettings.from_config(params.evaluation, "evaluation"),
    dsm_weighting=params.dsm_weighting,
    floor=artifacts.read_json(sm.input.floor),
    device=device,
    engine=EngineSettings.from_config(params.engine, "engine"),
)
# The settings behind these numbers (Snakemake reruns sampling and this job when they change).
result["config"] = {key: sm.config[key] for key in ("process", "model", "sampling")}
result["config"]["evaluation"] = dict(params.evaluation)
print(result)
artifacts.write_json(sm.output.metrics, result)
