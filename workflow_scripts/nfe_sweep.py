"""Rule nfe_sweep: one sampler of one run at each of its NFE budgets (a list `nfe`), measured
against the data and the reference sampler (odesdegap.evaluation.studies.nfe_sweep)."""

import pandas as pd

from odesdegap import runtime
from odesdegap.diffusion.processes import build_process
from odesdegap.evaluation import metrics, studies
from odesdegap.io import artifacts
from odesdegap.settings import EngineSettings, GridSettings, SamplerSettings, SamplingSettings

sm, device = runtime.job(snakemake)  # noqa: F821 (injected by Snakemake)
params = sm.params
process = build_process(params.process)
model = artifacts.load_model(sm.input.model, params.model, params.dim, process,
                             params.image_shape)
rows = studies.nfe_sweep(
    sm.wildcards.sampler,
    SamplerSettings.from_config(params.sampler, "sampler"),
    model,
    process,
    params.dim,
    SamplingSettings.from_config({**sm.config["sampling"], **params.sampling}, "sampling"),
    params.sample_seed,
    device,
    data=artifacts.load_arrays(sm.input.data)["reference"],
    reference=artifacts.load_arrays(sm.input.reference)["samples"],
    grid=metrics.Grid.from_settings(GridSettings.from_config(params.grid, "evaluation")),
    engine=EngineSettings.from_config(params.engine, "engine"),
)
artifacts.write_rows(sm.output.rows, runtime.run_identity(sm), rows)
print(pd.DataFrame(rows).to_string())
