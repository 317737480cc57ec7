"""Paths, run lists and resources shared by the rules. Every path is a function of wildcards
only; every setting that changes a result reaches a rule as params."""

import itertools

from odesdegap.config import format_weight
from odesdegap.datasets import dimension


wildcard_constraints:
    dataset="[a-z0-9_]+",
    weight="[0-9][0-9.e+-]*",
    seed="[0-9]+",
    sampler="ode|sde",


RESULTS = "results"
DATA = f"{RESULTS}/data/{{dataset}}"
RUN = "{dataset}/w{weight}/seed{seed}"
MODEL_DIR = f"{RESULTS}/models/{RUN}"
PRETRAINED_DIR = f"{RESULTS}/models/{{dataset}}/pretrained/seed{{seed}}"
SAMPLES = f"{RESULTS}/samples/{RUN}/{{sampler}}.npz"
METRICS = f"{RESULTS}/metrics/{RUN}.json"
LOGS = f"{RESULTS}/logs"
BENCHMARKS = f"{RESULTS}/benchmarks"

WEIGHTS = {format_weight(w): float(w) for w in config["fp_weights"]}
RUNS = [
    {"dataset": d, "weight": w, "seed": s}
    for d, w, s in itertools.product(config["datasets"], WEIGHTS, config["seeds"])
]
COMPUTE = config["compute"]


def run_paths(pattern):
    """`pattern` filled in for every (dataset, weight, seed) of the sweep."""
    return [pattern.format(**run) for run in RUNS]


def job_resources(share=1.0):
    """Resources of a compute job: what a SLURM profile turns into its request."""
    return {
        "mem_mb": COMPUTE["mem_mb"],
        "runtime": max(1, int(COMPUTE["runtime_minutes"] * share)),
        "gpu": COMPUTE["gpus"],
    }


def fp_weight(wildcards):
    return WEIGHTS[wildcards.weight]
