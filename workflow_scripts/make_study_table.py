"""Rules eta_table and sampler_table: one study's rows of every run in one table and figure.
The eta table comes from the metrics table (its members are samplers); the sampler study's row
files name their run (artifacts.write_rows): its table is their concatenation."""

import pandas as pd

from odesdegap import runtime
from odesdegap.evaluation import studies
from odesdegap.io import artifacts
from odesdegap.reporting import figures

sm, _ = runtime.job(snakemake, computes=False)  # noqa: F821 (injected by Snakemake)
if sm.params.study == "eta":  # the eta family's members are samplers: their metrics columns
    table = studies.eta_rows(pd.read_csv(sm.input.metrics), dict(sm.params.members),
                             sm.params.reference_sampler)
else:
    table = artifacts.read_rows(sm.input.rows)
plot = figures.eta_sweep if sm.params.study == "eta" else figures.sampler_study
with artifacts.atomic_path(sm.output.table) as tmp:
    table.to_csv(tmp, index=False)
figures.save(plot(table), sm.output.figure, sm.output.pdf, dpi=110)
print(f"{sm.params.study} study: {len(table)} rows -> {sm.output.table}")
