"""Rule evaluate_sampler: one sampler of one run against the held-out data and the reference
sampler's samples (odesdegap.evaluation.sampler_metrics.evaluate_sampler)."""

from odesdegap import runtime
from odesdegap.evaluation.sampler_metrics import evaluate_sampler
from odesdegap.io import artifacts
from odesdegap.settings import SamplerEvaluationSettings

sm, _ = runtime.job(snakemake, computes=False)  # noqa: F821 (injected by Snakemake)
params = sm.params
reference = "reference" in sm.input.keys()
result = evaluate_sampler(
    sm.wildcards.sampler,
    artifacts.load_arrays(sm.input.samples),
    data=artifacts.load_arrays(sm.input.data)["reference"],
    evaluation=SamplerEvaluationSettings.from_config(params.evaluation, "evaluation"),
    reference_name=params.reference_sampler if reference else None,
    reference=artifacts.load_arrays(sm.input.reference) if reference else None,
)
print(result)
artifacts.write_json(sm.output.metrics, result)
