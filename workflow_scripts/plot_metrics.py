"""Rule figure_metrics: W2^2 against weight and FP residual against the gap of the config's `gap`
pair (the ODE–SDE gap by default)."""

import pandas as pd

from odesdegap import runtime
from odesdegap.reporting import figures
from odesdegap.reporting.gap import Gap

sm, _ = runtime.job(snakemake, computes=False)  # noqa: F821 (injected by Snakemake)
frame = pd.read_csv(sm.input.metrics)
gap = Gap(*sm.params.gap)
print(f"{len(frame)} runs")
for name, draw in [
    ("w2_vs_weight", figures.w2_against_weight),
    ("residual_vs_gap", figures.residual_against_gap),
]:
    figures.save(draw(frame, gap), sm.output[name], sm.output[f"{name}_pdf"], dpi=110)
    print(f"wrote {sm.output[name]} and {sm.output[f'{name}_pdf']}")
