"""Rule findings: the paper's claims, checked on this run's metrics table, each read against the
noise floor, with lost samples flagged and tests stratified by data set."""

import pandas as pd

from odesdegap import runtime
from odesdegap.io import artifacts
from odesdegap.reporting import findings, findings_text

sm, _ = runtime.job(snakemake, computes=False)  # noqa: F821 (injected by Snakemake)
frame = pd.read_csv(sm.input.metrics)
found = findings.per_dataset(frame)
pooled = {column: findings.pooled_residual_gap(frame, column)
          for column in ("fp_residual", "fp_residual_data")}
stratified = findings.stratified_tests(frame)
artifacts.write_json(sm.output.json, {
    "datasets": found,
    "pooled_residual_gap": {column: {"spearman": rho, "p": p}
                            for column, (rho, p) in pooled.items()},
    "stratified": stratified,
})
for path, render in ((sm.output.markdown, findings_text.to_markdown),
                     (sm.output.html, findings_text.to_html)):
    with artifacts.atomic_path(path) as tmp:
        tmp.write_text(render(found, pooled, stratified))
print(findings_text.to_markdown(found, pooled, stratified))
