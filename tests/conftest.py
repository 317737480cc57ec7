"""Shared fixtures. Tests import the library (workflow_scripts/odesdegap) directly; pytest's
pythonpath setting in pyproject.toml puts it on sys.path."""

import atexit
import os
import subprocess
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _single_thread():
    """CI has two cores; keep each test on one thread so timings do not depend on load."""
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """The smoke preset (.test/smoke.yaml) run once, locally, for the whole session: the scratch
    checkout with its results/ and .snakemake/. Every end-to-end test that needs a finished
    smoke run shares this one (tests/test_workflow.py, tests/test_slurm.py). Read it directly;
    to run Snakemake on it, work on a copy (workflow_runs.copy_of_run), so that it stays the
    run that the smoke preset makes."""
    from workflow_runs import SMOKE, make_checkout, snakemake

    checkout = make_checkout(tmp_path_factory.mktemp("smoke_run"))
    started = time.monotonic()
    snakemake(checkout, "--configfile", SMOKE)
    print(f"\nthe shared smoke run: {time.monotonic() - started:.0f} s")
    return checkout


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """A throwaway one-node SLURM (tools/slurm_one_node.py) for the tests marked `slurm`,
    started once per session and stopped at its end (and at exit, should the session be cut
    short), every daemon by its PID. Where it cannot start the tests skip with the reason; in CI
    (CI=true), which must run them, they fail."""
    from slurm_one_node import ClusterError, OneNodeSlurm

    try:
        cluster = OneNodeSlurm.start(tmp_path_factory.mktemp("slurm"))
    except (ClusterError, OSError, subprocess.CalledProcessError) as error:
        message = f"no one-node SLURM here: {error}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; CI must run the SLURM tests")
        pytest.skip(message)
    atexit.register(cluster.stop)
    yield cluster
    cluster.stop()
