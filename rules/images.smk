# The image data sets' plots and tables: seconds of work, run where Snakemake runs.
localrules:
    figure_sample_grids,
    fid_table,


rule train_classifier:
    """The small CNN classifier of one image data set: the offline FID feature extractor. Its
    held-out accuracy is recorded, so a poor extractor is visible next to the FID it gives.
    """
    input:
        data=f"{DATA}.npz",
    output:
        model=f"{CLASSIFIER_DIR}/model.pt",
        meta=f"{CLASSIFIER_DIR}/model.json",
        history=f"{CLASSIFIER_DIR}/training_log.csv",
    log:
        f"{LOGS}/train_classifier/{{dataset}}.log",
    benchmark:
        f"{BENCHMARKS}/train_classifier/{{dataset}}.tsv"
    conda:
        "../envs/benchmark.yaml"
    threads: COMPUTE["threads"]
    resources:
        **job_resources(share=0.5),
    params:
        classifier=config["classifier"],
        image_shape=shape_of,
    script:
        "../workflow_scripts/train_classifier.py"


rule reference_features:
    """Features of the held-out images, computed once per data set and extractor."""
    input:
        unpack(feature_extractor_inputs),
        data=f"{DATA}.npz",
    output:
        features=REFERENCE_FEATURES,
    log:
        f"{LOGS}/reference_features/{{extractor}}/{{dataset}}.log",
    benchmark:
        f"{BENCHMARKS}/reference_features/{{extractor}}/{{dataset}}.tsv"
    conda:
        "../envs/benchmark.yaml"
    threads: COMPUTE["threads"]
    resources:
        **job_resources(share=0.5),
    params:
        **EXTRACTOR_PARAMS,
    script:
        "../workflow_scripts/reference_features.py"


rule evaluate_fid:
    """FID and KID (clean-fid) of one run between the gap's two samplers and each with the data
    (for the default gap: ODE–SDE, ODE–data and SDE–data)."""
    input:
        unpack(feature_extractor_inputs),
        unpack(gap_samples),
        reference=REFERENCE_FEATURES,
    output:
        metrics=FID,
    log:
        f"{LOGS}/evaluate_fid/{{extractor}}/{RUN}.log",
    benchmark:
        f"{BENCHMARKS}/evaluate_fid/{{extractor}}/{RUN}.tsv"
    conda:
        "../envs/benchmark.yaml"
    threads: COMPUTE["threads"]
    resources:
        **job_resources(share=0.5),
    params:
        **EXTRACTOR_PARAMS,
        kid_subsets=FID_SETTINGS["kid_subsets"],
        kid_subset_size=FID_SETTINGS["kid_subset_size"],
        fp_weight=fp_weight,
        seed=lambda wc: int(wc.seed),
        evaluation_seed=config["evaluation"]["seed"],
        gap=GAP,
    script:
        "../workflow_scripts/evaluate_fid.py"


rule figure_sample_grids:
    """Image data sets: the gap's samplers' samples side by side (SDE and ODE for the default
    gap), one row per weight."""
    input:
        unpack(first_seed_samples),
        data=f"{DATA}.npz",
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
    params:
        weights=list(WEIGHTS.values()),
        seed=FIRST_SEED,
        image_shape=shape_of,
        gap=GAP,
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
    params:
        gap=GAP,
    script:
        "../workflow_scripts/make_fid_table.py"
