"""Rule figure_training_curves: the DSM loss and FP residual of every run during training."""

from pathlib import Path

import pandas as pd

from odesdegap import runtime
from odesdegap.io import artifacts
from odesdegap.reporting import figures

sm, _ = runtime.job(snakemake, computes=False)  # noqa: F821 (injected by Snakemake)
# Each training log is named by the model.json beside it (its data set, weight and seed).
runs = {Path(meta).parent: artifacts.read_json(meta) for meta in sm.input.models}
histories = pd.concat(
    pd.read_csv(path).assign(**{key: runs[Path(path).parent][key]
                                for key in ("dataset", "fp_weight", "seed")})
    for path in sm.input.histories
)
print(f"{len(histories)} training-log rows of {len(sm.input.histories)} runs")
figures.save(figures.training_curves(histories), sm.output.training_curves,
             sm.output.training_curves_pdf, dpi=110)
print(f"wrote {sm.output.training_curves} and {sm.output.training_curves_pdf}")
