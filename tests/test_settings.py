"""Settings objects and choices: each settings class names exactly config keys (one name per
setting), has no defaults of its own, and each list of choices written both in the schema and
in code agrees; the data-set list has one home (the registry) and reaches the schema from it."""

import dataclasses
import importlib

import pytest
from torchsde.settings import METHODS as SDE_METHODS

from odesdegap import devices, engine, settings
from odesdegap.config import fill_defaults, from_schema_defaults
from odesdegap.config_checks import ConfigError, checked, load_schema
from odesdegap.data import datasets
from odesdegap.diffusion import likelihood, losses, processes, residual, samplers
from odesdegap.diffusion.solvers import FAMILIES, SOLVERS
from odesdegap.evaluation import distances, fid
from odesdegap.models import MODEL_KINDS, PotentialMLP, build_model

SCHEMA = load_schema()
MINIMAL = {"datasets": ["mixture"], "fp_weights": [0.0], "seeds": [0]}

SECTIONS = {
    settings.TrainingSettings: "training",
    settings.ResidualSettings: "training.residual",
    settings.SamplingSettings: "sampling",
    settings.GridSettings: "evaluation",
    settings.W2Settings: "evaluation",
    settings.SamplerEvaluationSettings: "evaluation",
    settings.EvaluationSettings: "evaluation",
    settings.NllSettings: "evaluation.nll",
    settings.ClassifierSettings: "classifier",
    settings.EngineSettings: "engine",
}


def _node(path: str) -> dict:
    node = SCHEMA
    for part in path.split("."):
        node = node["properties"][part]
    return node


@pytest.mark.parametrize("cls", list(SECTIONS), ids=lambda c: c.__name__)
def test_settings_fields_are_config_keys_without_defaults(cls):
    keys = set(_node(SECTIONS[cls])["properties"])
    for field in dataclasses.fields(cls):
        assert field.name in keys, f"{cls.__name__}.{field.name} is not a key of {SECTIONS[cls]}"
        assert field.default is dataclasses.MISSING, f"{cls.__name__}.{field.name} has a default"
        assert field.default_factory is dataclasses.MISSING
    # built from the schema's defaults, every field is there
    assert from_schema_defaults(cls, SECTIONS[cls])


def test_whole_sections_are_mirrored():
    """training and evaluation are mirrored whole, bar the keys other jobs read."""
    def names(cls):
        return {f.name for f in dataclasses.fields(cls)}

    assert set(_node("training")["properties"]) - names(settings.TrainingSettings) == {
        "schedule", "pretrain_steps"}  # they choose which jobs run (rules/train.smk)
    assert set(_node("evaluation")["properties"]) - names(settings.EvaluationSettings) == {
        "fid"}  # read by the FID rules
    for cls in (settings.ResidualSettings, settings.SamplingSettings, settings.NllSettings,
                settings.ClassifierSettings, settings.EngineSettings):
        assert names(cls) == set(_node(SECTIONS[cls])["properties"]), cls.__name__


def test_a_sampler_entry_is_mirrored_whole():
    entry = SCHEMA["properties"]["samplers"]["additionalProperties"]
    assert {f.name for f in dataclasses.fields(settings.SamplerSettings)} == set(
        entry["properties"])
    filled = fill_defaults(MINIMAL)["samplers"]["ode"]
    assert settings.SamplerSettings.from_config(filled, "samplers.ode").as_dict() == filled


def test_a_missing_key_is_an_error_naming_it():
    section = fill_defaults(MINIMAL)["training"]
    del section["residual"]["noised_fraction"]
    with pytest.raises(settings.SettingsError,
                       match="'training.residual.noised_fraction' is missing"):
        settings.TrainingSettings.from_config(section, "training")


def test_settings_round_trip_to_config_values():
    training = fill_defaults(MINIMAL)["training"]
    built = settings.TrainingSettings.from_config(training, "training")
    record = built.as_dict()
    assert record["residual"] == training["residual"]
    assert record["lr_milestones"] == training["lr_milestones"]


def _enum(path: str) -> list:
    node = _node(path)
    return node["items"]["enum"] if "items" in node else node["enum"]


@pytest.mark.parametrize(("path", "registry"), [
    ("process.name", processes.PROCESSES),
    ("training.precision", devices.PRECISIONS),
    ("training.dsm_weighting", losses.DSM_WEIGHTINGS),
    ("training.residual.weighting", residual.RESIDUAL_WEIGHTINGS),
    ("evaluation.grid_convention", distances.GRID_CONVENTIONS),
    ("evaluation.nll.spacing", likelihood.TIME_SPACINGS),
    ("evaluation.fid.feature_extractors", fid.EXTRACTORS),
    ("engine.derivatives", engine.DERIVATIVE_ENGINES),
    ("engine.compile", engine.COMPILED_STAGES),
])
def test_schema_choices_are_the_code_registries(path, registry):
    assert sorted(_enum(path)) == sorted(registry)


def test_integrator_choices_are_methods_of_the_libraries():
    # torchdiffeq's registry of solvers (odeint refuses any other name)
    ode_solvers = set(importlib.import_module("torchdiffeq._impl.odeint").SOLVERS)
    assert set(_enum("evaluation.nll.method")) <= ode_solvers
    time_grid = {name: s for name, s in SOLVERS.items() if s.family == "time"}
    ode = {name for name, s in time_grid.items() if "ode" in s.dynamics}
    assert ode <= ode_solvers
    adaptive = {name for name in ode if time_grid[name].adaptive}
    assert adaptive == ode & set(samplers.ODE_ADAPTIVE_METHODS)
    sde_methods = {v for k, v in vars(SDE_METHODS).items() if not k.startswith("_")}
    assert {name for name, s in time_grid.items() if set(s.dynamics) & {"sde", "eta"}} <= (
        sde_methods)
    # the budgeted time-grid solvers: fixed-step methods, never an adaptive one
    for name, solver in time_grid.items():
        assert not (solver.adaptive and solver.evaluations_per_step), name


def test_the_sampler_choices_are_the_solver_registry():
    """The schema's solvers are the registry's (config.load_schema fills them in), its grids
    the registry's two families' and its dynamics every dynamics a solver integrates."""
    entry = SCHEMA["properties"]["samplers"]["additionalProperties"]["properties"]
    assert entry["solver"]["enum"] == list(SOLVERS)
    assert set(entry["grid"]["enum"]) == {g for s in SOLVERS.values() for g in s.grids}
    assert set(entry["dynamics"]["enum"]) == {d for s in SOLVERS.values() for d in s.dynamics}
    assert {s.family for s in SOLVERS.values()} == set(FAMILIES)


def test_model_kinds_come_from_the_registry_and_each_builds():
    assert _enum("model.kind") == list(MODEL_KINDS)
    model = fill_defaults(MINIMAL)["model"]
    for kind in MODEL_KINDS:
        shape = (1, 8, 8) if kind.startswith("unet") else None
        dim = 64 if shape else 2
        assert build_model({**model, "kind": kind}, dim=dim, process=processes.OrnsteinUhlenbeck(),
                           image_shape=shape)


def test_a_model_kind_added_to_the_registry_alone_is_a_valid_choice(monkeypatch):
    monkeypatch.setitem(MODEL_KINDS, "wide_mlp", (
        lambda settings, dim, process, image_shape: PotentialMLP(
            dim, hidden_width=4 * settings["hidden_width"], hidden_layers=1,
            softplus_beta=settings["softplus_beta"], gaussian_baseline=False, process=process),
        ("hidden_width", "softplus_beta")))
    config = checked({**MINIMAL, "model": {"kind": "wide_mlp"}})
    model = build_model(config["model"], dim=2, process=processes.OrnsteinUhlenbeck())
    assert model.network[0].out_features == 4 * config["model"]["hidden_width"]


def test_data_set_names_come_from_the_registry():
    names = _node("datasets")["items"]["anyOf"][0]["enum"]
    assert names == datasets.dataset_names()
    assert "mixture" in names and "digits" in names and "gmm4d" not in names
    assert "Names: mixture, circles" in _node("datasets")["description"]


def test_a_data_set_added_to_the_registry_alone_is_a_valid_choice(monkeypatch):
    """The regression docs/extending.md relies on: a new 2-D data set is one registry entry."""
    with pytest.raises(ConfigError, match="datasets.0"):
        checked({**MINIMAL, "datasets": ["new_planar_set"]})
    monkeypatch.setitem(datasets.SAMPLERS, "new_planar_set", datasets.sample_moons)
    config = checked({**MINIMAL, "datasets": ["new_planar_set"]})
    assert config["datasets"] == ["new_planar_set"]
    assert datasets.dimension("new_planar_set") == 2
    assert datasets.sample_dataset("new_planar_set", 10, 0).shape == (10, 2)
