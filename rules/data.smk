# Data preparation runs where Snakemake runs (on a cluster, the login node): it is seconds of
# work, and torchvision's downloads need the network, which compute nodes often lack.
localrules:
    prepare_data,


rule prepare_data:
    """Training set and held-out reference set of one data set."""
    output:
        data=f"{DATA}.npz",
        meta=f"{DATA}.json",
    log:
        f"{LOGS}/prepare_data/{{dataset}}.log",
    benchmark:
        f"{BENCHMARKS}/prepare_data/{{dataset}}.tsv"
    conda:
        "../envs/benchmark.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc: 4000 if wc.dataset in TORCHVISION_DATASETS else 1000,
        runtime=10,
    params:
        n_train=config["data"]["n_train"],
        n_reference=config["data"]["n_reference"],
        seed=config["data"]["seed"],
    script:
        "../workflow_scripts/prepare_data.py"
