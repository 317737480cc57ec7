rule sample:
    """Samples of one model with the probability-flow ODE (torchdiffeq) or the reverse SDE
    (torchsde), from the prior at t_max down to t_min."""
    input:
        model=f"{MODEL_DIR}/model.pt",
    output:
        samples=SAMPLES,
    log:
        f"{LOGS}/sample/{RUN}/{{sampler}}.log",
    benchmark:
        f"{BENCHMARKS}/sample/{RUN}/{{sampler}}.tsv"
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
        sampling=lambda wc: sampler_settings(wc.sampler),
        sample_seed=lambda wc: seeds.sampler_seed(int(wc.seed), wc.sampler),
        kind=lambda wc: wc.sampler,
        eta=1.0,
    script:
        "../workflow_scripts/sample.py"
