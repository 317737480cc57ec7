rule noise_floor:
    """W2^2 between independent held-out sets of one data set at the runs' sample size, with
    the runs' W2 method, grid and convention: the floor every distance is read against.
    """
    input:
        data=f"{DATA}.npz",
    output:
        floor=FLOOR,
    log:
        f"{LOGS}/noise_floor/{{dataset}}.log",
    benchmark:
        f"{BENCHMARKS}/noise_floor/{{dataset}}.tsv"
    conda:
        "../envs/benchmark.yaml"
    threads: 1
    resources:
        **job_resources(share=0.5, uses_gpu=False),
    params:
        n_samples=SAMPLING["n_samples"],
        seed=config["data"]["seed"],
        evaluation=W2_SETTINGS,
    script:
        "../workflow_scripts/noise_floor.py"


# The settings of a sampler's distances: the W2 method and grid, and the sliced cross-check.
SAMPLER_EVALUATION = {
    **W2_SETTINGS,
    **{k: config["evaluation"][k] for k in ("sliced_projections", "sliced_max_points")},
}


rule evaluate_sampler:
    """One sampler of one run: W2^2 to the held-out data and to the reference sampler's samples
    (on the paper's grid in 2-D), each with its sliced W2^2, its NFE and its lost samples.
    A job per sampler: adding one computes only its own distances."""
    input:
        unpack(reference_samples),
        data=f"{DATA}.npz",
        samples=SAMPLES,
    output:
        metrics=SAMPLER_METRICS,
    log:
        f"{LOGS}/evaluate_sampler/{RUN}/{{sampler}}.log",
    benchmark:
        f"{BENCHMARKS}/evaluate_sampler/{RUN}/{{sampler}}.tsv"
    wildcard_constraints:
        sampler=SAMPLE_PATTERN,
    conda:
        "../envs/benchmark.yaml"
    threads: 1
    resources:
        **job_resources(share=0.5, uses_gpu=False),
    params:
        evaluation=SAMPLER_EVALUATION,
        reference_sampler=REFERENCE_SAMPLER,
    script:
        "../workflow_scripts/evaluate_sampler.py"


rule evaluate:
    """What no sampler changes: the model's FP residual (on the box and near the data), its
    held-out DSM loss and NLL, next to the data set's noise floor."""
    input:
        data=f"{DATA}.npz",
        floor=FLOOR,
        model=f"{MODEL_DIR}/model.pt",
    output:
        metrics=MODEL_METRICS,
    log:
        f"{LOGS}/evaluate/{RUN}.log",
    benchmark:
        f"{BENCHMARKS}/evaluate/{RUN}.tsv"
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
        evaluation={k: v for k, v in config["evaluation"].items() if k != "fid"},
        dsm_weighting=TRAINING["dsm_weighting"],
        fp_weight=fp_weight,
        seed=lambda wc: int(wc.seed),
        n_samples=SAMPLING["n_samples"],
    script:
        "../workflow_scripts/evaluate.py"


# Joining a run's row is seconds of work: run where Snakemake runs.
localrules:
    metrics,


rule metrics:
    """The metrics row of one run: rule evaluate's record joined with every sampler's, keyed by
    sampler name (w2sq_{name}_data, w2sq_{name}_{gap[1]}, ...)."""
    input:
        model=MODEL_METRICS,
        samplers=lambda wc: [
            SAMPLER_METRICS.format(**wc, sampler=name) for name in SAMPLE_SAMPLERS
        ],
    output:
        metrics=METRICS,
    log:
        f"{LOGS}/metrics/{RUN}.log",
    conda:
        "../envs/benchmark.yaml"
    params:
        samplers=SAMPLE_SAMPLERS,
        gap=GAP,
        evaluation={k: v for k, v in config["evaluation"].items() if k != "fid"},
    script:
        "../workflow_scripts/join_metrics.py"
