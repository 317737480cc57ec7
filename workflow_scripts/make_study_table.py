"""Rules eta_table and sampler_table: one study's rows of every run in one table and figure.
Each row file names its run (artifacts.write_rows): the table is their concatenation."""

from odesdegap import runtime
from odesdegap.io import artifacts
from odesdegap.reporting import figures

sm, _ = runtime.job(snakemake, computes=False)  # noqa: F821 (injected by Snakemake)
table = artifacts.read_rows(sm.input.rows)
plot = figures.eta_sweep if sm.params.study == "eta" else figures.sampler_study
with artifacts.atomic_path(sm.output.table) as tmp:
    table.to_csv(tmp, index=False)
figures.save(plot(table), sm.output.figure, sm.output.pdf, dpi=110)
print(f"{sm.params.study} study: {len(table)} rows from {len(sm.input.rows)} runs -> "
      f"{sm.output.table}")
