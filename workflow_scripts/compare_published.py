"""Rule published_comparison: our samples of the published models (sampled and evaluated by
this workflow) against the authors' histograms of 3,000,000 samples, pair by pair, each
difference read against the run's own noise floor of that pair at our sample count."""

import numpy as np
import pandas as pd

from odesdegap import runtime
from odesdegap.evaluation import distances
from odesdegap.io import artifacts
from odesdegap.published import tables
from odesdegap.settings import GridSettings

sm, _ = runtime.job(snakemake, computes=False)  # noqa: F821 (injected by Snakemake)
params = sm.params
settings = GridSettings.from_config(params.grid, "evaluation")
grid = distances.Grid.from_settings(settings)
ours = pd.read_csv(sm.input.ours)
theirs = pd.read_csv(sm.input.theirs)

floors, data_vs_truth = {}, {}
for index, dataset in enumerate(params.datasets):
    floors[dataset] = artifacts.read_json(sm.input.floors[index])
    reference = artifacts.load_arrays(sm.input.data[index])["reference"]
    data_vs_truth[dataset] = tables.data_against_truth(reference, sm.input.truth[index], grid)

table = tables.comparison_table(ours, theirs, floors, data_vs_truth)
with artifacts.atomic_path(sm.output.csv) as tmp:
    table.to_csv(tmp, index=False)
shown = table.assign(within_floor=np.where(table["within_floor"], "yes", "no"))
if "debiased_within_2se" in table:
    shown["debiased_within_2se"] = np.where(table["debiased_within_2se"], "yes", "no")
header = (
    f"Our samples of the published models ({params.n_samples} per sampler, reference set of "
    f"{params.n_reference} points) against the authors' histograms (3,000,000 samples each); "
    f"W2^2 on the {settings.grid_bins} x {settings.grid_bins} grid ({settings.grid_convention} "
    f"convention, box [-{settings.box_half_width}, {settings.box_half_width}]^2). floor: the "
    f"run's noise floor of the pair at {params.n_samples} points (results/floor/: two fresh "
    "data sets for ODE–SDE, a fresh set against the reference for the data pairs). "
    "ours_debiased: our debiased W2^2 (the plug-in less its estimated upward bias at our "
    "count; docs/noise_floor.md) with its standard error se_debiased, against theirs. "
    "ours_data_vs_their_truth: our reference set against their truth histogram.\n\n")
with artifacts.atomic_path(sm.output.markdown) as tmp:
    tmp.write_text(header + shown.to_markdown(index=False, floatfmt=".5f") + "\n")
print(header + shown.to_markdown(index=False, floatfmt=".5f"))
