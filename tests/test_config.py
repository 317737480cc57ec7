"""Malformed configs stop before any job, naming the key, the value and what was expected."""

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from odesdegap.config import merged
from odesdegap.config_checks import ConfigError, checked, load_schema
from published_paths import CHECKPOINTS, found_paths

REPO = Path(__file__).resolve().parents[1]

BASE = yaml.safe_load((REPO / "config.yaml").read_text())


class _Delete:
    """The value that removes its key (`_mutated`); its repr is the tests' stable id."""

    def __repr__(self) -> str:
        return "DELETE"


DELETE = _Delete()


def _mutated(path: str, value):
    config = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node = config
    for key in parents:
        node = node[key]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return config


# (dotted key, bad value, text the message must contain)
MALFORMED = [
    ("datasets", ["spirals"], "'datasets.0' has value 'spirals': expected one of 'mixture'"),
    ("datasets", ["gmm65d"], "'datasets.0' has value 'gmm65d'"),
    ("datasets", ["mixture", "exact_gaussian"], "'datasets.1' has value 'exact_gaussian': "
     "expected a data set to train on (exact_gaussian is the NFE sweeps' exact lane"),
    ("training.residual.noised_fraction", 1.5, "'training.residual.noised_fraction' has value"),
    ("training.residual.hutchinson_probes", -1, "'training.residual.hutchinson_probes'"),
    ("evaluation.w2_method", "sinkhorn", "'evaluation.w2_method' has value 'sinkhorn'"),
    ("evaluation.nll", {"points": -1}, "'evaluation.nll.points' has value -1"),
    ("evaluation.nll", {"method": "rk45"}, "'evaluation.nll.method' has value 'rk45'"),
    ("studies", {"eta": [0.5]}, "'studies.eta' has moved: set a sampler with dynamics eta"),
    ("studies", {"sampler": {"steps": [10]}}, "'studies.sampler' has moved: set a sampler with "
     "a list of NFE budgets per integrator"),
    ("datasets", [], "'datasets' has value []: expected a list with at least 1"),
    ("datasets", "mixture", "'datasets' has value 'mixture': expected a value of type array"),
    ("datasets", DELETE, "'datasets' is missing"),
    ("datasets", ["mixture", "mixture"], "without repeated items"),
    ("datasets", [3], "'datasets.0' has value 3"),
    ("datasets", None, "'datasets' has value None"),
    ("fp_weights", [], "'fp_weights' has value []"),
    ("fp_weights", DELETE, "'fp_weights' is missing"),
    ("fp_weights", [0, -0.1], "'fp_weights.1' has value -0.1: expected a number >= 0"),
    ("fp_weights", ["heavy"], "'fp_weights.0' has value 'heavy': expected a value of type number"),
    ("fp_weights", [0, True], "'fp_weights.1' has value True"),
    ("fp_weights", 1.0, "'fp_weights' has value 1.0: expected a value of type array"),
    ("fp_weights", [1, 1.0], "'fp_weights'"),
    ("fp_weights", [0, None], "'fp_weights.1' has value None"),
    ("seeds", [], "'seeds' has value []"),
    ("seeds", DELETE, "'seeds' is missing"),
    ("seeds", [-1], "'seeds.0' has value -1: expected a number >= 0"),
    ("seeds", [0.5], "'seeds.0' has value 0.5: expected a value of type integer"),
    ("seeds", ["0"], "'seeds.0' has value '0'"),
    ("seeds", [0, 0], "without repeated items"),
    ("device", "gpu", "'device' has value 'gpu': expected one of 'auto', 'cpu', 'cuda'"),
    ("device", 1, "'device' has value 1"),
    ("compute.threads", 0, "'compute.threads' has value 0: expected a number >= 1"),
    ("compute.gpus", -1, "'compute.gpus' has value -1"),
    ("compute.mem_mb", "2G", "'compute.mem_mb' has value '2G'"),
    ("compute.runtime_minutes", 0, "'compute.runtime_minutes' has value 0"),
    ("compute.nodes", 2, "unknown config key(s) 'nodes' under 'compute'"),
    ("data.n_train", 0, "'data.n_train' has value 0: expected a number >= 1"),
    ("data.n_reference", -5, "'data.n_reference' has value -5"),
    ("data.n_train", 1.5, "'data.n_train' has value 1.5: expected a value of type integer"),
    ("data.seed", "x", "'data.seed' has value 'x'"),
    ("process.name", "cosine", "'process.name' has value 'cosine': expected one of 'ou'"),
    ("process.t_min", 0, "'process.t_min' has value 0: expected a number > 0"),
    ("process.t_max", -1.0, "'process.t_max' has value -1.0"),
    ("process.t_min", 20.0, "'process.t_min' has value 20.0: expected less than process.t_max"),
    ("model.kind", "unet", "'model.kind' has value 'unet'"),
    ("model", {"kind": "vector_mlp", "gaussian_baseline": True}, "with model.kind 'vector_mlp'"),
    ("model.hidden_width", 0, "'model.hidden_width' has value 0"),
    ("model.hidden_layers", 2.5, "'model.hidden_layers' has value 2.5"),
    ("model.softplus_beta", 0, "'model.softplus_beta' has value 0: expected a number > 0"),
    ("model.activation", "relu", "unknown config key(s) 'activation' under 'model'"),
    ("training.steps", 0, "'training.steps' has value 0: expected a number >= 1"),
    ("training.steps", "1000", "'training.steps' has value '1000'"),
    ("training.batch_size", 0, "'training.batch_size' has value 0"),
    ("training.learning_rate", 0.0, "'training.learning_rate' has value 0.0: expected a num"),
    ("training.learning_rate", "fast", "'training.learning_rate' has value 'fast'"),
    ("training.schedule", "staged", "'training.schedule' has value 'staged'"),
    ("training.schedule", "finetune", "'training.pretrain_steps' has value 0: expected at least 1"),
    ("training.lr_milestones", [0], "'training.lr_milestones.0' has value 0"),
    ("training.lr_milestones", [10**9], "'training.lr_milestones' has value [1000000000]"),
    ("training.lr_milestones", 100, "'training.lr_milestones' has value 100"),
    ("training.lr_decay", -0.1, "'training.lr_decay' has value -0.1"),
    ("training.log_every", 0, "'training.log_every' has value 0"),
    ("training.checkpoint_every", 0, "'training.checkpoint_every' has value 0"),
    ("training.epochs", 3, "unknown config key(s) 'epochs' under 'training'"),
    ("training.residual.form", "squared", "'training.residual.form' has value 'squared'"),
    ("training.residual.collocation_points", 0, "'training.residual.collocation_points' has"),
    ("training.residual.collocation_points", 8, "expected at least training.residual.points_per"),
    ("training.residual.points_per_time", 1, "'training.residual.points_per_time' has value 1"),
    ("training.residual.time_distribution", "beta", "'training.residual.time_distribution'"),
    ("training.residual.box_half_width", 0, "'training.residual.box_half_width' has value 0"),
    ("training.residual.weight_ramp_steps", -1, "'training.residual.weight_ramp_steps'"),
    ("training.residual", "centred", "'training.residual' has value 'centred'"),
    ("sampling.n_samples", 0, "'sampling.n_samples' has value 0"),
    ("sampling.chunk_size", 0, "'sampling.chunk_size' has value 0"),
    ("sampling.steps", 0, "'sampling.steps' has value 0: expected a number >= 1"),
    ("sampling.steps", 10.5, "'sampling.steps' has value 10.5"),
    ("sampling.refine_last", -1, "'sampling.refine_last' has value -1"),
    ("sampling.refine_last", 10**6, "expected at most sampling.steps"),
    ("sampling.refine_factor", 0, "'sampling.refine_factor' has value 0"),
    ("sampling.ode_method", "rk4", "'sampling.ode_method' has moved: set samplers.ode.solver"),
    ("sampling.sde_method", "srk", "'sampling.sde_method' has moved: set samplers.sde.solver"),
    ("samplers.ode.solver", "leapfrog", "'samplers.ode.solver' has value 'leapfrog'"),
    ("samplers.sde.solver", "heun", "'samplers.sde.solver' has value 'heun': expected one of "
     "euler, milstein, srk"),
    ("samplers.ode.dynamics", "langevin", "'samplers.ode.dynamics' has value 'langevin'"),
    ("samplers.ode.grid", "edm", "'samplers.ode.solver' has value 'euler': expected one of ddim, "
     "heun, dpmpp_2m, dpmpp_3m, unipc, dopri5_edm for dynamics ode on grid edm; euler runs on "
     "grid sampling"),
    ("samplers.ddim", {"dynamics": "ode", "solver": "ddim", "grid": "edm"},
     "'samplers.ddim.nfe' has value None: expected an NFE budget"),
    ("samplers.ddim", {"dynamics": "ode", "solver": "ddim"},
     "'samplers.ddim.solver' has value 'ddim': expected one of euler, midpoint, rk4, dopri5, "
     "bosh3, adaptive_heun for dynamics ode on grid sampling; ddim runs on grid edm or logsnr"),
    ("samplers.rk4", {"dynamics": "ode", "solver": "rk4", "nfe": [8, 10]},
     "'samplers.rk4.nfe' has value [8, 10]: expected multiples of 4 for rk4"),
    ("samplers.srk", {"dynamics": "sde", "solver": "srk", "nfe": [10]},
     "'samplers.srk.nfe' has value [10]: expected null for solver srk on grid sampling"),
    ("samplers.adaptive", {"dynamics": "ode", "solver": "dopri5", "nfe": 10},
     "expected null for solver dopri5 on grid sampling"),
    ("samplers.sde.eta", 0.5, "'samplers.sde.eta' has value 0.5: expected null unless"),
    ("samplers.ode.colour", "red", "unknown config key(s) 'colour' under 'samplers.ode'"),
    ("samplers.Heun", {"dynamics": "ode"}, "'samplers' has value 'Heun': expected a name"),
    ("samplers.heun", {"dynamics": "sde", "solver": "heun", "grid": "edm", "nfe": 10},
     "'samplers.heun.dynamics' has value 'sde': expected ode for solver heun"),
    ("samplers.unipc", {"dynamics": "ode", "solver": "unipc", "grid": "edm", "nfe": 10,
                        "options": {"churn": 1}}, "expected options of unipc only (order)"),
    ("samplers.dopri", {"dynamics": "ode", "solver": "dopri5_edm", "grid": "edm", "nfe": 10},
     "expected null for the adaptive dopri5_edm"),
    ("samplers.ode.sigma_max", 80, "'samplers.ode.sigma_max' has value 80: expected null on "
     "grid sampling"),
    ("samplers.heun", {"dynamics": "ode", "solver": "heun", "grid": "edm", "nfe": 10,
                       "sigma_max": 1e5}, "'samplers.heun.sigma_max' has value 100000.0: "
     "expected a noise level in the process's range"),
    ("samplers.heun", {"dynamics": "ode", "solver": "heun", "grid": "edm", "nfe": 10,
                       "sigma_max": 0}, "'samplers.heun.sigma_max' has value 0"),
    ("samplers.ode", DELETE, "'gap' has value ['ode', 'sde']: expected two of the configured "
     "samplers (sde); 'ode' is not one"),
    ("gap", ["heun", "sde"], "'gap' has value ['heun', 'sde']: expected two of the configured "
     "samplers (ode, sde); 'heun' is not one"),
    ("gap", ["sde", "sde"], "'gap' has value ['sde', 'sde']: expected two distinct samplers"),
    ("gap", ["ode"], "'gap' has value ['ode']: expected a list with at least 2 item(s)"),
    ("gap", ["ode", "sde", "eta"], "expected a list with at most 2 item(s)"),
    ("gap", "sde", "'gap' has value 'sde': expected a value of type array"),
    ("samplers.sde.nfe", [10, 20], "'gap' has value ['ode', 'sde']: expected samplers with one "
     "budget each; 'sde' is an NFE sweep (samplers.sde.nfe is a list)"),
    ("reference_sampler", "sde", "'reference_sampler' has value 'sde': it was replaced by 'gap'; "
     "set gap: [..., sde] instead"),
    ("sampling.ode_rtol", 0, "'sampling.ode_rtol' has value 0"),
    ("evaluation.grid_bins", 1, "'evaluation.grid_bins' has value 1"),
    ("evaluation.box_half_width", -3.5, "'evaluation.box_half_width' has value -3.5"),
    ("evaluation.sliced_projections", 0, "'evaluation.sliced_projections' has value 0"),
    ("evaluation.residual_points", 1, "'evaluation.residual_points' has value 1"),
    ("evaluation.residual_points", 10, "expected at least evaluation.residual_points_per_time"),
    ("evaluation.residual_time_distribution", "normal", "'evaluation.residual_time_distr"),
    ("evaluation.seed", -3, "'evaluation.seed' has value -3"),
    ("evalution", {}, "unknown config key(s) 'evalution'"),
    ("sampling", [], "'sampling' has value []: expected a value of type object"),
]


@pytest.mark.parametrize(("key", "value", "message"), MALFORMED,
                         ids=[f"{k}={v!r}"[:60] for k, v, _ in MALFORMED])
def test_malformed_config_is_named(key, value, message):
    with pytest.raises(ConfigError) as caught:
        checked(_mutated(key, value))
    assert message in str(caught.value)


def test_grid_w2_needs_planar_data():
    config = _mutated("datasets", ["mixture", "gmm8d"])
    config["evaluation"]["w2_method"] = "grid"
    with pytest.raises(ConfigError, match=r"'evaluation.w2_method' has value 'grid'.*gmm8d"):
        checked(config)


@pytest.mark.slow
def test_default_config_and_presets_are_valid():
    assert checked(BASE)["training"]["steps"] >= 1
    for preset in sorted((REPO / "presets").glob("*.yaml")):
        config = merged(preset)  # over config.yaml, as Snakemake merges it
        project_copy = REPO / config.get("published", {}).get("checkpoints_dir", "")
        if preset.stem == "published" and not project_copy.is_dir():
            # The project's copy is not filled: the check says so and names the command. Then
            # the preset is checked with the files the tests found elsewhere, if any.
            with pytest.raises(ConfigError, match="make published"):
                checked(config)
            config["published"] = found_paths() if CHECKPOINTS.is_dir() else {}
        checked(config)


def test_defaults_fill_missing_sections():
    config = checked({"datasets": ["mixture"], "fp_weights": [0.0], "seeds": [0]})
    assert config["samplers"]["ode"] == {
        "dynamics": "ode", "solver": "euler", "grid": "sampling", "nfe": None, "eta": None,
        "rho": 7.0, "sigma_max": None, "options": {}}
    assert config["gap"] == ["ode", "sde"]
    assert config["training"]["residual"]["points_per_time"] == 32


def test_every_schema_key_has_a_description_and_default():
    def walk(node, path):
        for key, sub in node.get("properties", {}).items():
            assert "description" in sub, f"{path}{key} has no description"
            if path or key not in ("datasets", "fp_weights", "seeds"):
                assert "default" in sub, f"{path}{key} has no default"
            walk(sub, f"{path}{key}.")

    walk(load_schema(), "")


def test_configuration_reference_is_generated_from_the_schema_and_current():
    from odesdegap.config_reference import reference_markdown

    reference = (REPO / "docs" / "configuration.md").read_text()
    assert reference == reference_markdown(), "docs/configuration.md is stale: run `make docs`"

    def walk(node, path):
        for key, sub in node.get("properties", {}).items():
            if sub.get("type") == "object" and "properties" in sub:
                walk(sub, f"{path}{key}.")
            else:
                assert f"| `{path}{key}` |" in reference, f"`{path}{key}` is not documented"

    walk(load_schema(), "")


@pytest.mark.slow
def test_snakemake_stops_before_any_job_without_a_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("fp_weights: [0, -1]\ntraining: {steps: 0}\n")
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--configfile", str(bad),
         "--directory", str(tmp_path), "-s", str(REPO / "Snakefile")],
        capture_output=True, text=True, cwd=REPO,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "config key 'fp_weights.1' has value -1: expected a number >= 0" in output
    assert "config key 'training.steps' has value 0" in output
    assert "Traceback" not in output and 'File "' not in output
    assert not (tmp_path / "results").exists()


IMAGES = merged(REPO / "presets/images.yaml")


@pytest.mark.parametrize(("edit", "message"), [
    ({"model": {"kind": "potential_mlp"}},
     "'model.kind' has value 'potential_mlp': expected unet_potential or unet_vector"),
    ({"datasets": ["digits", "mixture"]}, "expected either image data sets (digits) or point"),
    ({"training": {"residual": {"noised_fraction": 0.5, "hutchinson_probes": 1}}},
     "'training.residual.noised_fraction' has value 0.5: expected 1.0 with image data sets"),
    ({"training": {"residual": {"noised_fraction": 1.0, "hutchinson_probes": 0}}},
     "'training.residual.hutchinson_probes' has value 0: expected at least 1"),
    ({"evaluation": {"hutchinson_probes": 0}},
     "'evaluation.hutchinson_probes' has value 0: expected at least 1"),
    ({"data": {"n_reference": 1797}}, "'data.n_reference' has value 1797: expected fewer than"),
    ({"model": {"kind": "unet_potential", "channel_multipliers": []}},
     "'model.channel_multipliers' has value []"),
    ({"evaluation": {"fid": {"feature_extractors": ["clip"]}}},
     "'evaluation.fid.feature_extractors.0' has value 'clip'"),
    ({"classifier": {"epochs": 0}}, "'classifier.epochs' has value 0"),
    ({"samplers": {"ode": {"dynamics": "ode", "solver": "heun", "grid": "edm", "nfe": [5, 9]}}},
     "an NFE sweep measures W2 on the 2-D grid"),
], ids=lambda v: str(v)[:40])
def test_image_configs_are_checked(edit, message):
    config = copy.deepcopy(IMAGES)
    for section, value in edit.items():
        config[section] = ({**config.get(section, {}), **value} if isinstance(value, dict)
                           else value)
    with pytest.raises(ConfigError) as raised:
        checked(config)
    assert message in str(raised.value)


def test_point_data_sets_refuse_the_unet():
    config = _mutated("model", {"kind": "unet_vector"})
    with pytest.raises(ConfigError, match="'model.kind' has value 'unet_vector': expected "
                                          "potential_mlp or vector_mlp"):
        checked(config)


def test_missing_torchvision_data_without_download_stops_before_any_job(tmp_path):
    config = copy.deepcopy(IMAGES)
    config["datasets"] = ["mnist"]
    config["data"] = {"root": str(tmp_path / "nowhere"), "download": False}
    with pytest.raises(ConfigError) as raised:
        checked(config)
    message = str(raised.value)
    assert "data set 'mnist' is not in" in message and "data.download is false" in message
    assert "train-images-idx3-ubyte.gz" in message
    assert str((tmp_path / "nowhere" / "MNIST" / "raw").resolve()) in message


def test_one_point_per_time_needs_the_full_residual():
    config = _mutated("training.residual.points_per_time", 1)
    with pytest.raises(ConfigError, match="'training.residual.points_per_time' has value 1: "
                                          "expected at least 2 with training.residual.form "
                                          "'centred'"):
        checked(config)
    config["training"]["residual"]["form"] = "full"
    assert checked(config)["training"]["residual"]["points_per_time"] == 1


@pytest.mark.parametrize("decay", [-0.1, 1.0])
def test_ema_decay_must_lie_in_zero_one(decay):
    with pytest.raises(ConfigError, match="'training.ema_decay' has value"):
        checked(_mutated("training.ema_decay", decay))


def test_a_fast_sampler_takes_a_noise_range_inside_the_process_s():
    """samplers.<name>.sigma_max: any level up to sigma~(t_max) (about 15,600 for OU, about 10
    for the default VE process, whose range 80 exceeds)."""
    heun = {"dynamics": "ode", "solver": "heun", "grid": "edm", "nfe": 10, "sigma_max": 80}
    assert checked(_mutated("samplers.heun", heun))["samplers"]["heun"]["sigma_max"] == 80
    config = _mutated("samplers.heun", heun)
    config["process"] = {"name": "ve"}
    with pytest.raises(ConfigError, match="'samplers.heun.sigma_max' has value 80: expected a "
                       "noise level in the process's range"):
        checked(config)


def test_a_sampler_named_after_a_dynamics_has_that_dynamics():
    """Texts and figures call samplers.ode "ODE" (reporting.gap.sampler_label), so a sampler of
    that name integrates the ODE; any other name takes any dynamics."""
    config = _mutated("samplers.ode", {"dynamics": "sde", "solver": "euler"})
    with pytest.raises(ConfigError, match="'samplers.ode.dynamics' has value 'sde': expected "
                       "'ode'"):
        checked(config)
    assert checked(_mutated("samplers.noisy", {"dynamics": "sde", "solver": "euler"}))
