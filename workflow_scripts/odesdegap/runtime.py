"""What every job does first, and how it stops: its log, its device if it computes with torch,
its identity in the files it writes.

This module imports no third-party package, so a job that does not compute with torch (tables,
figures, W2 on histograms) never loads torch: `job(sm, computes=False)` needs none of it, and
`job(sm)` loads the device part (odesdegap.devices) for the jobs that do. Each job is a process
of its own, and importing torch takes as long as a small job's work (docs/performance.md).
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import NoReturn


def job(sm, computes: bool = True):
    """The first line of every workflow script: `sm, device = runtime.job(snakemake)`.

    The job's stdout and stderr (progress bars included) go to its declared log. A job that
    computes with torch (`computes`) also gets its device: the config's, holding a GPU of its
    own where there are several, with torch on the rule's threads. Every other job (tables,
    figures, W2 on histograms) passes computes=False and gets None: it must never hold a GPU,
    and it does not load torch.
    """
    log_to(sm.log[0])
    if computes:
        return sm, job_device(sm)
    torch = sys.modules.get("torch")
    if torch is not None:  # loaded by the script anyway (import_published reads checkpoints)
        torch.set_num_threads(max(1, int(sm.threads)))
    return sm, None


def job_device(sm):
    """The torch device of a Snakemake job (odesdegap.devices.setup with its threads, the
    config's device and its `gpu` resource). A device the node cannot give (a GPU job on a node
    without CUDA) stops the job with device_problems' message, without a traceback: on a
    cluster this is where it is caught, as the submitting node skips the check."""
    from odesdegap import devices

    with stopping_on(devices.DeviceError):
        return devices.setup(sm.threads, sm.config["device"], getattr(sm.resources, "gpu", 0))


def run_identity(sm) -> dict:
    """The run a per-run output belongs to (its data set, FP weight and seed), so that every
    such file describes itself and the tables concatenate them."""
    params = sm.params
    return {"dataset": sm.wildcards.dataset, "fp_weight": params.fp_weight, "seed": params.seed}


def model_identity(sm) -> dict:
    """What every model.json starts with, trained or imported: the run and the settings that
    built its network."""
    params = sm.params
    return {**run_identity(sm), "process": params.process, "model": params.model}


def log_to(path) -> None:
    """Send this process's stdout and stderr (progress bars included) to the job's log file."""
    handle = open(path, "w", buffering=1)
    sys.stdout = sys.stderr = handle


def stop(problem: Exception | str) -> NoReturn:
    """End a job over a problem the user must fix (missing data, offline weights): the message
    goes to the job's log and to the terminal that runs Snakemake, without a traceback."""
    print(problem)
    print(f"Error: {problem}", file=sys.__stderr__)
    sys.exit(1)


@contextmanager
def stopping_on(*problems: type[Exception]):
    """Turn the listed exceptions, raised inside the block, into `stop`."""
    try:
        yield
    except problems as problem:
        stop(problem)
