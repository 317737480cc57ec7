rule sample:
    """Samples of one model with one configured sampler (samplers.<name>): the probability-flow
    ODE (torchdiffeq), the reverse SDE or a member eta of the family between them (torchsde),
    or a few-step solver (odesdegap.diffusion.fast_solvers), from the prior at t_max down to
    t_min. A rule per sampler, cached separately: adding a sampler samples only it."""
    input:
        model=f"{MODEL_DIR}/model.pt",
    output:
        samples=SAMPLES,
    log:
        f"{LOGS}/sample/{RUN}/{{sampler}}.log",
    benchmark:
        f"{BENCHMARKS}/sample/{RUN}/{{sampler}}.tsv"
    wildcard_constraints:
        sampler=SAMPLE_PATTERN,
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
        sampling=sampler_settings,
        sample_seed=sampler_seed,
        sampler=sampler_entry,
        name=lambda wc: wc.sampler,
    script:
        "../workflow_scripts/sample.py"
