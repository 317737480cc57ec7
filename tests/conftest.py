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


def pytest_collection_modifyitems(items):
    """Test files in the order that keeps two xdist workers busy (`make test` hands out whole
    files, in this order): the SLURM drills first (much of their time is waiting on the
    scheduler), then the other files that run the workflow, then the unit tests. A plain
    `pytest` runs them in this order too."""
    kind = {}
    for item in items:
        rank = 0 if item.get_closest_marker("slurm") else (
            1 if item.get_closest_marker("workflow") else 2)
        kind[item.path] = min(kind.get(item.path, 2), rank)
    items.sort(key=lambda item: kind[item.path])  # stable: each file keeps its own order


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
    run that the smoke preset makes.

    Under pytest-xdist the session's workers share it too: it lives beside their own temporary
    folders, the first worker to ask makes it under a file lock, and the others wait for it (a
    failed run is reported to each of them, not made again)."""
    from filelock import FileLock

    from workflow_runs import SMOKE, make_checkout, snakemake

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder, above each worker's own
    checkout, done, failed = (root / name for name in ("smoke_run", "smoke_run.done",
                                                       "smoke_run.failed"))
    with FileLock(root / "smoke_run.lock"):
        if failed.exists():
            pytest.fail(f"the shared smoke run failed in another worker:\n{failed.read_text()}")
        if not done.exists():
            make_checkout(checkout)
            started = time.monotonic()
            try:
                snakemake(checkout, "--configfile", SMOKE)
            except AssertionError as error:
                failed.write_text(str(error))
                raise
            done.touch()
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
