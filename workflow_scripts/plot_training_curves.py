"""Rule figure_training_curves: the DSM loss and FP residual of every run during training."""

import pandas as pd

from odesdegap import runtime
from odesdegap.reporting import figures

sm = snakemake  # noqa: F821 (injected by Snakemake)
runtime.log_to(sm.log[0])
histories = pd.concat(
    pd.read_csv(path).assign(dataset=dataset, fp_weight=weight, seed=seed)
    for path, (dataset, weight, seed) in zip(sm.input.histories, sm.params.runs, strict=True)
)
print(f"{len(histories)} training-log rows of {len(sm.input.histories)} runs")
figures.save(figures.training_curves(histories), sm.output.training_curves,
             sm.output.training_curves_pdf, dpi=110)
print(f"wrote {sm.output.training_curves} and {sm.output.training_curves_pdf}")
