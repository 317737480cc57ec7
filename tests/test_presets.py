"""Presets run what they claim: each is resolved exactly as `snakemake --configfile` resolves it
(Snakemake's own update_config over config.yaml, then the schema's defaults), and the paper's
preset is the paper's recipe, key by key, both as resolved and as the planned jobs receive it."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config

from odesdegap.config import merged
from odesdegap.config_checks import ConfigError, checked, load_schema, resolve
from odesdegap.data.datasets import image_shape
from published_paths import SHARED, needs, paths_overlay

REPO = Path(__file__).resolve().parents[1]
# The user presets and the tests' own configs (.test/): every one must resolve and state its
# recipe.
PRESETS = sorted([*(REPO / "presets").glob("*.yaml"), *(REPO / ".test").glob("*.yaml")])
BASE = yaml.safe_load((REPO / "config.yaml").read_text())

# Keys on which the laptop-sized default departs from the paper (or which choose between the
# paper's and another behaviour): every preset states each, so that reading the preset tells
# which side it takes and a change of default cannot silently change it.
RECIPE_CHOICES = [
    "training.residual.form",
    "training.residual.noised_fraction",
    "training.residual.points_per_time",
    "training.restart_optimizer_at_milestones",
    "training.ema_decay",
    "sampling.sde_final_step_noise",
]
POINT_ONLY_CHOICES = ["model.softplus_beta"]

# The paper's recipe (Deveney et al.; the authors' code), as the resolved config must hold it.
PAPER = {
    "datasets": ["mixture", "circles", "checkerboard"],
    "fp_weights": [0.0, 0.1, 1.0, 10.0],
    "process.name": "ou",
    "process.t_min": 1e-5,
    "process.t_max": 10.0,
    "model.kind": "potential_mlp",
    "model.hidden_width": 80,
    "model.hidden_layers": 3,
    "model.softplus_beta": 100.0,
    "model.gaussian_baseline": False,
    "training.schedule": "joint",
    "training.dsm_weighting": "uniform",
    "training.steps": 100_000,
    "training.batch_size": 200_000,
    "training.learning_rate": 1e-3,
    "training.lr_milestones": [25_000, 90_000],
    "training.lr_decay": 0.1,
    "training.restart_optimizer_at_milestones": True,
    "training.ema_decay": 0.0,
    "training.residual.form": "full",
    "training.residual.weighting": "none",
    "training.residual.collocation_points": 50_000,
    "training.residual.points_per_time": 1,
    "training.residual.time_distribution": "uniform",
    "training.residual.noised_fraction": 0.0,
    "training.residual.box_half_width": 3.5,
    "training.residual.hutchinson_probes": 0,
    "training.residual.weight_ramp_steps": 0,
    "sampling.steps": 800,
    "sampling.refine_last": 10,
    "sampling.refine_factor": 10,
    "samplers.ode.dynamics": "ode",
    "samplers.ode.solver": "euler",
    "samplers.ode.grid": "sampling",
    "samplers.sde.dynamics": "sde",
    "samplers.sde.solver": "euler",
    "samplers.sde.grid": "sampling",
    "gap": ["ode", "sde"],
    "sampling.sde_final_step_noise": False,
    "evaluation.grid_bins": 64,
    "evaluation.box_half_width": 3.5,
    "evaluation.w2_method": "grid",
    "evaluation.grid_convention": "nodes",
}
# Sections the paper preset must spell out in full (every key the schema has for them, bar the
# ones that do not apply to its model and data).
PAPER_FULL_SECTIONS = ["process", "model", "training", "training.residual", "sampling"]
NOT_APPLICABLE = {"model.channels", "model.channel_multipliers", "process.beta_min",
                  "process.beta_max", "process.sigma_min", "process.sigma_max",
                  "training.pretrain_steps"}


def _get(config: dict, dotted: str):
    node = config
    for part in dotted.split("."):
        node = node[part]
    return node


def _has(config: dict, dotted: str) -> bool:
    try:
        _get(config, dotted)
    except (KeyError, TypeError):
        return False
    return True


def _leaves(node: dict, path: str = ""):
    for key, value in node.items():
        # a mapping of named entries (samplers) is one value of the schema, with one default
        if isinstance(value, dict) and "properties" in _schema_at(f"{path}{key}"):
            yield from _leaves(value, f"{path}{key}.")
        else:
            yield f"{path}{key}", value


def _schema_at(dotted: str) -> dict:
    node = load_schema()
    for part in dotted.split("."):
        node = node["properties"][part]
    return node


@pytest.mark.slow
def test_config_yaml_states_exactly_the_schema_defaults():
    """One source of defaults: every value config.yaml lists is the schema's default."""
    for key, value in _leaves(BASE):
        if key in ("datasets", "fp_weights", "seeds"):
            continue  # required, no default
        assert _schema_at(key)["default"] == value, (
            f"config.yaml sets {key} = {value!r} but the schema's default is "
            f"{_schema_at(key)['default']!r}")


@pytest.mark.parametrize("preset", [
    pytest.param(p, marks=needs(SHARED)) if p.stem == "published" else p for p in PRESETS],
    ids=lambda p: p.stem)
def test_resolve_is_snakemakes_merge(preset, tmp_path):
    """resolve() is config.yaml, then the preset through update_config, then the defaults (the
    published preset pointed at the published files found for the tests)."""
    files = [preset]
    if preset.stem == "published":
        files.append(paths_overlay(tmp_path / "paths.yaml"))
    expected = yaml.safe_load((REPO / "config.yaml").read_text())
    for file in files:
        update_config(expected, yaml.safe_load(file.read_text()))
    assert resolve(*files) == checked(expected)


def test_a_partial_section_keeps_the_rest_of_config_yaml():
    """The section-wise merge the speed benchmark once used dropped config.yaml's other keys of
    every section a preset touches (five keys differed for presets/dimensions.yaml)."""
    config = resolve(REPO / "presets/dimensions.yaml")
    assert config["training"]["residual"]["hutchinson_probes"] == 4
    for key in ("steps", "lr_milestones"):
        assert config["training"][key] == BASE["training"][key]
    for key in ("noised_fraction", "collocation_points"):
        assert config["training"]["residual"][key] == BASE["training"]["residual"][key]
    assert config["evaluation"]["sliced_projections"] == BASE["evaluation"]["sliced_projections"]


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_every_preset_states_its_recipe_choices(preset):
    stated = yaml.safe_load(preset.read_text())
    images = any(image_shape(d) is not None for d in stated["datasets"])
    keys = RECIPE_CHOICES + ([] if images else POINT_ONLY_CHOICES)
    if stated.get("published", {}).get("checkpoints_dir"):  # imports models: nothing trains
        keys = [key for key in keys if not key.startswith("training.")]
    missing = [key for key in keys if not _has(stated, key)]
    assert not missing, f"{preset.name} inherits {missing} from config.yaml: state them"


def test_paper_preset_resolves_to_the_papers_recipe():
    config = resolve(REPO / "presets/paper.yaml")
    for key, value in PAPER.items():
        assert _get(config, key) == value, f"paper preset: {key} = {_get(config, key)!r}"


def test_paper_preset_spells_out_its_sections():
    stated = yaml.safe_load((REPO / "presets/paper.yaml").read_text())
    for section in PAPER_FULL_SECTIONS:
        for key, sub in _schema_at(section)["properties"].items():
            dotted = f"{section}.{key}"
            if sub.get("type") == "object" or dotted in NOT_APPLICABLE:
                continue
            assert _has(stated, dotted), f"presets/paper.yaml does not state {dotted}"
    for key in PAPER:
        assert _has(stated, key) or key in ("datasets", "fp_weights"), key


def test_merging_rejects_a_file_that_is_not_a_mapping(tmp_path):
    bad = tmp_path / "list.yaml"
    bad.write_text("- datasets\n")
    with pytest.raises(ConfigError, match="list.yaml holds a list: expected a YAML mapping"):
        merged(bad)


PLAN = textwrap.dedent("""
    import json, sys, tempfile
    from pathlib import Path
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (ConfigSettings, DAGSettings, OutputSettings,
                                          ResourceSettings, StorageSettings)
    repo = Path(sys.argv[1])
    with SnakemakeApi(OutputSettings(quiet={"all"})) as api:
        workflow = api.workflow(
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(configfiles=[repo / "presets/paper.yaml"]),
            storage_settings=StorageSettings(), snakefile=repo / "Snakefile",
            workdir=Path(tempfile.mkdtemp()))
        dag = workflow.dag(dag_settings=DAGSettings(
            targets={"results/metrics/checkerboard/w1/seed0.json"}))
        dag.execute_workflow(executor="dryrun")
        jobs = {}
        for job in workflow._workflow.dag.jobs:
            name = job.rule.name + "".join(f"_{v}" for k, v in job.wildcards.items()
                                           if k == "sampler")
            jobs[name] = {k: v for k, v in job.params.items() if k != "image_shape"}
    print("PARAMS" + json.dumps(jobs, default=str))
""")


@pytest.fixture(scope="module")
def planned_paper_jobs():
    """The params of the jobs `snakemake -n --configfile presets/paper.yaml` plans."""
    result = subprocess.run([sys.executable, "-c", PLAN, str(REPO)], capture_output=True,
                            text=True, cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("PARAMS"))
    return json.loads(line[len("PARAMS"):])


@pytest.mark.slow
def test_dry_run_of_the_paper_preset_plans_the_papers_recipe(planned_paper_jobs):
    jobs = planned_paper_jobs
    assert {"train", "sample_ode", "sample_sde", "evaluate"} <= set(jobs)
    train, ode, sde = jobs["train"], jobs["sample_ode"], jobs["sample_sde"]
    for job in (train, ode, sde, jobs["evaluate"]):
        assert job["process"] == {"name": "ou", "t_min": 1e-5, "t_max": 10.0,
                                  **{k: job["process"][k] for k in job["process"]
                                     if k.startswith(("beta", "sigma"))}}
        assert job["model"]["softplus_beta"] == 100.0
    for key, value in PAPER.items():
        section, _, rest = key.partition(".")
        if section == "training":
            assert _get(train["training"], rest) == value, key
        elif section == "sampling" and not rest.startswith(("ode_", "sde_")):
            assert ode["sampling"][rest] == value and sde["sampling"][rest] == value, key
        elif section == "evaluation":
            assert jobs["evaluate"]["evaluation"][rest] == value, key
    assert train["fp_weight"] == 1.0
    assert ode["sampler"]["solver"] == "euler" and sde["sampler"]["solver"] == "euler"
    assert sde["sampling"]["sde_final_step_noise"] is False
    assert "sde_final_step_noise" not in ode["sampling"]  # the ODE does not rerun over it


NFE_STUDY = REPO / "presets/studies/nfe.yaml"
FAST_SOLVERS = {"ddim", "heun", "dpmpp_2m", "unipc", "dpmpp_2m_sde"}


def test_the_nfe_study_adds_one_sweep_per_solver_over_the_paper_pair():
    config = checked(merged(REPO / "presets/laptop.yaml", NFE_STUDY))
    samplers = config["samplers"]
    sweeps = {name: entry for name, entry in samplers.items() if isinstance(entry["nfe"], list)}
    assert {e["solver"] for e in sweeps.values()} == FAST_SOLVERS
    assert all(e["nfe"] == [5, 10, 20, 50, 100, 200] for e in sweeps.values())
    # the reference stays the preset's 800-step Euler–Maruyama SDE, beside its Euler ODE
    assert config["gap"] == ["ode", "sde"]
    assert {n: (samplers[n]["solver"], samplers[n]["grid"]) for n in ("ode", "sde")} == {
        "ode": ("euler", "sampling"), "sde": ("euler", "sampling")}
    assert config["sampling"]["steps"] == 800


@pytest.mark.slow
@needs(SHARED)
def test_the_nfe_study_on_the_published_models_is_a_job_per_model_and_solver(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-s", str(REPO / "Snakefile"), "-d",
         str(tmp_path), "--configfile", str(REPO / "presets/published.yaml"),
         str(paths_overlay(tmp_path / "published_paths.yaml")), str(NFE_STUDY)],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    table = result.stdout.split("Job stats:")[1].split("\n\n")[0].splitlines()[3:]
    jobs = {rule: int(n) for rule, n in (line.split() for line in table)}
    assert jobs["nfe_sweep"] == 12 * len(FAST_SOLVERS)
    assert jobs["nfe_sweep_exact"] == len(FAST_SOLVERS)  # the exact lane: one per solver
    assert jobs["sample"] == 12 * 2 and jobs["import_published"] == 12
    assert jobs["nfe_findings"] == 1


def test_the_step_count_study_sweeps_the_grid_integrators_on_uniform_steps():
    """The sampler study of old (studies.sampler) as samplers of the axis: Euler and RK4 on the
    ODE, Euler–Maruyama on the SDE, budgets of equal step counts, the paper pair unchanged."""
    config = checked(merged(REPO / "presets/laptop.yaml", REPO / "presets/studies/steps.yaml"))
    samplers = config["samplers"]
    sweeps = {name: (e["dynamics"], e["solver"], e["grid"], e["nfe"])
              for name, e in samplers.items() if isinstance(e["nfe"], list)}
    assert sweeps == {"euler_steps": ("ode", "euler", "sampling", [25, 50, 100, 200]),
                      "rk4_steps": ("ode", "rk4", "sampling", [100, 200, 400, 800]),
                      "em_steps": ("sde", "euler", "sampling", [25, 50, 100, 200])}
    assert config["gap"] == ["ode", "sde"] and samplers["sde"]["nfe"] is None


def test_the_slurm_drills_preset_is_the_smoke_preset_on_fewer_runs():
    """tests/test_slurm.py compares its runs with the shared local smoke run: its preset may
    differ from .test/smoke.yaml only in which runs (data sets, seeds) and samplers it has, each
    of them one of the smoke preset's."""
    smoke, slurm = resolve(REPO / ".test/smoke.yaml"), resolve(REPO / ".test/smoke_slurm.yaml")
    runs_and_samplers = ("datasets", "fp_weights", "seeds", "samplers")
    assert {k: v for k, v in slurm.items() if k not in runs_and_samplers} == {
        k: v for k, v in smoke.items() if k not in runs_and_samplers}
    for key in ("datasets", "fp_weights", "seeds"):
        assert set(slurm[key]) <= set(smoke[key]), key
    assert set(slurm["samplers"]) == {"ode", "sde"}
    assert all(slurm["samplers"][name] == smoke["samplers"][name] for name in slurm["samplers"])
