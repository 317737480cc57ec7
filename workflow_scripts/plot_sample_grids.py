"""Rule figure_sample_grids: SDE and ODE samples of one image data set side by side, one row per
FP weight, for the first seed."""

from odesdegap import runtime
from odesdegap.io import artifacts
from odesdegap.reporting import figures

sm, _ = runtime.job(snakemake, computes=False)  # noqa: F821 (injected by Snakemake)
params = sm.params
panels = figures.sampler_panels(params.weights, sm.input.sde, sm.input.ode)
reference = artifacts.load_arrays(sm.input.data)["reference"]
figure = figures.sample_grids(panels, reference, tuple(params.image_shape),
                              title=f"{sm.wildcards.dataset} (seed {params.seed})")
figures.save(figure, sm.output.figure, sm.output.pdf, dpi=130)
print(f"{len(panels)} weights x (SDE, ODE) of {sm.wildcards.dataset}: {sm.output.figure}, "
      f"{sm.output.pdf}")
