"""Rule published_comparison: our samples of the published models (sampled and evaluated by
this workflow) against the authors' histograms of 3,000,000 samples, pair by pair, with the
two-sample noise floor of W2^2 at our sample count."""

import numpy as np
import pandas as pd

from odesdegap import runtime
from odesdegap.data import datasets
from odesdegap.evaluation import metrics
from odesdegap.io import artifacts, published

sm, _ = runtime.job(snakemake, computes=False)  # noqa: F821 (injected by Snakemake)
params = sm.params
grid = metrics.Grid(params.bins, params.half_width, params.convention)
ours = pd.read_csv(sm.input.ours)
theirs = pd.read_csv(sm.input.theirs)

floors, data_vs_truth = {}, {}
for dataset in sorted(theirs["dataset"].unique()):
    _, reference_seed = datasets.dataset_seeds(dataset, params.data_seed)
    seeds = [reference_seed + 1 + r for r in range(params.floor_repeats)]
    floors[dataset] = published.two_sample_floor(dataset, params.n_samples, seeds, grid,
                                                  metrics.w2sq_between_histograms)
    index = list(params.datasets).index(dataset)
    reference = artifacts.load_arrays(sm.input.data[index])
    mine, _ = grid.histogram(reference["reference"], "data")
    truth = published.load_histogram(sm.input.truth[index])
    data_vs_truth[dataset] = metrics.w2sq_between_histograms(mine, truth, grid.support)

table = published.comparison_table(ours, theirs, floors, data_vs_truth)
with artifacts.atomic_path(sm.output.csv) as tmp:
    table.to_csv(tmp, index=False)
shown = table.assign(within_floor=np.where(table["within_floor"], "yes", "no"))
header = (
    f"Our samples of the published models ({params.n_samples} per sampler, reference set of "
    f"{params.n_reference} points) against the authors' histograms (3,000,000 samples each); "
    f"W2^2 on the {params.bins} x {params.bins} grid ({params.convention} convention, box "
    f"[-{params.half_width}, {params.half_width}]^2). floor: mean W2^2 between two disjoint "
    f"sets of {params.n_samples} points of our data generator ({params.floor_repeats} pairs). "
    "ours_data_vs_their_truth: our reference set against their truth histogram.\n\n")
with artifacts.atomic_path(sm.output.markdown) as tmp:
    tmp.write_text(header + shown.to_markdown(index=False, floatfmt=".5f") + "\n")
print(header + shown.to_markdown(index=False, floatfmt=".5f"))
