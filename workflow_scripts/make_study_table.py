"""Rules eta_table and sampler_table: one study's rows of every run in one table and figure."""

import pandas as pd

from odesdegap import runtime
from odesdegap.io import artifacts
from odesdegap.reporting import figures

sm = snakemake  # noqa: F821 (injected by Snakemake)
runtime.log_to(sm.log[0])
frames = []
for path, (dataset, weight, seed) in zip(sm.input.rows, sm.params.runs, strict=True):
    rows = (pd.DataFrame(artifacts.read_json(path)["rows"]) if path.endswith(".json")
            else pd.read_csv(path))
    frames.append(rows.assign(dataset=dataset, fp_weight=weight, seed=seed))
table = pd.concat(frames, ignore_index=True)
front = ["dataset", "fp_weight", "seed"]
table = table[front + [c for c in table.columns if c not in front]]
plot = figures.eta_sweep if sm.params.study == "eta" else figures.sampler_study
with artifacts.atomic_path(sm.output.table) as tmp:
    table.to_csv(tmp, index=False)
figures.save(plot(table), sm.output.figure, sm.output.pdf, dpi=110)
print(f"{sm.params.study} study: {len(table)} rows from {len(frames)} runs -> {sm.output.table}")
