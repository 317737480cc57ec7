STUDY_DIR = f"{RESULTS}/studies"
SAMPLER_ROWS = f"{STUDY_DIR}/samplers/{RUN}.csv"


# The eta family: the samplers with dynamics eta, sampled and evaluated like every sampler
# (rules sample and evaluate_sampler); its table and figure come from their metrics columns.
if ETA_SAMPLERS:

    localrules:
        eta_table,

    rule eta_table:
        """The eta family of every run: each member's W2^2 to the data and to the reference
        sampler, from the metrics table, in one table and one figure."""
        input:
            metrics=f"{TABLES}/metrics.csv",
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
            members=ETA_SAMPLERS,
            reference_sampler=REFERENCE_SAMPLER,
        script:
            "../workflow_scripts/make_study_table.py"


# The sampler study, when the config lists step counts.
if SAMPLER_STUDY["steps"]:

    localrules:
        sampler_table,

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

    rule sampler_table:
        """The sampler study of every (data set, weight) at the first seed, and of the exact score:
        one table and one figure."""
        input:
            rows=first_seed_paths(SAMPLER_ROWS)
            + [rules.sampler_study_exact.output.rows],
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


# The NFE sweeps: samplers whose `nfe` is a list of budgets (a job per run and sampler, not per
# budget: every job pays seconds of start-up).
NFE_ROWS = f"{STUDY_DIR}/nfe/{RUN}/{{sampler}}.csv"

if SWEEP_SAMPLERS:

    rule nfe_sweep:
        """One NFE sweep of one run: the sampler at each of its budgets, W2^2 of each budget's
        samples to the data and to the reference sampler's samples, one row per budget.
        """
        input:
            data=f"{DATA}.npz",
            model=f"{MODEL_DIR}/model.pt",
            reference=SAMPLES.replace("{sampler}", REFERENCE_SAMPLER),
        output:
            rows=NFE_ROWS,
        log:
            f"{LOGS}/nfe_sweep/{RUN}/{{sampler}}.log",
        benchmark:
            f"{BENCHMARKS}/nfe_sweep/{RUN}/{{sampler}}.tsv"
        wildcard_constraints:
            sampler=SWEEP_PATTERN,
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
            dim=lambda wc: dimension(wc.dataset),
            sampling=sampler_settings,
            sample_seed=sampler_seed,
            sampler=sampler_entry,
            grid=W2_GRID,
            fp_weight=fp_weight,
            seed=lambda wc: int(wc.seed),
        script:
            "../workflow_scripts/nfe_sweep.py"

    localrules:
        nfe_table,
        nfe_findings,

    rule nfe_table:
        """Every NFE sweep's rows of every run in one table (results/tables/nfe_study.csv), each
        row with its run's noise floors and sample count (from the metrics table).
        """
        input:
            rows=[
                NFE_ROWS.format(**run, sampler=name)
                for run in RUNS
                for name in SWEEP_SAMPLERS
            ],
            metrics=f"{TABLES}/metrics.csv",
        output:
            table=f"{TABLES}/nfe_study.csv",
        log:
            f"{LOGS}/nfe_table.log",
        conda:
            "../envs/benchmark.yaml"
        params:
            n_samples=SAMPLING["n_samples"],
        script:
            "../workflow_scripts/make_nfe_table.py"

    rule nfe_findings:
        """The NFE study's findings, computed from its table: per solver, the smallest budget
        at which an FP weight beats w = 0 beyond the floor, whether the advantage seen with the
        reference samplers survives at 10 and 20 NFE, and the budget each solver needs to come
        within the floor of its own best result; and its figure."""
        input:
            table=rules.nfe_table.output.table,
            metrics=f"{TABLES}/metrics.csv",
        output:
            json=f"{TABLES}/nfe_findings.json",
            markdown=report(
                f"{TABLES}/nfe_findings.md",
                caption="captions/nfe_findings.rst",
                category=CATEGORIES["studies"],
                labels={"table": "NFE study findings"},
            ),
            figure=report(
                f"{FIGURES}/nfe_study.png",
                caption="captions/nfe_study.rst",
                category=CATEGORIES["studies"],
                labels={"figure": "NFE study"},
            ),
            pdf=f"{FIGURES}/nfe_study.pdf",
        log:
            f"{LOGS}/nfe_findings.log",
        benchmark:
            f"{BENCHMARKS}/nfe_findings/all.tsv"
        conda:
            "../envs/benchmark.yaml"
        script:
            "../workflow_scripts/make_nfe_findings.py"
