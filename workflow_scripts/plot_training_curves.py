"""Rule figure_training_curves: the DSM loss and FP residual of every run during training."""

import pandas as pd

from odesdegap import artifacts, figures

sm = snakemake  # noqa: F821 (injected by Snakemake)
histories = pd.concat(
    pd.read_csv(path).assign(dataset=dataset, fp_weight=weight, seed=seed)
    for path, (dataset, weight, seed) in zip(sm.input.histories, sm.params.runs, strict=True)
)
with artifacts.atomic_path(sm.output.training_curves) as tmp:
    figures.training_curves(histories).savefig(tmp, format="png", dpi=110)
