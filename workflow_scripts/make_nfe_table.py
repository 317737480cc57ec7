"""Rule nfe_table: every NFE sweep's rows (rule nfe_sweep) in one table. Each row file names its
run (artifacts.write_rows): the table is their concatenation."""

from odesdegap import runtime
from odesdegap.io import artifacts

sm, _ = runtime.job(snakemake, computes=False)  # noqa: F821 (injected by Snakemake)
table = artifacts.read_rows(sm.input.rows)
with artifacts.atomic_path(sm.output.table) as tmp:
    table.to_csv(tmp, index=False)
print(f"NFE study: {len(table)} rows from {len(sm.input.rows)} sweeps -> {sm.output.table}")
