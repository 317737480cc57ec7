STUDY_DIR = f"{RESULTS}/studies"


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
            members=ETA_SAMPLERS,
            reference_sampler=REFERENCE_SAMPLER,
        script:
            "../workflow_scripts/make_eta_table.py"


# The NFE sweeps: samplers whose `nfe` is a list of budgets (a job per run and sampler, not per
# budget: every job pays seconds of start-up), plus each sweep on the exact score of Gaussian data
# (the exact lane: its distance to the data is discretisation error alone). A fast solver's
# sweep is an NFE study; a grid solver's (Euler, RK4 on uniform steps) the step-count study.
NFE_ROWS = f"{STUDY_DIR}/nfe/{RUN}/{{sampler}}.csv"
NFE_EXACT_ROWS = f"{STUDY_DIR}/nfe/exact_gaussian/{{sampler}}.csv"

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
            evaluation=SAMPLER_EVALUATION,
            fp_weight=fp_weight,
            seed=lambda wc: int(wc.seed),
        script:
            "../workflow_scripts/nfe_sweep.py"

    rule nfe_sweep_exact:
        """One NFE sweep on the exact lane: the sampler with the exact score of Gaussian data at
        each budget, W2^2 of its samples to the held-out draw of data set exact_gaussian, with
        that data set's noise floor (rules prepare_data and noise_floor, as for every data set;
        no trained model, no reference sampler)."""
        input:
            data=f"{DATA}.npz".format(dataset=EXACT_LANE),
            floor=FLOOR.format(dataset=EXACT_LANE),
        output:
            rows=NFE_EXACT_ROWS,
        log:
            f"{LOGS}/nfe_sweep/exact_gaussian/{{sampler}}.log",
        benchmark:
            f"{BENCHMARKS}/nfe_sweep_exact/{{sampler}}.tsv"
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
            sampling=sampler_settings,
            sample_seed=lambda wc: seeds.sampler_seed(0, wc.sampler),
            sampler=sampler_entry,
            evaluation=SAMPLER_EVALUATION,
            seed=0,
        script:
            "../workflow_scripts/nfe_sweep.py"

    localrules:
        nfe_table,
        nfe_findings,

    rule nfe_table:
        """Every NFE sweep's rows of every run and of the exact lane in one table
        (results/tables/nfe_study.csv), each row with its run's noise floors (from the metrics
        table; the exact lane's floor is its own).
        """
        input:
            rows=[
                NFE_ROWS.format(**run, sampler=name)
                for run in RUNS
                for name in SWEEP_SAMPLERS
            ],
            exact_rows=expand(NFE_EXACT_ROWS, sampler=SWEEP_SAMPLERS),
            metrics=f"{TABLES}/metrics.csv",
        output:
            table=f"{TABLES}/nfe_study.csv",
        log:
            f"{LOGS}/nfe_table.log",
        conda:
            "../envs/benchmark.yaml"
        script:
            "../workflow_scripts/make_nfe_table.py"

    rule nfe_findings:
        """The NFE study's findings, computed from its table: per solver, the smallest budget
        at which an FP weight beats w = 0 beyond the floor, whether the advantage seen with the
        gap's two samplers survives at 10 and 20 NFE, and the budget each solver needs to come
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
        params:
            gap=GAP,
        script:
            "../workflow_scripts/make_nfe_findings.py"
