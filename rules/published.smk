"""The authors' published models (instead of training) and their histograms: imported into our
model format so that sampling, evaluation and aggregation run on them unchanged, and the paper's
table from their histograms set beside ours. Included when published.checkpoints_dir is set.
"""

import os

from odesdegap.published import layout

PUBLISHED_DIRS = config["published"]


# The imports read the shared download and the tables are light: run them where Snakemake runs.
localrules:
    import_published,
    published_table,
    published_comparison,


rule import_published:
    """One published checkpoint, loaded without executing anything it contains, checked and
    converted into our PotentialMLP's weights."""
    input:
        checkpoint=lambda wc: str(
            layout.checkpoint_path(
                PUBLISHED_DIRS["checkpoints_dir"], wc.dataset, WEIGHTS[wc.weight]
            )
        ),
    output:
        model=f"{MODEL_DIR}/model.pt",
        meta=f"{MODEL_DIR}/model.json",
    log:
        f"{LOGS}/import_published/{RUN}.log",
    benchmark:
        f"{BENCHMARKS}/import_published/{RUN}.tsv"
    conda:
        "../envs/benchmark.yaml"
    params:
        process=config["process"],
        model=MODEL,
        fp_weight=fp_weight,
        seed=lambda wc: int(wc.seed),
    script:
        "../workflow_scripts/import_published.py"


if PUBLISHED_DIRS["histograms_dir"] is not None:

    rule published_table:
        """The paper's table from the authors' histograms of 3,000,000 samples: W2^2 of
        ODE–SDE, ODE–data and SDE–data per data set and weight (exact OT on the 64 x 64
        nodes)."""
        input:
            histograms=[
                str(path)
                for path in layout.histogram_paths(
                    PUBLISHED_DIRS["histograms_dir"],
                    config["datasets"],
                    WEIGHTS.values(),
                )
            ],
        output:
            csv=f"{TABLES}/published_histograms.csv",
            markdown=f"{TABLES}/published_histograms.md",
        log:
            f"{LOGS}/published_table.log",
        benchmark:
            f"{BENCHMARKS}/published_table/all.tsv"
        conda:
            "../envs/benchmark.yaml"
        params:
            histograms_dir=lambda wc, input: os.path.dirname(input.histograms[0]),
            datasets=config["datasets"],
            weights=list(WEIGHTS.values()),
        script:
            "../workflow_scripts/published_table.py"

    rule published_comparison:
        """Our samples of the published models against the authors' histograms: both tables
        side by side, each pair with the run's noise floor at our sample count."""
        input:
            ours=rules.tables.output.metrics,
            theirs=rules.published_table.output.csv,
            data=expand(f"{DATA}.npz", dataset=config["datasets"]),
            floors=expand(FLOOR, dataset=config["datasets"]),
            truth=[
                str(
                    layout.histogram_path(PUBLISHED_DIRS["histograms_dir"], "truth", d)
                )
                for d in config["datasets"]
            ],
        output:
            csv=report(
                f"{TABLES}/published_comparison.csv",
                caption="captions/published_comparison.rst",
                category=CATEGORIES["tables"],
            ),
            markdown=f"{TABLES}/published_comparison.md",
        log:
            f"{LOGS}/published_comparison.log",
        benchmark:
            f"{BENCHMARKS}/published_comparison/all.tsv"
        conda:
            "../envs/benchmark.yaml"
        params:
            datasets=config["datasets"],
            n_samples=config["sampling"]["n_samples"],
            n_reference=config["data"]["n_reference"],
            grid=W2_GRID,
        script:
            "../workflow_scripts/compare_published.py"
