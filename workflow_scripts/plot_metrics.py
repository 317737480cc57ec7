"""Rule figure_metrics: W2^2 against weight, FP residual against the ODE–SDE gap, and the
training curves of every run."""

import pandas as pd

from odesdegap import figures, runtime

sm = snakemake  # noqa: F821 (injected by Snakemake)
runtime.log_to(sm.log[0])
frame = pd.read_csv(sm.input.metrics)
histories = pd.concat(
    pd.read_csv(path).assign(dataset=dataset, fp_weight=weight, seed=seed)
    for path, (dataset, weight, seed) in zip(sm.input.histories, sm.params.runs, strict=True)
)
print(f"{len(frame)} runs, {len(histories)} training-log rows")
for name, draw, data in [
    ("w2_vs_weight", figures.w2_against_weight, frame),
    ("residual_vs_gap", figures.residual_against_gap, frame),
    ("training_curves", figures.training_curves, histories),
]:
    figures.save(draw(data), sm.output[name], sm.output[f"{name}_pdf"], dpi=110)
    print(f"wrote {sm.output[name]} and {sm.output[f'{name}_pdf']}")
