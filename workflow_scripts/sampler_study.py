"""Rules sampler_study and sampler_study_exact: ODE–SDE W2^2 against step count and integrator,
for a trained model or for the exact score of Gaussian data."""

import pandas as pd

from odesdegap import runtime
from odesdegap.diffusion.processes import build_process
from odesdegap.evaluation import metrics, studies
from odesdegap.io import artifacts
from odesdegap.settings import EngineSettings, GridSettings, SamplerStudySettings

sm, device = runtime.job(snakemake)  # noqa: F821 (injected by Snakemake)
params = sm.params
study = SamplerStudySettings.from_config(params.study, "studies.sampler")
process = build_process(params.process)

if "model" in sm.input.keys():
    run = runtime.run_identity(sm)
    reference = artifacts.load_arrays(sm.input.data)["reference"]
    model = artifacts.load_model(sm.input.model, params.model, reference.shape[1], process,
                                 params.image_shape)
else:
    run = {"dataset": studies.EXACT_GAUSSIAN_LANE, "fp_weight": None, "seed": params.seed}
    model, reference = studies.exact_gaussian_lane(process, study.n_samples, params.seed)

grid = metrics.Grid.from_settings(GridSettings.from_config(params.grid, "evaluation"))
rows = studies.sampler_study(model.to(device), process, reference, study, grid, params.seed,
                             device, engine=EngineSettings.from_config(params.engine, "engine"))
artifacts.write_rows(sm.output.rows, run, rows)
print(pd.DataFrame(rows).to_string())
