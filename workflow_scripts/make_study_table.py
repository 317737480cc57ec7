"""Rules eta_table and sampler_table: one study's rows of every run in one table and figure."""

import pandas as pd

from odesdegap import artifacts, figures

sm = snakemake  # noqa: F821 (injected by Snakemake)
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
with artifacts.atomic_path(sm.output.figure) as tmp:
    plot(table).savefig(tmp, format="png", dpi=110)
