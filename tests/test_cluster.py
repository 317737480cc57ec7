"""The SLURM profile's requests: read from the dry run of every preset
(`snakemake -n --profile profiles/slurm --configfile presets/X.yaml`, which needs no sbatch),
each job's partition and GPU request must match what the job does (it computes with torch, or
it does not), whatever its rule is called. Aggregation, plots and data preparation are
localrules; memory and runtime grow with the attempt."""

import functools
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from odesdegap import cluster
from odesdegap.config import merged
from odesdegap.config_checks import checked
from published_paths import SHARED, needs, paths_overlay

REPO = Path(__file__).resolve().parents[1]
PRESETS = sorted([*(REPO / "presets").glob("*.yaml"), *(REPO / ".test").glob("*.yaml")])
BASE = yaml.safe_load((REPO / "config.yaml").read_text())


def rule_scripts() -> dict[str, str]:
    """rule name -> the source of the script it runs (from rules/*.smk)."""
    scripts = {}
    for smk in (REPO / "rules").glob("*.smk"):
        for block in re.split(r"^\s*rule ", smk.read_text(), flags=re.M)[1:]:
            name = block.split(":", 1)[0]
            found = re.search(r'script:\s+"\.\./(workflow_scripts/\w+\.py)"', block)
            if found:
                scripts[name] = (REPO / found.group(1)).read_text()
    return scripts


def declared_localrules() -> set[str]:
    names = set()
    for smk in (REPO / "rules").glob("*.smk"):
        # at the top level or inside an `if` (the rules of a study that is configured)
        for _, block in re.findall(r"^( *)localrules:\n((?:\1    \w+,?\n)+)", smk.read_text(),
                                   flags=re.M):
            names |= {line.strip().rstrip(",") for line in block.splitlines()}
    return names


SCRIPTS = rule_scripts()
LOCAL_RULES = declared_localrules()
# A job computes with torch (and so may use a GPU) exactly when its script's preamble asks
# runtime for a device; every other script says computes=False.
TORCH_RULES = {name for name, source in SCRIPTS.items()
               if "runtime.job(snakemake)" in source}


def dry_run(workdir: Path, *configfiles: Path) -> list[tuple[str, dict]]:
    """(rule, {field: value}) of every job of the SLURM profile's dry run, with the fields
    Snakemake prints for it (input, output, benchmark, resources, ...)."""
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-s", str(REPO / "Snakefile"),
         "-d", str(workdir), "--profile", str(REPO / "profiles/slurm"),
         "--configfile", *map(str, configfiles)],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    jobs = []
    for block in re.split(r"^(?:local)?rule ", result.stdout, flags=re.M)[1:]:
        name = block.split(":", 1)[0]
        fields = dict(re.findall(r"^    (\w+): (.*)$", block, flags=re.M))
        jobs.append((name, fields))
    assert jobs, result.stdout
    return jobs


def resources_of(fields: dict) -> dict:
    """A job's printed `resources: a=1, b=x` line as {a: '1', b: 'x'}."""
    line = fields.get("resources")
    return dict(item.split("=", 1) for item in line.split(", ")) if line else {}


def dry_run_jobs(workdir: Path, *configfiles: Path) -> list[tuple[str, dict]]:
    """(rule, resources) of every job of the SLURM profile's dry run."""
    return [(name, resources_of(fields)) for name, fields in dry_run(workdir, *configfiles)]


SHARED_OVERLAY = paths_overlay(Path(tempfile.mkdtemp()) / "published_paths.yaml")


def preset_configfiles(preset: Path) -> list[Path]:
    """`preset`, and for the published one the folders the tests found, by absolute path."""
    return [preset, SHARED_OVERLAY] if preset.stem == "published" else [preset]


@functools.cache
def preset_dry_run(preset: Path) -> list[tuple[str, dict]]:
    """The dry run of `preset`, once per test session."""
    workdir = Path(tempfile.mkdtemp(prefix=f"dry_run_{preset.stem}_"))
    return dry_run(workdir, *preset_configfiles(preset))


def test_the_rule_classification_is_not_empty():
    assert {"train", "sample", "evaluate", "train_classifier", "reference_features",
            "evaluate_fid"} <= TORCH_RULES
    assert "evaluate_sampler" not in TORCH_RULES and "evaluate_sampler" in SCRIPTS
    assert {"prepare_data", "tables", "findings", "figure_metrics", "figure_densities",
            "fid_table"} <= LOCAL_RULES
    assert not LOCAL_RULES & TORCH_RULES
    assert LOCAL_RULES <= set(SCRIPTS)


@pytest.mark.slow
@pytest.mark.parametrize("preset", [
    pytest.param(p, marks=needs(SHARED)) if p.stem == "published" else p for p in PRESETS],
    ids=lambda p: p.stem)
def test_slurm_requests_match_what_each_job_uses(preset):
    compute = checked(merged(*preset_configfiles(preset)))["compute"]
    seen = set()
    for rule, fields in preset_dry_run(preset):
        resources = resources_of(fields)
        seen.add(rule)
        if rule == "all" or rule in LOCAL_RULES:
            # Runs on the submitting node: no partition, no GPU.
            assert "slurm_partition" not in resources and "gpu" not in resources, (rule,
                                                                                   resources)
        elif rule in TORCH_RULES and compute["gpus"] >= 1:
            assert resources.get("slurm_partition") == compute["gpu_partition"], (rule,
                                                                                    resources)
            assert resources.get("gpu") == str(compute["gpus"]), (rule, resources)
        else:
            assert resources.get("slurm_partition") == compute["cpu_partition"], (rule,
                                                                                    resources)
            assert "gpu" not in resources and "gres" not in resources, (rule, resources)
    assert seen - {"all"} <= set(SCRIPTS)


@pytest.mark.slow
@pytest.mark.parametrize("preset", [
    pytest.param(p, marks=needs(SHARED)) if p.stem == "published" else p for p in PRESETS],
    ids=lambda p: p.stem)
def test_the_benchmark_table_reads_every_compute_job(preset):
    """A compute rule missing from compute_jobs (rules/common.smk) would drop its runtime from
    the benchmark table without a word: every benchmark file a submitted (not local) job
    writes must be an input of benchmark_table."""
    jobs = preset_dry_run(preset)
    table_inputs = {fields["input"] for rule, fields in jobs if rule == "benchmark_table"}
    assert len(table_inputs) == 1, "the run has no benchmark table"
    read = set(table_inputs.pop().split(", "))
    written = {(rule, fields["benchmark"]) for rule, fields in jobs if "benchmark" in fields}
    unread = sorted((rule, path) for rule, path in written
                    if rule not in LOCAL_RULES and path not in read)
    assert not unread, f"add these rules' jobs to compute_jobs (rules/common.smk): {unread}"
    assert read <= {path for _, path in written}, "the table reads a file no job writes"


@pytest.mark.slow
def test_the_gpu_image_preset_sends_feature_jobs_to_the_gpu_partition(tmp_path):
    jobs = dry_run_jobs(tmp_path, REPO / "presets/images_gpu.yaml")
    for rule in ("train_classifier", "reference_features", "evaluate_fid", "train", "sample"):
        requests = [resources for name, resources in jobs if name == rule]
        assert requests, rule
        assert all(r["slurm_partition"] == "gpu" and r["gpu"] == "1" for r in requests), rule


@pytest.mark.slow
def test_partition_names_come_from_the_config(tmp_path):
    overlay = tmp_path / "partitions.yaml"
    overlay.write_text("compute: {gpus: 2, gpu_partition: a100, cpu_partition: short}\n")
    jobs = dry_run_jobs(tmp_path, REPO / ".test/smoke.yaml", overlay)
    by_rule = {}
    for rule, resources in jobs:
        by_rule.setdefault(rule, resources)
    assert by_rule["train"]["slurm_partition"] == "a100" and by_rule["train"]["gpu"] == "2"
    assert by_rule["evaluate_sampler"]["slurm_partition"] == "short"
    assert "gpu" not in by_rule["evaluate_sampler"]


def test_the_slurm_profile_names_no_rule():
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    assert "set-resources" not in profile
    assert "slurm_partition" not in profile.get("default-resources", {})


@pytest.mark.parametrize("gpus", [0, 1])
def test_memory_and_runtime_grow_with_the_attempt(gpus):
    compute = {"gpus": gpus, "mem_mb": 3000, "runtime_minutes": 100,
               "cpu_partition": "cpu", "gpu_partition": "gpu"}
    resources = cluster.job_resources(compute, share=0.5)
    assert [resources["mem_mb"](None, attempt) for attempt in (1, 2, 3)] == [3000, 6000, 9000]
    assert [resources["runtime"](None, attempt) for attempt in (1, 2, 3)] == [50, 100, 150]
    assert resources["slurm_partition"] == ("gpu" if gpus else "cpu")
    assert resources.get("gpu") == (1 if gpus else None)
    cpu_only = cluster.job_resources(compute, uses_gpu=False)
    assert cpu_only["slurm_partition"] == "cpu" and "gpu" not in cpu_only


def test_every_script_starts_with_the_job_preamble():
    """Each script run by a rule routes its log and sets its threads (and, computing with
    torch, its device) through runtime.job: torch jobs and the others, nothing in between."""
    for name, source in SCRIPTS.items():
        computes = "runtime.job(snakemake)" in source
        assert computes != ("runtime.job(snakemake, computes=False)" in source), name
