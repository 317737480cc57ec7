TRAINING = config["training"]
# Settings that change the weights; checkpoint_every only changes how often state is saved.
TRAINING_PARAMS = {k: v for k, v in TRAINING.items() if k != "checkpoint_every"}


def initial_weights(wildcards):
    """With the finetune schedule every weight starts from the shared DSM-only model."""
    if TRAINING["schedule"] == "finetune":
        return {"init": f"{PRETRAINED_DIR}/model.pt".format(**wildcards)}
    return {}


rule pretrain:
    """The shared DSM-only model that the finetune schedule starts every weight from."""
    input:
        data=f"{DATA}.npz",
    output:
        model=f"{PRETRAINED_DIR}/model.pt",
        history=f"{PRETRAINED_DIR}/training_log.csv",
        meta=f"{PRETRAINED_DIR}/model.json",
    params:
        process=config["process"],
        model=config["model"],
        training={**TRAINING_PARAMS, "steps": TRAINING["pretrain_steps"]},
        fp_weight=0.0,
        seed=lambda wc: int(wc.seed),
        checkpoint=f"{RESULTS}/checkpoints/{{dataset}}/pretrained/seed{{seed}}.pt",
    log:
        f"{LOGS}/pretrain/{{dataset}}/seed{{seed}}.log",
    benchmark:
        f"{BENCHMARKS}/pretrain/{{dataset}}/seed{{seed}}.tsv"
    threads: COMPUTE["threads"]
    resources:
        **job_resources(),
    conda:
        "../envs/benchmark.yaml"
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
    params:
        process=config["process"],
        model=config["model"],
        training=TRAINING_PARAMS,
        fp_weight=fp_weight,
        seed=lambda wc: int(wc.seed),
        checkpoint=f"{RESULTS}/checkpoints/{RUN}.pt",
    log:
        f"{LOGS}/train/{RUN}.log",
    benchmark:
        f"{BENCHMARKS}/train/{RUN}.tsv"
    threads: COMPUTE["threads"]
    resources:
        **job_resources(),
    conda:
        "../envs/benchmark.yaml"
    script:
        "../workflow_scripts/train.py"
