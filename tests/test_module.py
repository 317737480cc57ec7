"""Reuse as a Snakemake module: a throwaway workflow imports this one with `module` +
`use rule * from`, from a local path and from a git URL (`github("owner/odesde-gap",
path="workflow/Snakefile", tag="v0")`, with git told to fetch https://github.com/ from a local
bare repository: Snakemake's real git code path, offline), with the smoke preset's config."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from workflow_runs import make_checkout

REPO = Path(__file__).resolve().parents[1]
# Beyond the workflow's files, what `pip install` of the repository needs.
PACKAGE_FILES = ["pyproject.toml", "README.md", "LICENSE"]
GIT_SNAKEFILE = 'github("owner/odesde-gap", path="workflow/Snakefile", tag="v0")'
ONE_RUN = "datasets: [checkerboard]\nfp_weights: [1.0]\nseeds: [1]\n"

MODULE_SNAKEFILE = """\
configfile: "smoke.yaml"


module odesde:
    snakefile:
        {snakefile}
    config:
        config


use rule * from odesde as odesde_*


rule all:
    default_target: True
    input:
        rules.odesde_all.input,
"""


def host_workflow(root: Path, snakefile: str, *overlays: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    config = (REPO / ".test/smoke.yaml").read_text() + "".join(overlays)
    (root / "smoke.yaml").write_text(config)
    (root / "Snakefile").write_text(MODULE_SNAKEFILE.format(snakefile=snakefile))
    return root


def snakemake(root: Path, *args: str, env: dict | None = None) -> str:
    result = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", *args],
                            cwd=root, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result.stdout


def tagged_repository(root: Path) -> tuple[Path, dict]:
    """A git repository of the workflow, committed and tagged v0, and an environment in which
    git fetches https://github.com/owner/odesde-gap from a bare clone of it (and Snakemake
    caches its clone under `root`)."""
    make_checkout(root)
    for name in PACKAGE_FILES:
        shutil.copy2(REPO / name, root / name)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.org",
           "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"]
    for command in (["init", "-q"], ["add", "."], ["commit", "-qm", "workflow"],
                    ["tag", "v0"]):
        subprocess.run([*git, *command], cwd=root, check=True, capture_output=True)
    hosted = root.parent / "hosted"
    subprocess.run(["git", "clone", "-q", "--bare", str(root),
                    str(hosted / "owner" / "odesde-gap")], check=True, capture_output=True)
    env = {**os.environ, "GIT_CONFIG_COUNT": "1",
           "GIT_CONFIG_KEY_0": f"url.file://{hosted}/.insteadOf",
           "GIT_CONFIG_VALUE_0": "https://github.com/",
           "XDG_CACHE_HOME": str(root.parent / "cache")}
    env.pop("PYTHONPATH", None)
    return root, env


def installed_library(repository: Path, target: Path, env: dict) -> dict:
    """`pip install` of the repository (the library and its package data) into `target`;
    returns `env` in which Python finds it there (and nowhere else)."""
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(target), str(repository)],
                   check=True, capture_output=True)
    assert (target / "odesdegap" / "config_schema.yaml").exists()
    return {**env, "PYTHONPATH": str(target)}


@pytest.mark.slow
def test_module_from_a_local_path_plans_the_whole_workflow(tmp_path):
    host = host_workflow(tmp_path / "host", repr(str(REPO / "workflow/Snakefile")))
    output = snakemake(host, "-n")
    for rule in ("odesde_train", "odesde_sample", "odesde_evaluate", "odesde_tables",
                 "odesde_prepare_data"):
        assert f"rule {rule}:" in output, rule


@pytest.mark.slow
def test_module_from_git_without_an_installed_library_says_what_to_install(tmp_path):
    _, env = tagged_repository(tmp_path / "repo")
    host = host_workflow(tmp_path / "host", GIT_SNAKEFILE)
    result = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1"],
                            cwd=host, capture_output=True, text=True, env=env)
    assert result.returncode != 0
    assert "cannot import the workflow's library" in result.stderr
    assert "pip install" in result.stderr


@pytest.mark.workflow
def test_module_from_git_runs_the_smoke_preset(tmp_path):
    """The workflow as a module from a git URL, its library pip-installed: the dry run plans
    it, then one run of the smoke preset runs for real, every rule and script read from git."""
    repository, env = tagged_repository(tmp_path / "repo")
    env = installed_library(repository, tmp_path / "site", env)
    host = host_workflow(tmp_path / "host", GIT_SNAKEFILE, ONE_RUN)
    assert "rule odesde_train:" in snakemake(host, "-n", env=env)
    snakemake(host, env=env)
    results = host / "results"
    assert (results / "metrics/checkerboard/w1/seed1.json").exists()
    assert (results / "tables/summary.csv").exists()
    assert (results / "figures/densities_checkerboard.png").exists() or \
        list((results / "figures").glob("*checkerboard*"))
