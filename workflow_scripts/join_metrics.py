"""Rule metrics: a run's metrics row, joined from rule evaluate's record and every sampler's
(odesdegap.evaluation.sampler_metrics.join_metrics), written with the settings behind it."""

from odesdegap import runtime
from odesdegap.evaluation.sampler_metrics import join_metrics
from odesdegap.io import artifacts

sm, _ = runtime.job(snakemake, computes=False)  # noqa: F821 (injected by Snakemake)
records = {name: artifacts.read_json(path)
           for name, path in zip(sm.params.samplers, sm.input.samplers, strict=True)}
result = join_metrics(artifacts.read_json(sm.input.model), records)
# The settings behind these numbers (Snakemake reruns sampling and evaluation when they change).
result["config"] = {key: sm.config[key] for key in ("process", "model", "sampling")}
result["config"]["samplers"] = {name: sm.config["samplers"][name] for name in records}
result["config"]["gap"] = list(sm.params.gap)
result["config"]["evaluation"] = dict(sm.params.evaluation)
artifacts.write_json(sm.output.metrics, result)
print(f"{sm.output.metrics}: the model's metrics and {len(records)} sampler(s) "
      f"({', '.join(records)}), {len(result) - 1} columns")
