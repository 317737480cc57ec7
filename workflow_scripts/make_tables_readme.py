"""Rule tables_readme: results/tables/README.md, what each column of the run's tables means
and how W2^2 was measured."""

from pathlib import Path

import pandas as pd

from odesdegap import runtime
from odesdegap.io import artifacts
from odesdegap.reporting import headline, table_docs
from odesdegap.reporting.gap import Gap
from odesdegap.settings import GridSettings

sm, _ = runtime.job(snakemake, computes=False)  # noqa: F821 (injected by Snakemake)
params = sm.params
metrics = pd.read_csv(sm.input.metrics)
w2 = headline.w2_description(metrics["w2_method"],
                             GridSettings.from_config(params.grid, "evaluation"))
floor = ("`w2sq_floor` is the noise floor of this run: W2^2 between two disjoint held-out data "
         "sets of the run's sample size." if "w2sq_floor" in metrics
         else "This run has no noise-floor column.")
tables = {Path(path).name: table_docs.read_table(path) for path in sm.input.tables}
samplers = list(sm.config["samplers"])
gap = Gap(*params.gap)
text = table_docs.readme(tables, w2, floor, samplers, gap)
with artifacts.atomic_path(sm.output.readme) as tmp:
    tmp.write_text(text)
print(f"described {sum(len(t.columns) for t in tables.values())} columns of {len(tables)} tables")
missing = table_docs.undescribed(tables, samplers, gap)
if missing:
    print(f"warning: columns without a description: {', '.join(missing)}")
