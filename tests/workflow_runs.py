"""Helpers of the end-to-end tests (not a test module): scratch checkouts of the workflow,
Snakemake in them, dry-run job counts, and copies of a finished run.

The finished smoke run itself is the session fixture `smoke_run` (tests/conftest.py): one run of
`.test/smoke.yaml` per pytest session, shared by every test that needs it. A test that only reads
it uses it directly; a test that runs Snakemake on it for real (a config change, a damaged
file) works on `copy_of_run(smoke_run, tmp_path / ...)`.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ["Snakefile", "workflow", "config.yaml", "rules", "workflow_scripts", "presets",
                  ".test", "envs", "profiles"]
SMOKE = ".test/smoke.yaml"  # the preset of the shared run (fixture smoke_run)


def make_checkout(root: Path) -> Path:
    """A scratch copy of the workflow's files (no results) at `root`."""
    root.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, root / name)
    return root


def copy_of_run(run: Path, root: Path) -> Path:
    """A copy of the finished checkout `run` (results/ and .snakemake/ included) at `root`.
    copytree copies with copy2, which keeps modification times: Snakemake finds the copied
    outputs as up to date as the originals (test_workflow checks a copy plans nothing)."""
    shutil.copytree(run, root, symlinks=True)
    return root


def snakemake(checkout: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """`snakemake --cores 2 *args` in `checkout`; fails the test with its log if it fails."""
    result = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", *args],
                            cwd=checkout, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout}\n"
                             f"{result.stderr[-5000:]}")
    return result


def planned_jobs(checkout: Path, *configfiles: str) -> dict[str, int]:
    """Rule -> job count of a dry run (empty when nothing is to be done)."""
    output = snakemake(checkout, "-n", "--configfile", *configfiles).stdout
    if "Nothing to be done" in output:
        return {}
    table = output.split("Job stats:")[1].split("\n\n")[0].splitlines()[3:]
    counts = dict(line.split() for line in table)
    counts.pop("total")
    return {rule: int(n) for rule, n in counts.items()}


def without_timing(metrics: pd.DataFrame) -> pd.DataFrame:
    """The metrics without wall-clock columns: every sampler's sample_seconds_* and the NLL's."""
    timing = [name for name in metrics.columns
              if name.startswith("sample_seconds_") or name == "nll_wall_time_s"]
    assert timing, "no timing columns found: has their naming changed?"
    return metrics.drop(columns=timing)


def rows_of(metrics: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """The rows of `metrics` for the runs (dataset, fp_weight, seed) of `other`, in its order,
    and only the columns `other` has (a run with fewer samplers has fewer columns)."""
    key = ["dataset", "fp_weight", "seed"]
    rows = other[key].merge(metrics, on=key, how="left", validate="one_to_one")
    return rows[list(other.columns)]
