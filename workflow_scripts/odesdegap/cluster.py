"""What each job asks a scheduler for (rules/common.smk's job_resources wraps `job_resources`).

The request follows from what the job does, never from its rule's name: a job that computes
with torch asks for compute.gpus GPUs and the GPU partition when compute.gpus >= 1; every other
job asks for no GPU and goes to the CPU partition. Memory and runtime are callables of the
attempt, so a job retried after running out of either (--retries) asks for more.
"""

from __future__ import annotations


def job_resources(compute: dict, share: float = 1.0, uses_gpu: bool = True) -> dict:
    """Snakemake resources of a compute job. `compute` is the config's `compute` section;
    `share` scales its runtime (sampling and evaluation get half of training's)."""
    gpus = int(compute["gpus"]) if uses_gpu else 0
    mem_mb = int(compute["mem_mb"])
    runtime = max(1, int(compute["runtime_minutes"] * share))

    def grown_mem_mb(wildcards, attempt):
        return mem_mb * attempt

    def grown_runtime(wildcards, attempt):
        return runtime * attempt

    resources = {
        "mem_mb": grown_mem_mb,
        "runtime": grown_runtime,
        "slurm_partition": partition(compute, gpus),
    }
    if gpus >= 1:
        resources["gpu"] = gpus
    return resources


def partition(compute: dict, gpus: int) -> str:
    """The SLURM partition of a job that asks for `gpus` GPUs (its `gpu` resource)."""
    return compute["gpu_partition" if gpus >= 1 else "cpu_partition"]
