"""Rule nfe_findings: the NFE study's claims (odesdegap.reporting.nfe_findings), computed from
its table and read against the gap's two samplers in the metrics table, and its figure."""

import json

import pandas as pd

from odesdegap import runtime
from odesdegap.io import artifacts
from odesdegap.reporting import figures
from odesdegap.reporting.gap import Gap
from odesdegap.reporting.nfe_figure import nfe_figure
from odesdegap.reporting.nfe_findings import nfe_findings
from odesdegap.reporting.nfe_findings_text import nfe_findings_markdown

sm, _ = runtime.job(snakemake, computes=False)  # noqa: F821 (injected by Snakemake)
rows = pd.read_csv(sm.input.table)
metrics = pd.read_csv(sm.input.metrics)
gap = Gap(*sm.params.gap)
found = nfe_findings(rows, metrics, gap)
with artifacts.atomic_path(sm.output.json) as tmp:
    tmp.write_text(json.dumps(found, indent=2) + "\n")
markdown = nfe_findings_markdown(found)
with artifacts.atomic_path(sm.output.markdown) as tmp:
    tmp.write_text(markdown)
figures.save(nfe_figure(rows, gap, metrics), sm.output.figure, sm.output.pdf)
print(markdown)
