"""Paths, run lists and resources shared by the rules. Every path is a function of wildcards
only; every setting that changes a result reaches a rule as params."""

import itertools
import os
import sys

from odesdegap import cluster, seeds
from odesdegap.config import format_weight
from odesdegap.data.datasets import EXACT_LANE, data_scale, dimension, image_shape
from odesdegap.diffusion.dynamics import ETA, ODE
from odesdegap.diffusion.processes import build_process
from odesdegap.diffusion.samplers import with_noise_range
from odesdegap.data.images import TORCHVISION_DATASETS
from odesdegap.models import model_settings
from odesdegap.reporting.gap import Gap

# The configured samplers, by name (samplers.<name>): the `sampler` wildcard takes these only.
SAMPLERS = config["samplers"]
# The pair whose gap the findings, headline, figures and FID read (config `gap`): the first is
# compared against the second, the reference every sampler is compared with.
GAP = config["gap"]
REFERENCE_SAMPLER = GAP[1]
# The forward process, for the fast solvers' noise range (sampler_entry).
PROCESS = build_process(config["process"])
# A sampler whose `nfe` is a list is an NFE sweep: it writes rows (rule nfe_sweep), not samples.
SWEEP_SAMPLERS = [
    name for name, entry in SAMPLERS.items() if isinstance(entry["nfe"], list)
]
SAMPLE_SAMPLERS = [name for name in SAMPLERS if name not in SWEEP_SAMPLERS]


# The `sampler` wildcard's patterns: every configured name; those that write samples; the
# NFE sweeps ("(?!)" matches nothing).
SAMPLER_PATTERN = "|".join(SAMPLERS)
SAMPLE_PATTERN = "|".join(SAMPLE_SAMPLERS) or "(?!)"
SWEEP_PATTERN = "|".join(SWEEP_SAMPLERS) or "(?!)"


wildcard_constraints:
    dataset="[a-z0-9_]+",
    weight="[0-9][0-9.e+-]*",
    seed="[0-9]+",
    sampler=SAMPLER_PATTERN,
    extractor="classifier|inception",


RESULTS = "results"
DATA = f"{RESULTS}/data/{{dataset}}"
RUN = "{dataset}/w{weight}/seed{seed}"
MODEL_DIR = f"{RESULTS}/models/{RUN}"
PRETRAINED_DIR = f"{RESULTS}/models/{{dataset}}/pretrained/seed{{seed}}"
SAMPLES = f"{RESULTS}/samples/{RUN}/{{sampler}}.npz"
METRICS = f"{RESULTS}/metrics/{RUN}.json"
# The parts a run's metrics row is joined from (the metrics rule): the model's, and each sampler's.
MODEL_METRICS = f"{RESULTS}/metrics/{RUN}/model.json"
SAMPLER_METRICS = f"{RESULTS}/metrics/{RUN}/samplers/{{sampler}}.json"
FLOOR = f"{RESULTS}/floor/{{dataset}}.json"
TABLES = f"{RESULTS}/tables"
FIGURES = f"{RESULTS}/figures"
LOGS = f"{RESULTS}/logs"
BENCHMARKS = f"{RESULTS}/benchmarks"
CLASSIFIER_DIR = f"{RESULTS}/classifiers/{{dataset}}"
REFERENCE_FEATURES = f"{RESULTS}/fid/{{extractor}}/{{dataset}}/reference_features.npz"
FID = f"{RESULTS}/fid/{{extractor}}/{RUN}.json"

WEIGHTS = {format_weight(w): float(w) for w in config["fp_weights"]}
RUNS = [
    {"dataset": d, "weight": w, "seed": s}
    for d, w, s in itertools.product(config["datasets"], WEIGHTS, config["seeds"])
]
# The seed of the figures of single runs.
FIRST_SEED = config["seeds"][0]
IMAGE_DATASETS = [d for d in config["datasets"] if image_shape(d) is not None]
POINT_DATASETS = [d for d in config["datasets"] if image_shape(d) is None]
FID_EXTRACTORS = (
    config["evaluation"]["fid"]["feature_extractors"] if IMAGE_DATASETS else []
)
MODEL = model_settings(config["model"])
COMPUTE = config["compute"]
TRAINING = config["training"]
# Settings that change the weights: checkpoint_every only changes how often state is saved,
# and pretrain_steps matters only to the finetune schedule.
TRAINING_PARAMS = {
    k: v
    for k, v in TRAINING.items()
    if k != "checkpoint_every"
    and not (k == "pretrain_steps" and TRAINING["schedule"] == "joint")
}
SAMPLING = config["sampling"]
# How derivatives are computed (round-off-level differences): a param of every job that
# trains, samples or evaluates a model.
ENGINE = config["engine"]
# The settings of the W2 grid (distances.Grid.from_settings reads these keys).
W2_GRID = {
    k: config["evaluation"][k]
    for k in ("grid_bins", "box_half_width", "grid_convention")
}
# The settings that decide how W2^2 is computed: the noise floor depends on these only.
W2_SETTINGS = {
    **W2_GRID,
    **{
        k: config["evaluation"][k] for k in ("w2_method", "w2_subsample_points", "seed")
    },
}
# The eta family's members: name -> eta (the samplers with dynamics eta).
ETA_SAMPLERS = {
    name: entry["eta"]
    for name, entry in SAMPLERS.items()
    if entry["dynamics"] == ETA and name in SAMPLE_SAMPLERS
}
# With published.checkpoints_dir set, the models are the authors' (imported), not trained.
PUBLISHED = config["published"]["checkpoints_dir"] is not None
HISTOGRAMS = PUBLISHED and config["published"]["histograms_dir"] is not None
# The report's menu sorts categories by name: the numbers put the answer first.
CATEGORIES = {
    "main": "1. Main figure",
    "summary": "2. Summary table",
    "findings": "3. Findings",
    "figures": "4. Figures",
    "tables": "5. Tables",
    "studies": "6. Studies",
    "runtime": "7. Runtime",
}


def run_paths(pattern):
    """`pattern` filled in for every (dataset, weight, seed) of the sweep."""
    return [pattern.format(**run) for run in RUNS]


def first_seed_samples(wildcards):
    """The samples of the gap's two samplers (inputs `first` and `second`: reporting.gap.Gap's
    fields; the scripts read the sampler names from their `gap` param) for one data set's first
    seed, one per weight (in WEIGHTS' order: the figures' `weights` param)."""
    return {
        role: [
            SAMPLES.format(
                dataset=wildcards.dataset, weight=w, seed=FIRST_SEED, sampler=sampler
            )
            for w in WEIGHTS
        ]
        for role, sampler in Gap(*GAP)._asdict().items()
    }


def gap_samples(wildcards):
    """The samples of the gap's two samplers in the job's run (inputs `first` and `second`)."""
    return {
        role: SAMPLES.format(**{**wildcards, "sampler": sampler})
        for role, sampler in Gap(*GAP)._asdict().items()
    }


def job_resources(share=1.0, uses_gpu=True):
    """Resources of a compute job (odesdegap/cluster.py): GPU and partition from whether the
    job computes with torch, memory and runtime growing with the attempt."""
    return cluster.job_resources(COMPUTE, share=share, uses_gpu=uses_gpu)


def shape_of(wildcards):
    """(C, H, W) for an image data set (the U-Nets fold flat points into it), else None."""
    return image_shape(wildcards.dataset)


def configured(values, wildcards, name, key):
    """values[wildcards.<name>]; a requested path outside the configured sweep (say
    `w3` when 3 is not in fp_weights) stops Snakemake with one line naming what is configured.
    """
    value = getattr(wildcards, name)
    if value not in values:
        sys.exit(
            f"Error: {name} {value!r} in a requested path is not in the config's {key} "
            f"(configured: {', '.join(values) or 'none'}); request one of those, or add "
            f"{value} to {key} in a --configfile"
        )
    return values[value]


def fp_weight(wildcards):
    return configured(WEIGHTS, wildcards, "weight", "fp_weights")


def initial_weights(wildcards):
    """With the finetune schedule every weight starts from the shared DSM-only model."""
    if TRAINING["schedule"] == "finetune":
        return {"init": f"{PRETRAINED_DIR}/model.pt".format(**wildcards)}
    return {}


def sampler_entry(wildcards):
    """The config entry samplers.<name> of the job's sampler, a fast solver's noise range
    resolved for the job's data set (the exact lane's where the job has none): null becomes
    the level of EDM's rule, 160 times the data's scale (samplers.with_noise_range)."""
    entry = configured(SAMPLERS, wildcards, "sampler", "samplers")
    dataset = getattr(wildcards, "dataset", EXACT_LANE)
    return with_noise_range(entry, data_scale(dataset), PROCESS)


def sampling_settings_of(entry):
    """The `sampling` keys one sampler depends on (ODE tolerances do not touch the SDE, and a
    few-step solver reads the sample count and chunks alone)."""
    shared = ("n_samples", "chunk_size")
    if entry["grid"] != "sampling":
        keys = shared
    elif entry["nfe"] is not None:  # uniform steps sized by the budget
        keys = shared + (() if entry["dynamics"] == ODE else ("sde_final_step_noise",))
    elif entry["dynamics"] == ODE:
        keys = shared + (
            "steps",
            "refine_last",
            "refine_factor",
            "ode_rtol",
            "ode_atol",
        )
    else:
        keys = shared + (
            "steps",
            "refine_last",
            "refine_factor",
            "sde_final_step_noise",
        )
    return {k: SAMPLING[k] for k in keys}


def sampler_settings(wildcards):
    return sampling_settings_of(sampler_entry(wildcards))


def sampler_seed(wildcards):
    """The prior draw of the job's sampler (seeds.sampler_seed: by its name)."""
    return seeds.sampler_seed(int(wildcards.seed), wildcards.sampler)


def reference_samples(wildcards):
    """The reference sampler's samples of the job's run, unless the job's sampler is it."""
    if wildcards.sampler == REFERENCE_SAMPLER:
        return {}
    return {"reference": SAMPLES.format(**{**wildcards, "sampler": REFERENCE_SAMPLER})}


def feature_extractor_inputs(wildcards):
    """The classifier extractor is a file this workflow makes; Inception is clean-fid's."""
    if wildcards.extractor == "classifier":
        return {"classifier": f"{CLASSIFIER_DIR}/model.pt".format(**wildcards)}
    return {}


FID_SETTINGS = config["evaluation"]["fid"]
# The settings that change features (inception_dir only says where weights are cached, so the
# scripts read it from the config).
EXTRACTOR_PARAMS = dict(image_shape=shape_of, batch_size=FID_SETTINGS["batch_size"])


def compute_jobs():
    """Every compute job of this run, as {rule name -> the wildcards of each of its jobs}, the
    one list the benchmark table reads. A submitted rule missing here fails
    tests/test_cluster.py::test_the_benchmark_table_reads_every_compute_job, which names it.
    """
    # the NFE sweeps' exact lane draws its data and floor like every data set
    made = config["datasets"] + ([EXACT_LANE] if SWEEP_SAMPLERS else [])
    jobs = {
        "prepare_data": [{"dataset": d} for d in made],
        "noise_floor": [{"dataset": d} for d in made],
    }
    if PUBLISHED:
        jobs["import_published"] = RUNS
    else:
        if TRAINING["schedule"] == "finetune":
            jobs["pretrain"] = [
                {"dataset": d, "seed": s}
                for d, s in itertools.product(config["datasets"], config["seeds"])
            ]
        jobs["train"] = RUNS
    jobs["sample"] = [{**run, "sampler": s} for s in SAMPLE_SAMPLERS for run in RUNS]
    jobs["evaluate_sampler"] = jobs["sample"]
    jobs["nfe_sweep"] = [{**run, "sampler": s} for s in SWEEP_SAMPLERS for run in RUNS]
    jobs["nfe_sweep_exact"] = [{"sampler": s} for s in SWEEP_SAMPLERS]
    jobs["evaluate"] = RUNS
    if "classifier" in FID_EXTRACTORS:
        jobs["train_classifier"] = [{"dataset": d} for d in IMAGE_DATASETS]
    jobs["reference_features"] = [
        {"extractor": e, "dataset": d} for e in FID_EXTRACTORS for d in IMAGE_DATASETS
    ]
    jobs["evaluate_fid"] = [
        {**run, "extractor": e} for e in FID_EXTRACTORS for run in RUNS
    ]
    return jobs


def compute_benchmarks(wildcards):
    """The benchmark file of every compute job (compute_jobs), from each rule's own
    `benchmark:` path."""
    return [
        getattr(rules, name).benchmark.format(**job)
        for name, jobs in compute_jobs().items()
        for job in jobs
    ]


def run_tables():
    """The CSV tables of the run, which results/tables/README.md describes column by column."""
    tables = [
        rules.tables.output.metrics,
        rules.tables.output.summary_csv,
        rules.benchmark_table.output.jobs,
        rules.benchmark_table.output.by_rule,
    ]
    if IMAGE_DATASETS:
        tables += [rules.fid_table.output.runs, rules.fid_table.output.summary_csv]
    if ETA_SAMPLERS:
        tables.append(rules.eta_table.output.table)
    if SWEEP_SAMPLERS:
        tables.append(rules.nfe_table.output.table)
    return tables


def final_targets():
    """The workflow's default targets (the input of `all`), every table, figure and page of
    the run; each run's models, samples and metrics follow from them."""
    targets = [
        rules.tables.output,
        rules.findings.output,
        rules.figure_metrics.output,
        rules.benchmark_table.output,
        rules.headline.output,
        rules.tables_readme.output,
        expand(rules.figure_densities.output.figure, dataset=POINT_DATASETS),
        expand(rules.figure_sample_grids.output.figure, dataset=IMAGE_DATASETS),
    ]
    if not PUBLISHED:
        targets.append(rules.figure_training_curves.output)
    if HISTOGRAMS:
        targets.append(rules.published_comparison.output)
    if IMAGE_DATASETS:
        targets.append(rules.fid_table.output)
    if ETA_SAMPLERS:
        targets.append(rules.eta_table.output)
    if SWEEP_SAMPLERS:
        targets += [rules.nfe_table.output, rules.nfe_findings.output]
    return targets


def remove_accepted_checkpoints():
    """A training job's checkpoint outlives it, holding the final state (workflow_scripts/
    train.py): the job's verdict comes after it ends (SLURM records TIMEOUT for a job that
    finished in its grace window, and Snakemake then deletes its outputs), and a retry must find
    that state. Once Snakemake has accepted the model (the job finished in this run, or needed
    no run) the checkpoint has served and goes. A failed or unstarted job keeps its own.
    """
    dag = workflow.dag
    for job in dag.jobs:
        if job.rule.name in ("train", "pretrain") and dag.noneedrun_finished(job):
            Path(job.params.checkpoint).unlink(missing_ok=True)
