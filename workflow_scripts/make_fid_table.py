"""Rule fid_table: every image run's FID and KID in one CSV, and the summary per data set,
feature extractor and FP weight as CSV, Markdown and HTML."""

import pandas as pd

from odesdegap import runtime
from odesdegap.io import artifacts
from odesdegap.reporting import tables

KEYS = ("dataset", "extractor", "fp_weight")

sm, _ = runtime.job(snakemake, computes=False)  # noqa: F821 (injected by Snakemake)
# Each of the gap's samplers to the data, then the pair (fid_ode_data, fid_sde_data, fid_ode_sde,
# then the KIDs, for the default gap).
first, second = sm.params.gap
FID_METRICS = [f"{metric}_{pair}" for metric in ("fid", "kid")
               for pair in (f"{first}_data", f"{second}_data", f"{first}_{second}")]
runs = pd.DataFrame([artifacts.read_json(path) for path in sm.input.fid])
classifiers = [artifacts.read_json(path) for path in sm.input.classifiers]
accuracy = {record["dataset"]: record["test_accuracy"] for record in classifiers}
runs["classifier_accuracy"] = [accuracy.get(d) if e == "classifier" else None
                               for d, e in zip(runs.dataset, runs.extractor, strict=True)]
runs = runs.sort_values([*KEYS, "seed"]).reset_index(drop=True)
summary = tables.summarise(runs, keys=KEYS, metrics=FID_METRICS)
# One accuracy per (data set, extractor): both are sorted alike, by the keys.
summary.insert(3, "classifier_accuracy",
               runs.groupby(list(KEYS), sort=True)["classifier_accuracy"].first().to_numpy())
shown = tables.format_summary(summary, keys=KEYS, metrics=FID_METRICS)
shown.insert(3, "classifier_accuracy",
             ["" if pd.isna(a) else f"{a:.3f}" for a in summary["classifier_accuracy"]])
for path, writer in [
    (sm.output.runs, lambda p: runs.to_csv(p, index=False)),
    (sm.output.summary_csv, lambda p: summary.to_csv(p, index=False)),
    (sm.output.summary_md, lambda p: p.write_text(shown.to_markdown(index=False) + "\n")),
    (sm.output.summary_tex, lambda p: p.write_text(shown.to_latex(index=False))),
    (sm.output.summary_html, lambda p: p.write_text(tables.to_html(shown))),
]:
    with artifacts.atomic_path(path) as tmp:
        writer(tmp)
print(shown.to_string(index=False))
