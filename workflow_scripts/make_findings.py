"""Rule findings: the paper's claims, checked on this run's metrics table for the pair the config's
`gap` names, each read against the noise floor, with lost samples flagged and tests stratified by
data set."""

import pandas as pd

from odesdegap import runtime
from odesdegap.io import artifacts
from odesdegap.reporting import findings, findings_text
from odesdegap.reporting.gap import Gap

sm, _ = runtime.job(snakemake, computes=False)  # noqa: F821 (injected by Snakemake)
frame = pd.read_csv(sm.input.metrics)
gap = Gap(*sm.params.gap)
found = findings.per_dataset(frame, gap)
pooled = {column: findings.pooled_residual_gap(frame, gap, column)
          for column in ("fp_residual", "fp_residual_data")}
stratified = findings.stratified_tests(frame, gap)
artifacts.write_json(sm.output.json, {
    "gap": list(gap),
    "datasets": found,
    "pooled_residual_gap": {column: {"spearman": rho, "p": p}
                            for column, (rho, p) in pooled.items()},
    "stratified": stratified,
})
for path, render in ((sm.output.markdown, findings_text.to_markdown),
                     (sm.output.html, findings_text.to_html)):
    with artifacts.atomic_path(path) as tmp:
        tmp.write_text(render(found, pooled, gap, stratified))
print(findings_text.to_markdown(found, pooled, gap, stratified))
