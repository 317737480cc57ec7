"""Rule evaluate_eta: how far each member of the eta family lands from the data, the ODE and
the SDE samples of one run."""

from odesdegap import runtime
from odesdegap.evaluation import metrics, studies
from odesdegap.io import artifacts
from odesdegap.settings import GridSettings

sm, _ = runtime.job(snakemake, computes=False)  # noqa: F821 (injected by Snakemake)
params = sm.params
grid = metrics.Grid.from_settings(GridSettings.from_config(params.grid, "evaluation"))
references = {
    "data": artifacts.load_arrays(sm.input.data)["reference"],
    "ode": artifacts.load_arrays(sm.input.ode)["samples"],
    "sde": artifacts.load_arrays(sm.input.sde)["samples"],
}
eta_samples = {
    eta: artifacts.load_arrays(path)["samples"]
    for eta, path in zip(params.etas, sm.input.etas, strict=True)
}
rows = studies.eta_rows(eta_samples, references, grid)
artifacts.write_rows(sm.output.rows, runtime.run_identity(sm), rows)
for row in rows:
    print(row)
