"""Rule nfe_table: every NFE sweep's rows (rules nfe_sweep and nfe_sweep_exact) in one table.
Each row file names its run (odesdegap.io.rows): the table is their concatenation, with each
run's noise floors (w2sq_floor for the distance to the reference sampler, w2sq_floor_data for
the distance to the data, from the metrics table; the exact lane's rows bring their own floor to
the data and have no reference sampler) beside its distances and sample count."""

import pandas as pd

from odesdegap import runtime
from odesdegap.io import artifacts, rows

RUN = ["dataset", "fp_weight", "seed"]
FLOORS = ["w2sq_floor", "w2sq_floor_data"]

sm, _ = runtime.job(snakemake, computes=False)  # noqa: F821 (injected by Snakemake)
sweeps = rows.read_rows(sm.input.rows)
metrics = pd.read_csv(sm.input.metrics)
trained = sweeps.merge(metrics[RUN + FLOORS], on=RUN, how="left", validate="many_to_one")
exact = rows.read_rows(sm.input.exact_rows).assign(w2sq_floor=float("nan"))
table = pd.concat([trained, exact[trained.columns]], ignore_index=True)
with artifacts.atomic_path(sm.output.table) as tmp:
    table.to_csv(tmp, index=False)
print(f"NFE study: {len(table)} rows from {len(sm.input.rows) + len(sm.input.exact_rows)} "
      f"sweeps -> {sm.output.table}")
