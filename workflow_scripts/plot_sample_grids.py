"""Rule figure_sample_grids: the gap's samplers' samples (SDE and ODE by default) of one image
data set side by side, one row per FP weight, for the first seed."""

from odesdegap import runtime
from odesdegap.io import artifacts
from odesdegap.reporting import figures
from odesdegap.reporting.gap import Gap, sampler_label

sm, _ = runtime.job(snakemake, computes=False)  # noqa: F821 (injected by Snakemake)
params = sm.params
gap = Gap(*params.gap)
panels = figures.sampler_panels(params.weights, sm.input.second, sm.input.first)
reference = artifacts.load_arrays(sm.input.data)["reference"]
figure = figures.sample_grids(panels, reference, tuple(params.image_shape),
                              title=f"{sm.wildcards.dataset} (seed {params.seed})", gap=gap)
figures.save(figure, sm.output.figure, sm.output.pdf, dpi=130)
print(f"{len(panels)} weights x ({sampler_label(gap.second)}, {sampler_label(gap.first)}) of "
      f"{sm.wildcards.dataset}: {sm.output.figure}, "
      f"{sm.output.pdf}")
