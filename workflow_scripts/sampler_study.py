"""Rules sampler_study and sampler_study_exact: ODE–SDE W2^2 against step count and integrator,
for a trained model or for the exact score of Gaussian data."""

import pandas as pd

from odesdegap import runtime
from odesdegap.diffusion.processes import build_process
from odesdegap.engine import Engine
from odesdegap.evaluation import metrics, studies
from odesdegap.io import artifacts

sm = snakemake  # noqa: F821 (injected by Snakemake)
runtime.log_to(sm.log[0])
device = runtime.job_device(sm)
params = sm.params
study = params.study
process = build_process(params.process)

if "model" in sm.input.keys():
    reference = artifacts.load_arrays(sm.input.data)["reference"]
    model = artifacts.load_model(sm.input.model, params.model, reference.shape[1], process,
                                 params.image_shape)
else:
    model, reference = studies.exact_gaussian_lane(process, study["n_samples"], params.seed)

rows = studies.sampler_study(
    model.to(device), process, reference.shape[1], reference, study["steps"],
    study["ode_methods"], study["sde_methods"], study["n_samples"], params.seed, device,
    metrics.Grid.from_settings(params.grid), Engine.from_config(params.engine),
)
with artifacts.atomic_path(sm.output.rows) as tmp:
    pd.DataFrame(rows).to_csv(tmp, index=False)
print(pd.DataFrame(rows).to_string())
