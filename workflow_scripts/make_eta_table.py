"""Rule eta_table: the eta family of every run in one table and figure, from the metrics table
(its members are samplers with dynamics eta: eta_table.eta_rows reads their columns)."""

import pandas as pd

from odesdegap import runtime
from odesdegap.io import artifacts
from odesdegap.reporting import eta_table, figures

sm, _ = runtime.job(snakemake, computes=False)  # noqa: F821 (injected by Snakemake)
table = eta_table.eta_rows(pd.read_csv(sm.input.metrics), dict(sm.params.members),
                           sm.params.reference_sampler)
with artifacts.atomic_path(sm.output.table) as tmp:
    table.to_csv(tmp, index=False)
figures.save(figures.eta_sweep(table), sm.output.figure, sm.output.pdf, dpi=110)
print(f"eta study: {len(table)} rows -> {sm.output.table}")
