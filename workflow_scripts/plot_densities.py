"""Rule figure_densities: the paper's main figure for one data set (SDE and ODE sample
densities side by side, one row per FP weight) for the first seed."""

from odesdegap import runtime
from odesdegap.io import artifacts
from odesdegap.reporting import figures
from odesdegap.settings import GridSettings

sm, _ = runtime.job(snakemake, computes=False)  # noqa: F821 (injected by Snakemake)
params = sm.params
panels = figures.sampler_panels(params.weights, sm.input.sde, sm.input.ode)
reference = artifacts.load_arrays(sm.input.data)["reference"]
grid = GridSettings.from_config(params.grid, "evaluation")
figure = figures.sample_densities(panels, reference, grid,
                                  title=f"{sm.wildcards.dataset} (seed {params.seed})")
figures.save(figure, sm.output.figure, sm.output.pdf, dpi=110)
print(f"{len(panels)} weights x (SDE, ODE) of {sm.wildcards.dataset}: {sm.output.figure}, "
      f"{sm.output.pdf}")
