SAMPLING = config["sampling"]
SAMPLER_SEED_OFFSET = {"ode": 1, "sde": 2}


def sampler_settings(wildcards):
    """The sampling settings one sampler depends on (ODE tolerances do not touch the SDE)."""
    own = {"ode": ("ode_method", "ode_rtol", "ode_atol"), "sde": ("sde_method",)}
    other = {k for name, keys in own.items() if name != wildcards.sampler for k in keys}
    return {k: v for k, v in SAMPLING.items() if k not in other}


rule sample:
    """Samples of one model with the probability-flow ODE (torchdiffeq) or the reverse SDE
    (torchsde), from the prior at t_max down to t_min."""
    input:
        model=f"{MODEL_DIR}/model.pt",
    output:
        samples=SAMPLES,
    params:
        process=config["process"],
        model=config["model"],
        dim=lambda wc: dimension(wc.dataset),
        sampling=sampler_settings,
        method=lambda wc: SAMPLING[f"{wc.sampler}_method"],
        sample_seed=lambda wc: 1000 * int(wc.seed) + SAMPLER_SEED_OFFSET[wc.sampler],
    log:
        f"{LOGS}/sample/{RUN}/{{sampler}}.log",
    benchmark:
        f"{BENCHMARKS}/sample/{RUN}/{{sampler}}.tsv"
    threads: COMPUTE["threads"]
    resources:
        **job_resources(share=0.5),
    conda:
        "../envs/benchmark.yaml"
    script:
        "../workflow_scripts/sample.py"
