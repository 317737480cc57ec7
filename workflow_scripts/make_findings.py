"""Rule findings: the paper's claims, checked on this run's metrics table."""

import pandas as pd

from odesdegap import artifacts, findings

sm = snakemake  # noqa: F821 (injected by Snakemake)
frame = pd.read_csv(sm.input.metrics)
found = findings.per_dataset(frame)
pooled = findings.pooled_residual_gap(frame)
artifacts.write_json(sm.output.json, {
    "datasets": found,
    "pooled_residual_gap_spearman": pooled[0],
    "pooled_residual_gap_p": pooled[1],
})
with artifacts.atomic_path(sm.output.markdown) as tmp:
    tmp.write_text(findings.to_markdown(found, pooled))
