"""Rule tables: every run's metrics in one CSV (with the noise-floor and lost-sample flags), and
the per-(dataset, weight) summary as CSV, Markdown, LaTeX and HTML, each with its footnotes."""

from odesdegap import runtime
from odesdegap.io import artifacts
from odesdegap.reporting import tables

sm, _ = runtime.job(snakemake, computes=False)  # noqa: F821 (injected by Snakemake)
frame = tables.flag_runs(tables.collect(sm.input.metrics))
summary = tables.summarise(frame)
shown = tables.format_summary(summary)
notes = tables.summary_notes(summary)
for path, writer in [
    (sm.output.metrics, lambda p: frame.to_csv(p, index=False)),
    (sm.output.summary_csv, lambda p: summary.to_csv(p, index=False)),
    (sm.output.summary_md, lambda p: p.write_text(tables.to_markdown(shown, notes))),
    (sm.output.summary_tex, lambda p: p.write_text(tables.to_latex(shown, notes))),
    (sm.output.summary_html, lambda p: p.write_text(tables.to_html(shown, notes))),
]:
    with artifacts.atomic_path(path) as tmp:
        writer(tmp)
print(shown.to_string(index=False))
