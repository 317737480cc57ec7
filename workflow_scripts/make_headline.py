"""Rule headline: the run's headline (the report's landing text) from its tables, as
reStructuredText and as a standalone HTML page."""


import pandas as pd
from docutils.core import publish_string

from odesdegap import runtime
from odesdegap.io import artifacts
from odesdegap.reporting import headline
from odesdegap.reporting.gap import Gap
from odesdegap.settings import GridSettings

sm, _ = runtime.job(snakemake, computes=False)  # noqa: F821 (injected by Snakemake)
params = sm.params
metrics = pd.read_csv(sm.input.metrics)
summary = pd.read_csv(sm.input.summary)
found = artifacts.read_json(sm.input.findings)
jobs = pd.read_csv(sm.input.benchmarks)
models = [artifacts.read_json(path) for path in sm.input.models]
imported = any("imported_from" in meta for meta in models)  # the published preset
recipe = headline.Recipe(
    configfiles=params.configfiles, datasets=params.datasets, weights=params.weights,
    seeds=params.seeds, training_steps=None if imported else params.training_steps,
    n_samples=params.n_samples,
    sampling_steps=params.sampling_steps,
    devices=sorted({meta["device"] for meta in models if "device" in meta}), n_jobs=len(jobs),
    job_seconds=float(jobs["s"].sum()),
    training_seconds=float(jobs.loc[jobs["rule"].isin(headline.TRAINING_RULES), "s"].sum()))
w2 = headline.w2_description(metrics["w2_method"],
                             GridSettings.from_config(params.grid, "evaluation"))
text = headline.to_rst(summary, found, recipe, w2, Gap(*params.gap))
with artifacts.atomic_path(sm.output.rst) as tmp:
    tmp.write_text(text)
page = publish_string(text, writer="html5",
                      settings_overrides={"report_level": 2, "halt_level": 2,
                                          "embed_stylesheet": True})
with artifacts.atomic_path(sm.output.html) as tmp:
    tmp.write_bytes(page)
print(text)
