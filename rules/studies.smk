STUDY_DIR = f"{RESULTS}/studies"
ETA_SAMPLES = f"{RESULTS}/samples/{RUN}/eta{{eta}}.npz"
# One CSV of rows per run, each row naming its run: the tables concatenate them.
ETA_ROWS = f"{STUDY_DIR}/eta/{RUN}.csv"
SAMPLER_ROWS = f"{STUDY_DIR}/samplers/{RUN}.csv"


# The tables and figures that gather every run: seconds of work, run where Snakemake runs.
localrules:
    eta_table,
    sampler_table,


rule sample_eta:
    """Samples of one model from a member eta of the SDE family between the ODE (eta = 0) and
    the reverse SDE (eta = 1), integrated by torchsde."""
    input:
        model=f"{MODEL_DIR}/model.pt",
    output:
        samples=ETA_SAMPLES,
    log:
        f"{LOGS}/sample_eta/{RUN}/eta{{eta}}.log",
    benchmark:
        f"{BENCHMARKS}/sample_eta/{RUN}/eta{{eta}}.tsv"
    conda:
        "../envs/benchmark.yaml"
    threads: COMPUTE["threads"]
    resources:
        **job_resources(share=0.5),
    params:
        engine=ENGINE,
        process=config["process"],
        model=MODEL,
        image_shape=shape_of,
        dim=lambda wc: dimension(wc.dataset),
        sampling=sampler_settings("sde"),
        sample_seed=eta_seed,
        kind="sde",
        eta=lambda wc: configured(ETAS, wc, "eta", "studies.eta"),
    script:
        "../workflow_scripts/sample.py"


rule evaluate_eta:
    """W2^2 of every eta's samples to the data, the ODE and the SDE samples of one run."""
    input:
        data=f"{DATA}.npz",
        ode=SAMPLES.replace("{sampler}", "ode"),
        sde=SAMPLES.replace("{sampler}", "sde"),
        etas=lambda wc: [ETA_SAMPLES.format(eta=eta, **wc) for eta in ETAS],
    output:
        rows=ETA_ROWS,
    log:
        f"{LOGS}/evaluate_eta/{RUN}.log",
    benchmark:
        f"{BENCHMARKS}/evaluate_eta/{RUN}.tsv"
    conda:
        "../envs/benchmark.yaml"
    threads: 1
    resources:
        **job_resources(share=0.5, uses_gpu=False),
    params:
        etas=list(ETAS.values()),
        grid=W2_GRID,
        fp_weight=fp_weight,
        seed=lambda wc: int(wc.seed),
    script:
        "../workflow_scripts/evaluate_eta.py"


rule sampler_study:
    """ODE–SDE W2^2 against step count and integrator, for one trained model."""
    input:
        data=f"{DATA}.npz",
        model=f"{MODEL_DIR}/model.pt",
    output:
        rows=SAMPLER_ROWS,
    log:
        f"{LOGS}/sampler_study/{RUN}.log",
    benchmark:
        f"{BENCHMARKS}/sampler_study/{RUN}.tsv"
    conda:
        "../envs/benchmark.yaml"
    threads: COMPUTE["threads"]
    resources:
        **job_resources(),
    params:
        engine=ENGINE,
        process=config["process"],
        model=MODEL,
        image_shape=shape_of,
        study=SAMPLER_STUDY,
        grid=W2_GRID,
        fp_weight=fp_weight,
        seed=lambda wc: int(wc.seed),
    script:
        "../workflow_scripts/sampler_study.py"


rule sampler_study_exact:
    """The same study for the exact score of Gaussian data: pure discretisation error."""
    output:
        rows=f"{STUDY_DIR}/samplers/exact_gaussian.csv",
    log:
        f"{LOGS}/sampler_study/exact_gaussian.log",
    benchmark:
        f"{BENCHMARKS}/sampler_study/exact_gaussian.tsv"
    conda:
        "../envs/benchmark.yaml"
    threads: COMPUTE["threads"]
    resources:
        **job_resources(),
    params:
        engine=ENGINE,
        process=config["process"],
        study=SAMPLER_STUDY,
        grid=W2_GRID,
        seed=0,
    script:
        "../workflow_scripts/sampler_study.py"


rule eta_table:
    """The eta sweep of every run: one table and one figure."""
    input:
        rows=run_paths(ETA_ROWS),
    output:
        table=f"{TABLES}/eta_sweep.csv",
        figure=report(
            f"{FIGURES}/eta_sweep.png",
            caption="captions/eta_sweep.rst",
            category=CATEGORIES["studies"],
            labels={"figure": "eta sweep"},
        ),
        pdf=f"{FIGURES}/eta_sweep.pdf",
    log:
        f"{LOGS}/eta_table.log",
    benchmark:
        f"{BENCHMARKS}/eta_table/all.tsv"
    conda:
        "../envs/benchmark.yaml"
    params:
        study="eta",
    script:
        "../workflow_scripts/make_study_table.py"


rule sampler_table:
    """The sampler study of every (data set, weight) at the first seed, and of the exact score:
    one table and one figure."""
    input:
        rows=first_seed_paths(SAMPLER_ROWS) + [rules.sampler_study_exact.output.rows],
    output:
        table=f"{TABLES}/sampler_study.csv",
        figure=report(
            f"{FIGURES}/sampler_study.png",
            caption="captions/sampler_study.rst",
            category=CATEGORIES["studies"],
            labels={"figure": "sampler study"},
        ),
        pdf=f"{FIGURES}/sampler_study.pdf",
    log:
        f"{LOGS}/sampler_table.log",
    benchmark:
        f"{BENCHMARKS}/sampler_table/all.tsv"
    conda:
        "../envs/benchmark.yaml"
    params:
        study="sampler",
    script:
        "../workflow_scripts/make_study_table.py"
