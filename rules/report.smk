FIRST_SEED = config["seeds"][0]


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
    figure_sample_grids,
    fid_table,


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
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../workflow_scripts/make_tables.py"


rule findings:
    """The paper's claims checked on this run: gap ratios to weight 0, the best weight for the
    ODE, the SDE's trend, and the residual-gap rank correlation."""
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
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../workflow_scripts/make_findings.py"


rule figure_densities:
    """The paper's main figure for one data set: SDE and ODE sample densities per weight."""
    input:
        data=f"{DATA}.npz",
        sde=lambda wc: [
            SAMPLES.format(
                dataset=wc.dataset, weight=w, seed=FIRST_SEED, sampler="sde"
            )
            for w in WEIGHTS
        ],
        ode=lambda wc: [
            SAMPLES.format(
                dataset=wc.dataset, weight=w, seed=FIRST_SEED, sampler="ode"
            )
            for w in WEIGHTS
        ],
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
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        weights=list(WEIGHTS.values()),
        seed=FIRST_SEED,
        half_width=config["evaluation"]["box_half_width"],
        bins=config["evaluation"]["grid_bins"],
    script:
        "../workflow_scripts/plot_densities.py"


rule figure_metrics:
    """W2^2 against weight, FP residual against the ODE–SDE gap."""
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
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../workflow_scripts/plot_metrics.py"


rule figure_training_curves:
    """DSM loss and FP residual during training, every run (trained models only)."""
    input:
        histories=run_paths(f"{MODEL_DIR}/training_log.csv"),
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
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        runs=[(r["dataset"], WEIGHTS[r["weight"]], r["seed"]) for r in RUNS],
    script:
        "../workflow_scripts/plot_training_curves.py"


rule benchmark_table:
    """Runtime and peak memory of every compute job, and totals by rule."""
    input:
        benchmarks=(
            expand(
                f"{BENCHMARKS}/prepare_data/{{dataset}}.tsv",
                dataset=config["datasets"],
            )
            + expand(
                f"{BENCHMARKS}/noise_floor/{{dataset}}.tsv",
                dataset=config["datasets"],
            )
            + run_paths(
                f"{BENCHMARKS}/{'import_published' if PUBLISHED else 'train'}/{RUN}.tsv"
            )
            + [
                p
                for s in ("ode", "sde")
                for p in run_paths(f"{BENCHMARKS}/sample/{RUN}/{s}.tsv")
            ]
            + run_paths(f"{BENCHMARKS}/evaluate/{RUN}.tsv")
            + expand(
                f"{BENCHMARKS}/train_classifier/{{dataset}}.tsv",
                dataset=IMAGE_DATASETS if "classifier" in FID_EXTRACTORS else [],
            )
            + [
                p
                for e in FID_EXTRACTORS
                for p in run_paths(f"{BENCHMARKS}/evaluate_fid/{e}/{RUN}.tsv")
            ]
        ),
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
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        root=lambda wc, input: os.path.commonpath(input.benchmarks),
    script:
        "../workflow_scripts/benchmark_table.py"


rule figure_sample_grids:
    """Image data sets: SDE and ODE samples side by side, one row per weight."""
    input:
        data=f"{DATA}.npz",
        sde=lambda wc: [
            SAMPLES.format(
                dataset=wc.dataset, weight=w, seed=FIRST_SEED, sampler="sde"
            )
            for w in WEIGHTS
        ],
        ode=lambda wc: [
            SAMPLES.format(
                dataset=wc.dataset, weight=w, seed=FIRST_SEED, sampler="ode"
            )
            for w in WEIGHTS
        ],
    output:
        figure=report(
            f"{FIGURES}/{{dataset}}/sample_grids.png",
            caption="captions/sample_grids.rst",
            category=CATEGORIES["main"],
            labels={"data set": "{dataset}", "figure": "sample grids"},
        ),
        pdf=f"{FIGURES}/{{dataset}}/sample_grids.pdf",
    log:
        f"{LOGS}/figure_sample_grids/{{dataset}}.log",
    benchmark:
        f"{BENCHMARKS}/figure_sample_grids/{{dataset}}.tsv"
    conda:
        "../envs/benchmark.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        weights=list(WEIGHTS.values()),
        seed=FIRST_SEED,
        image_shape=shape_of,
    script:
        "../workflow_scripts/plot_sample_grids.py"


rule fid_table:
    """FID and KID of every image run and extractor, and their per-weight summary."""
    input:
        fid=[
            path
            for extractor in FID_EXTRACTORS
            for path in run_paths(FID.replace("{extractor}", extractor))
        ],
        classifiers=expand(
            f"{CLASSIFIER_DIR}/model.json",
            dataset=IMAGE_DATASETS if "classifier" in FID_EXTRACTORS else [],
        ),
    output:
        runs=f"{TABLES}/fid.csv",
        summary_csv=f"{TABLES}/fid_summary.csv",
        summary_md=f"{TABLES}/fid_summary.md",
        summary_tex=f"{TABLES}/fid_summary.tex",
        summary_html=report(
            f"{TABLES}/fid_summary.html",
            caption="captions/fid.rst",
            category=CATEGORIES["summary"],
            labels={"table": "summary (images)", "of": "FID, KID"},
        ),
    log:
        f"{LOGS}/fid_table.log",
    benchmark:
        f"{BENCHMARKS}/fid_table/all.tsv"
    conda:
        "../envs/benchmark.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../workflow_scripts/make_fid_table.py"


rule headline:
    """The run's headline, the report's landing text: the ODE–SDE gap at the largest weight
    against weight 0 with the noise floor, the ODE's best weight, and the recipe in one line.
    """
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
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
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
        grid_bins=config["evaluation"]["grid_bins"],
        grid_convention=config["evaluation"]["grid_convention"],
    script:
        "../workflow_scripts/make_headline.py"


rule tables_readme:
    """results/tables/README.md: what each column of the run's tables means, and which W2
    method and grid convention produced them."""
    input:
        metrics=rules.tables.output.metrics,
        tables=[
            rules.tables.output.metrics,
            rules.tables.output.summary_csv,
            rules.benchmark_table.output.jobs,
            rules.benchmark_table.output.by_rule,
        ]
        + (
            [rules.fid_table.output.runs, rules.fid_table.output.summary_csv]
            if IMAGE_DATASETS
            else []
        )
        + ([rules.eta_table.output.table] if ETAS else [])
        + ([rules.sampler_table.output.table] if SAMPLER_STUDY["steps"] else []),
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
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        grid_bins=config["evaluation"]["grid_bins"],
        grid_convention=config["evaluation"]["grid_convention"],
    script:
        "../workflow_scripts/make_tables_readme.py"
