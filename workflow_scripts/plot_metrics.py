"""Rule figure_metrics: W2^2 against weight, FP residual against the ODE–SDE gap, and the
training curves of every run."""

import pandas as pd

from odesdegap import artifacts, figures

sm = snakemake  # noqa: F821 (injected by Snakemake)
frame = pd.read_csv(sm.input.metrics)
histories = pd.concat(
    pd.read_csv(path).assign(dataset=dataset, fp_weight=weight, seed=seed)
    for path, (dataset, weight, seed) in zip(sm.input.histories, sm.params.runs, strict=True)
)
for path, figure in [
    (sm.output.w2_vs_weight, figures.w2_against_weight(frame)),
    (sm.output.residual_vs_gap, figures.residual_against_gap(frame)),
    (sm.output.training_curves, figures.training_curves(histories)),
]:
    with artifacts.atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
