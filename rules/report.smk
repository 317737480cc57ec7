# Aggregation and plots: seconds of work, run where Snakemake runs (no cluster job each).
localrules:
    tables,
    findings,
    figure_densities,
    figure_metrics,
    figure_training_curves,
    headline,
    tables_readme,
    benchmark_table,


rule tables:
    """Every run's metrics in one CSV; the per-(dataset, weight) summary in CSV, Markdown and
    LaTeX, with 95% intervals over seeds."""
    input:
        metrics=run_paths(METRICS),
    output:
        metrics=report(
            f"{TABLES}/metrics.csv",
            caption="captions/metrics.rst",
            category=CATEGORIES["tables"],
            labels={"table": "metrics of every run"},
        ),
        summary_csv=f"{TABLES}/summary.csv",
        summary_md=f"{TABLES}/summary.md",
        summary_tex=f"{TABLES}/summary.tex",
        summary_html=report(
            f"{TABLES}/summary.html",
            caption="captions/summary.rst",
            category=CATEGORIES["summary"],
            labels={"table": "summary", "of": "W2^2, FP residual, losses"},
        ),
    log:
        f"{LOGS}/tables.log",
    benchmark:
        f"{BENCHMARKS}/tables/all.tsv"
    conda:
        "../envs/benchmark.yaml"
    script:
        "../workflow_scripts/make_tables.py"


rule findings:
    """The paper's claims checked on this run, for the pair `gap` names (the ODE and the SDE by
    default): gap ratios to weight 0, the best weight for the first, the second's trend, and
    the residual-gap rank correlation."""
    input:
        metrics=rules.tables.output.metrics,
    output:
        markdown=f"{TABLES}/findings.md",
        html=report(
            f"{TABLES}/findings.html",
            caption="captions/findings.rst",
            category=CATEGORIES["findings"],
            labels={"page": "findings"},
        ),
        json=f"{TABLES}/findings.json",
    log:
        f"{LOGS}/findings.log",
    benchmark:
        f"{BENCHMARKS}/findings/all.tsv"
    conda:
        "../envs/benchmark.yaml"
    params:
        gap=GAP,
    script:
        "../workflow_scripts/make_findings.py"


rule figure_densities:
    """The paper's main figure for one data set: the gap's samplers' sample densities per
    weight (SDE and ODE for the default gap)."""
    input:
        unpack(first_seed_samples),
        data=f"{DATA}.npz",
    output:
        figure=report(
            f"{FIGURES}/{{dataset}}/sample_densities.png",
            caption="captions/sample_densities.rst",
            category=CATEGORIES["main"],
            labels={"data set": "{dataset}", "figure": "sample densities"},
        ),
        pdf=f"{FIGURES}/{{dataset}}/sample_densities.pdf",
    log:
        f"{LOGS}/figure_densities/{{dataset}}.log",
    benchmark:
        f"{BENCHMARKS}/figure_densities/{{dataset}}.tsv"
    conda:
        "../envs/benchmark.yaml"
    params:
        weights=list(WEIGHTS.values()),
        seed=FIRST_SEED,
        grid=W2_GRID,
        gap=GAP,
    script:
        "../workflow_scripts/plot_densities.py"


rule figure_metrics:
    """W2^2 against weight, FP residual against the gap (ODE–SDE for the default gap)."""
    input:
        metrics=rules.tables.output.metrics,
    output:
        w2_vs_weight=report(
            f"{FIGURES}/w2_vs_weight.png",
            caption="captions/w2_vs_weight.rst",
            category=CATEGORIES["figures"],
            labels={"figure": "w2 vs weight"},
        ),
        w2_vs_weight_pdf=f"{FIGURES}/w2_vs_weight.pdf",
        residual_vs_gap=report(
            f"{FIGURES}/residual_vs_gap.png",
            caption="captions/residual_vs_gap.rst",
            category=CATEGORIES["figures"],
            labels={"figure": "residual vs gap"},
        ),
        residual_vs_gap_pdf=f"{FIGURES}/residual_vs_gap.pdf",
    log:
        f"{LOGS}/figure_metrics.log",
    benchmark:
        f"{BENCHMARKS}/figure_metrics/all.tsv"
    conda:
        "../envs/benchmark.yaml"
    params:
        gap=GAP,
    script:
        "../workflow_scripts/plot_metrics.py"


rule figure_training_curves:
    """DSM loss and FP residual during training, every run (trained models only)."""
    input:
        histories=run_paths(f"{MODEL_DIR}/training_log.csv"),
        models=run_paths(f"{MODEL_DIR}/model.json"),
    output:
        training_curves=report(
            f"{FIGURES}/training_curves.png",
            caption="captions/training_curves.rst",
            category=CATEGORIES["figures"],
            labels={"figure": "training curves"},
        ),
        training_curves_pdf=f"{FIGURES}/training_curves.pdf",
    log:
        f"{LOGS}/figure_training_curves.log",
    benchmark:
        f"{BENCHMARKS}/figure_training_curves/all.tsv"
    conda:
        "../envs/benchmark.yaml"
    script:
        "../workflow_scripts/plot_training_curves.py"


rule benchmark_table:
    """Runtime and peak memory of every compute job, and totals by rule."""
    input:
        benchmarks=compute_benchmarks,
    output:
        jobs=f"{TABLES}/benchmarks_by_job.csv",
        by_rule=report(
            f"{TABLES}/benchmarks_by_rule.csv",
            caption="captions/benchmarks.rst",
            category=CATEGORIES["runtime"],
        ),
    log:
        f"{LOGS}/benchmark_table.log",
    benchmark:
        f"{BENCHMARKS}/benchmark_table/all.tsv"
    conda:
        "../envs/benchmark.yaml"
    params:
        root=lambda wc, input: os.path.commonpath(input.benchmarks),
    script:
        "../workflow_scripts/benchmark_table.py"


rule headline:
    """The run's headline, the report's landing text: the gap (ODE–SDE by default) at the
    largest weight against weight 0 with the noise floor, the best weight of the gap's first
    sampler, and the recipe in one line."""
    input:
        metrics=rules.tables.output.metrics,
        summary=rules.tables.output.summary_csv,
        findings=rules.findings.output.json,
        benchmarks=rules.benchmark_table.output.jobs,
        models=run_paths(f"{MODEL_DIR}/model.json"),
    output:
        rst=f"{TABLES}/headline.rst",
        html=report(
            f"{TABLES}/headline.html",
            caption="captions/headline.rst",
            category=CATEGORIES["findings"],
            labels={"page": "headline"},
        ),
    log:
        f"{LOGS}/headline.log",
    conda:
        "../envs/benchmark.yaml"
    params:
        # The Snakefile's own config.yaml first, then the --configfile(s) over it.
        configfiles=sorted(
            (os.path.relpath(f) for f in workflow.configfiles),
            key=lambda f: f != "config.yaml",
        ),
        datasets=config["datasets"],
        weights=list(WEIGHTS.values()),
        seeds=config["seeds"],
        training_steps=TRAINING["steps"],
        n_samples=SAMPLING["n_samples"],
        sampling_steps=SAMPLING["steps"],
        grid=W2_GRID,
        gap=GAP,
    script:
        "../workflow_scripts/make_headline.py"


rule tables_readme:
    """results/tables/README.md: what each column of the run's tables means, and which W2
    method and grid convention produced them."""
    input:
        metrics=rules.tables.output.metrics,
        tables=lambda wc: run_tables(),
    output:
        readme=report(
            f"{TABLES}/README.md",
            caption="captions/tables_readme.rst",
            category=CATEGORIES["tables"],
            labels={"table": "README: what each column means"},
        ),
    log:
        f"{LOGS}/tables_readme.log",
    conda:
        "../envs/benchmark.yaml"
    params:
        grid=W2_GRID,
        gap=GAP,
    script:
        "../workflow_scripts/make_tables_readme.py"
