rule pretrain:
    """The shared DSM-only model that the finetune schedule starts every weight from."""
    input:
        data=f"{DATA}.npz",
    output:
        model=f"{PRETRAINED_DIR}/model.pt",
        history=f"{PRETRAINED_DIR}/training_log.csv",
        meta=f"{PRETRAINED_DIR}/model.json",
    log:
        f"{LOGS}/pretrain/{{dataset}}/seed{{seed}}.log",
    benchmark:
        f"{BENCHMARKS}/pretrain/{{dataset}}/seed{{seed}}.tsv"
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
        training={**TRAINING_PARAMS, "steps": TRAINING["pretrain_steps"]},
        fp_weight=0.0,
        seed=lambda wc: int(wc.seed),
        checkpoint=f"{RESULTS}/checkpoints/{{dataset}}/pretrained/seed{{seed}}.pt",
    script:
        "../workflow_scripts/train.py"


rule train:
    """One score model: DSM plus the FP residual at weight w_R, from one seed."""
    input:
        unpack(initial_weights),
        data=f"{DATA}.npz",
    output:
        model=f"{MODEL_DIR}/model.pt",
        history=f"{MODEL_DIR}/training_log.csv",
        meta=f"{MODEL_DIR}/model.json",
    log:
        f"{LOGS}/train/{RUN}.log",
    benchmark:
        f"{BENCHMARKS}/train/{RUN}.tsv"
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
        training=TRAINING_PARAMS,
        fp_weight=fp_weight,
        seed=lambda wc: int(wc.seed),
        checkpoint=f"{RESULTS}/checkpoints/{RUN}.pt",
    script:
        "../workflow_scripts/train.py"


onsuccess:
    remove_accepted_checkpoints()


onerror:
    remove_accepted_checkpoints()
