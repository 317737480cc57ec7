"""Rule figure_densities: the paper's main figure for one data set (the gap's samplers' sample
densities side by side, SDE and ODE by default, one row per FP weight) for the first seed."""

from odesdegap import runtime
from odesdegap.io import artifacts
from odesdegap.reporting import figures
from odesdegap.reporting.gap import Gap, sampler_label
from odesdegap.settings import GridSettings

sm, _ = runtime.job(snakemake, computes=False)  # noqa: F821 (injected by Snakemake)
params = sm.params
gap = Gap(*params.gap)
panels = figures.sampler_panels(params.weights, sm.input.second, sm.input.first)
reference = artifacts.load_arrays(sm.input.data)["reference"]
grid = GridSettings.from_config(params.grid, "evaluation")
figure = figures.sample_densities(panels, reference, grid,
                                  title=f"{sm.wildcards.dataset} (seed {params.seed})", gap=gap)
figures.save(figure, sm.output.figure, sm.output.pdf, dpi=110)
print(f"{len(panels)} weights x ({sampler_label(gap.second)}, {sampler_label(gap.first)}) of "
      f"{sm.wildcards.dataset}: {sm.output.figure}, "
      f"{sm.output.pdf}")
