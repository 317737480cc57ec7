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


rule evaluate:
    """W2^2 (ODE–SDE, ODE–data, SDE–data) on the paper's grid next to their noise floor,
    sliced W2^2, the model's FP residual and its held-out DSM loss."""
    input:
        data=f"{DATA}.npz",
        floor=FLOOR,
        model=f"{MODEL_DIR}/model.pt",
        ode=SAMPLES.replace("{sampler}", "ode"),
        sde=SAMPLES.replace("{sampler}", "sde"),
    output:
        metrics=METRICS,
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
    script:
        "../workflow_scripts/evaluate.py"
