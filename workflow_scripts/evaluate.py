"""Rule evaluate: the metrics of one run that no sampler changes
(odesdegap.evaluation.run.evaluate_model): FP residual, held-out DSM loss, NLL, noise floor."""

from odesdegap import runtime
from odesdegap.diffusion.processes import build_process
from odesdegap.evaluation.run import evaluate_model
from odesdegap.io import artifacts, weights
from odesdegap.settings import EngineSettings, EvaluationSettings

sm, device = runtime.job(snakemake)  # noqa: F821 (injected by Snakemake)
params = sm.params

reference = artifacts.load_arrays(sm.input.data)["reference"]
process = build_process(params.process)
model = weights.load_model(sm.input.model, params.model, reference.shape[1], process,
                           params.image_shape)
result = evaluate_model(
    dataset=sm.wildcards.dataset,
    fp_weight=params.fp_weight,
    seed=params.seed,
    reference=reference,
    model=model,
    process=process,
    evaluation=EvaluationSettings.from_config(params.evaluation, "evaluation"),
    dsm_weighting=params.dsm_weighting,
    floor=artifacts.read_json(sm.input.floor),
    n_samples=params.n_samples,
    device=device,
    engine=EngineSettings.from_config(params.engine, "engine"),
)
print(result)
artifacts.write_json(sm.output.metrics, result)
