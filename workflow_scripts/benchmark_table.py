"""Rule benchmark_table: Snakemake's per-job benchmark files as one table of runtime and peak
memory by rule."""

from pathlib import Path

import pandas as pd

from odesdegap import runtime
from odesdegap.io import artifacts

sm, _ = runtime.job(snakemake, computes=False)  # noqa: F821 (injected by Snakemake)
root = Path(sm.params.root)
rows = []
for path in map(Path, sm.input.benchmarks):
    record = pd.read_csv(path, sep="\t").iloc[-1].to_dict()
    relative = path.relative_to(root)
    rows.append({"rule": relative.parts[0], "job": str(relative.with_suffix("")), **record})
jobs = pd.DataFrame(rows)
by_rule = jobs.groupby("rule").agg(
    jobs=("job", "count"),
    total_seconds=("s", "sum"),
    mean_seconds=("s", "mean"),
    max_seconds=("s", "max"),
    peak_rss_mb=("max_rss", "max"),
).reset_index()
with artifacts.atomic_path(sm.output.jobs) as tmp:
    jobs.to_csv(tmp, index=False)
with artifacts.atomic_path(sm.output.by_rule) as tmp:
    by_rule.to_csv(tmp, index=False)
print(by_rule.to_string(index=False))
