"""Rule figure_metrics: W2^2 against weight and FP residual against the ODE–SDE gap."""

import pandas as pd

from odesdegap import artifacts, figures

sm = snakemake  # noqa: F821 (injected by Snakemake)
frame = pd.read_csv(sm.input.metrics)
for path, figure in [
    (sm.output.w2_vs_weight, figures.w2_against_weight(frame)),
    (sm.output.residual_vs_gap, figures.residual_against_gap(frame)),
]:
    with artifacts.atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
