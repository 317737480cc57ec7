"""Config checking: the JSON Schema (config_schema.yaml) plus the few rules a schema cannot say,
reported as one readable message per problem (key, value, what was expected) before any job
runs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import jsonschema
import yaml

from odesdegap.data.datasets import NOT_TRAINED, dataset_names, dimension, image_shape
from odesdegap.data.images import DIGITS_TOTAL, TORCHVISION_DATASETS
from odesdegap.published import config_rules as published_rules
from odesdegap.settings import SettingsError

SCHEMA_PATH = Path(__file__).with_name("config_schema.yaml")
# The workflow's embedded config (the Snakefile's `configfile:`), which presets merge over.
DEFAULT_CONFIG_PATH = Path(__file__).resolve().parents[2] / "config.yaml"


class ConfigError(ValueError):
    """The config is malformed; the message lists every problem found."""


def load_schema() -> dict:
    """The schema of config_schema.yaml, with the data-set names, the model kinds and the
    solvers filled in from their one lists, the registries of odesdegap.data.datasets,
    odesdegap.models and odesdegap.diffusion.solvers (an entry added there is a valid choice,
    listed in docs/configuration.md by `make docs`, with no edit here)."""
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    datasets = schema["properties"]["datasets"]
    names = dataset_names()
    datasets["items"]["anyOf"][0]["enum"] = names
    datasets["description"] += " Names: " + ", ".join(names) + "."
    # a data set of the registry that is not trained (the exact lane) is refused with its reason
    datasets["description"] += "".join(f" Not for training: {name}, {why}."
                                       for name, why in NOT_TRAINED.items())
    datasets["items"]["x-refused"] = {
        name: f"expected a data set to train on ({name} is {why})"
        for name, why in NOT_TRAINED.items()}
    # and the model kinds from theirs, odesdegap.models.MODEL_KINDS, and the solvers from
    # odesdegap.diffusion.solvers.SOLVERS
    from odesdegap.diffusion.dynamics import ETA, ODE, SDE
    from odesdegap.diffusion.solvers import SOLVERS, solvers_for
    from odesdegap.models import MODEL_KINDS

    schema["properties"]["model"]["properties"]["kind"]["enum"] = list(MODEL_KINDS)
    solver = schema["properties"]["samplers"]["additionalProperties"]["properties"]["solver"]
    solver["enum"] = list(SOLVERS)
    solver["description"] += " " + " ".join(
        f"{dynamics} on {grid}: {', '.join(solvers_for(dynamics, grid))}."
        for dynamics, grid in ((ODE, "sampling"), (SDE, "sampling"), (ETA, "sampling"),
                               (ODE, "edm"), (SDE, "edm")))
    return schema


def format_weight(weight: float) -> str:
    """How an FP weight appears in paths (w0, w0.1, w10): short, stable, round-trips."""
    return f"{float(weight):g}"


def _key(path) -> str:
    return ".".join(str(part) for part in path) or "(top level)"


def _expected(error: jsonschema.ValidationError) -> str:
    rule, value = error.validator, error.validator_value
    if rule == "type":
        return f"a value of type {value}"
    if rule == "enum":
        return "one of " + ", ".join(map(repr, value))
    if rule == "minimum":
        return f"a number >= {value}"
    if rule == "exclusiveMinimum":
        return f"a number > {value}"
    if rule == "anyOf":
        choices = []
        for option in value:
            choices += [repr(v) for v in option.get("enum", [])]
            if "pattern" in option:
                choices.append(f"a name matching {option['pattern']}")
            if option.get("type") == "null":
                choices.append("null")
            elif option.get("type") == "number":
                bound = ("exclusiveMinimum", ">") if "exclusiveMinimum" in option else (
                    "minimum", ">=")
                choices.append(f"a number {bound[1]} {option[bound[0]]}" if bound[0] in option
                               else "a number")
        return "one of " + ", ".join(choices)
    if rule == "pattern":
        return f"a name matching {value}"
    if rule == "minProperties":
        return f"a mapping with at least {value} entry(ies)"
    if rule == "maximum":
        return f"a number <= {value}"
    if rule == "exclusiveMaximum":
        return f"a number < {value}"
    if rule == "minItems":
        return f"a list with at least {value} item(s)"
    if rule == "maxItems":
        return f"a list with at most {value} item(s)"
    if rule == "uniqueItems":
        return "a list without repeated items"
    if rule == "required":
        return "the key to be present"
    if rule == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        return "only known keys: " + ", ".join(allowed)
    return error.message


# Keys that moved, and where to: a config that still sets one is told so.
MOVED_KEYS = {
    ("sampling", "ode_method"): "samplers.ode.solver",
    ("sampling", "sde_method"): "samplers.sde.solver",
    ("studies", "eta"): "a sampler with dynamics eta per member (samplers.<name>.eta)",
    ("studies", "sampler"): "a sampler with a list of NFE budgets per integrator "
                            "(samplers.<name>.nfe on grid sampling: presets/studies/steps.yaml)",
}


def schema_problems(config: dict, schema: dict | None = None) -> list[str]:
    schema = schema or load_schema()
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    if "reference_sampler" in config:
        # replaced by `gap`, whose second member is the reference: said before any other problem
        value = config["reference_sampler"]
        config = {k: v for k, v in config.items() if k != "reference_sampler"}
        problems.append(f"config key 'reference_sampler' has value {value!r}: it was replaced by "
                        f"'gap'; set gap: [..., {value}] instead (the sampler whose gap the "
                        f"findings read, then {value}, the reference every sampler is compared "
                        "with)")
    for (section, key), home in MOVED_KEYS.items():
        if isinstance(config.get(section), dict) and key in config[section]:
            rest = {k: v for k, v in config[section].items() if k != key}
            config = {k: v for k, v in config.items() if k != section or rest}
            if rest:
                config[section] = rest
            problems.append(f"config key '{section}.{key}' has moved: set {home} instead (every "
                            "sampler is an entry of `samplers`; see docs/extending.md)")
    for error in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.path))):
        key = _key(error.absolute_path)
        if error.validator == "required":
            missing = error.message.split("'")[1]
            problems.append(f"config key '{_key([*error.absolute_path, missing])}' is missing: "
                            f"expected {error.schema['properties'][missing]['description']}")
        elif error.validator == "additionalProperties":
            extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
            where = "" if not error.absolute_path else f" under '{key}'"
            problems.append(f"unknown config key(s) {', '.join(map(repr, extra))}{where}: "
                            f"expected {_expected(error)}")
        elif isinstance(error.instance, str) and error.instance in error.schema.get(
                "x-refused", {}):
            problems.append(f"config key '{key}' has value {error.instance!r}: "
                            f"{error.schema['x-refused'][error.instance]}")
        else:
            problems.append(f"config key '{key}' has value {error.instance!r}: "
                            f"expected {_expected(error)}")
    return problems


def fill_defaults(config: dict, schema: dict | None = None) -> dict:
    """Return a copy of `config` with every default of the schema filled in, recursively."""
    schema = schema or load_schema()

    def fill(node, node_schema):
        if node_schema.get("type") != "object" or not isinstance(node, dict):
            return node
        filled = dict(node)
        entries = node_schema.get("additionalProperties")
        if isinstance(entries, dict) and entries.get("type") == "object":
            # a mapping of named entries (samplers): each entry gets its own defaults
            known = node_schema.get("properties", {})
            filled.update({key: fill(value, entries) for key, value in filled.items()
                           if key not in known})
        for key, sub in node_schema.get("properties", {}).items():
            if key not in filled and "default" in sub:
                filled[key] = sub["default"]
            if key in filled:
                filled[key] = fill(filled[key], sub)
        return filled

    return fill(config, schema)


def from_schema_defaults(cls, where: str, **changes):
    """Settings `cls` (odesdegap.settings) of section `where` (e.g. "training",
    "evaluation.nll") as the schema's defaults fill it in, with `changes` (a nested section's
    changes as a mapping of its keys): for tests and benchmarks, which thereby read the one set
    of defaults the workflow uses."""
    section = fill_defaults({})
    for part in where.split("."):
        section = section[part]
    return cls.from_config(_with_changes(section, changes), where)


def _with_changes(section: Mapping, changes: Mapping) -> dict:
    unknown = set(changes) - set(section)
    if unknown:
        raise SettingsError(f"unknown key(s) {', '.join(sorted(unknown))}: expected keys of "
                            f"{', '.join(sorted(section))}")
    return {key: _with_changes(value, changes[key])
            if isinstance(value, Mapping) and key in changes
            else changes[key] if key in changes else value for key, value in section.items()}


def consistency_problems(config: dict) -> list[str]:
    """Rules across keys that JSON Schema cannot express."""
    problems = []
    weights = [format_weight(w) for w in config["fp_weights"]]
    if len(set(weights)) != len(weights):
        problems.append(f"config key 'fp_weights' has value {config['fp_weights']!r}: expected "
                        "weights that stay distinct when written into paths (as %g)")
    training, sampling = config["training"], config["sampling"]
    if training["schedule"] == "finetune" and training["pretrain_steps"] < 1:
        problems.append("config key 'training.pretrain_steps' has value "
                        f"{training['pretrain_steps']!r}: expected at least 1 with "
                        "training.schedule 'finetune'")
    model = config["model"]
    if model["kind"] == "vector_mlp" and model["gaussian_baseline"]:
        problems.append("config key 'model.gaussian_baseline' has value True: expected false "
                        "with model.kind 'vector_mlp' (a vector score has no potential)")
    residual = training["residual"]
    if residual["collocation_points"] < residual["points_per_time"]:
        problems.append("config key 'training.residual.collocation_points' has value "
                        f"{residual['collocation_points']!r}: expected at least "
                        f"training.residual.points_per_time ({residual['points_per_time']})")
    if residual["form"] == "centred" and residual["points_per_time"] < 2:
        problems.append("config key 'training.residual.points_per_time' has value "
                        f"{residual['points_per_time']!r}: expected at least 2 with "
                        "training.residual.form 'centred' (it removes each time's mean)")
    late = [m for m in training["lr_milestones"] if m >= training["steps"]]
    if late:
        problems.append(f"config key 'training.lr_milestones' has value {late!r}: expected "
                        f"milestones below training.steps ({training['steps']})")
    if sampling["refine_last"] > sampling["steps"]:
        problems.append(f"config key 'sampling.refine_last' has value {sampling['refine_last']!r}"
                        f": expected at most sampling.steps ({sampling['steps']})")
    process = config["process"]
    if process["t_min"] >= process["t_max"]:
        problems.append(f"config key 'process.t_min' has value {process['t_min']!r}: expected "
                        f"less than process.t_max ({process['t_max']})")
    evaluation = config["evaluation"]
    if evaluation["w2_method"] == "grid":
        planar = [d for d in config["datasets"] if dimension(d) != 2]
        if planar:
            problems.append(f"config key 'evaluation.w2_method' has value 'grid': expected "
                            f"auto or subsample with data sets of more than 2 dimensions "
                            f"({', '.join(planar)})")
    problems += sampler_problems(config)
    if evaluation["residual_points"] < evaluation["residual_points_per_time"]:
        problems.append("config key 'evaluation.residual_points' has value "
                        f"{evaluation['residual_points']!r}: expected at least "
                        "evaluation.residual_points_per_time")
    return problems + image_problems(config) + published_rules.config_problems(config)


def sampler_problems(config: dict) -> list[str]:
    """Each sampler's solver must exist for its dynamics and grid, with the keys it reads; the
    gap's two samplers must be configured, distinct, and each write samples."""
    from odesdegap.diffusion.processes import build_process
    from odesdegap.diffusion.samplers import sampler_problems as problems_of

    samplers = config["samplers"]
    process = build_process(config["process"])
    problems = [problem for name, entry in samplers.items()
                for problem in problems_of(entry, f"samplers.{name}", process)]
    gap = config["gap"]
    for name in gap:
        if name not in samplers:
            problems.append(f"config key 'gap' has value {gap!r}: expected two of the "
                            f"configured samplers ({', '.join(samplers)}); {name!r} is not one")
        elif isinstance(samplers[name].get("nfe"), list):
            problems.append(f"config key 'gap' has value {gap!r}: expected samplers with one "
                            f"budget each; {name!r} is an NFE sweep (samplers.{name}.nfe is a "
                            "list), which writes no samples")
    if gap[0] == gap[1]:
        problems.append(f"config key 'gap' has value {gap!r}: expected two distinct samplers "
                        "(the first is compared against the second)")
    sweeps = [name for name, entry in samplers.items() if isinstance(entry.get("nfe"), list)]
    higher = [d for d in config["datasets"] if dimension(d) != 2]
    if sweeps and higher:
        problems.append(f"config key 'samplers.{sweeps[0]}.nfe' has value "
                        f"{samplers[sweeps[0]]['nfe']!r}: expected one budget with data sets of "
                        f"more than 2 dimensions ({', '.join(higher)}): an NFE sweep measures W2 "
                        "on the 2-D grid")
    return problems


def image_problems(config: dict) -> list[str]:
    """Image data sets need image models, Hutchinson estimates and collocation near the data;
    point clouds need the MLPs."""
    images = [d for d in config["datasets"] if image_shape(d) is not None]
    points = [d for d in config["datasets"] if image_shape(d) is None]
    kind = config["model"]["kind"]
    problems = []
    if images and points:
        return [f"config key 'datasets' has value {config['datasets']!r}: expected either image "
                f"data sets ({', '.join(images)}) or point data sets ({', '.join(points)}), not "
                "both (they need different models; run them with two configs)"]
    if images and not kind.startswith("unet"):
        problems.append(f"config key 'model.kind' has value {kind!r}: expected unet_potential or "
                        f"unet_vector with image data sets ({', '.join(images)})")
    if points and kind.startswith("unet"):
        problems.append(f"config key 'model.kind' has value {kind!r}: expected potential_mlp or "
                        f"vector_mlp with point data sets ({', '.join(points)})")
    if not images:
        return problems
    residual, evaluation = config["training"]["residual"], config["evaluation"]
    if residual["noised_fraction"] != 1:
        problems.append("config key 'training.residual.noised_fraction' has value "
                        f"{residual['noised_fraction']!r}: expected 1.0 with image data sets "
                        "(collocation at noised images; a box in pixel space is not where "
                        "images live)")
    for key, value in (("training.residual.hutchinson_probes", residual["hutchinson_probes"]),
                       ("evaluation.hutchinson_probes", evaluation["hutchinson_probes"])):
        if value < 1:
            problems.append(f"config key '{key}' has value {value!r}: expected at least 1 with "
                            "image data sets (the exact Laplacian costs one backward pass per "
                            "pixel)")
    n_reference = config["data"]["n_reference"]
    if "digits" in images and n_reference >= DIGITS_TOTAL:
        problems.append(f"config key 'data.n_reference' has value {n_reference!r}: expected "
                        f"fewer than digits' {DIGITS_TOTAL} images (the rest train the models)")
    return problems


def missing_data_problems(config: dict) -> list[str]:
    """torchvision data sets that are not on disk when downloading is switched off: caught here,
    before any job, rather than by the first job that needs them."""
    from odesdegap.data.images import is_on_disk, unavailable_message

    data = config["data"]
    if data["download"]:
        return []
    return [unavailable_message(name, data["root"], download=False)
            for name in config["datasets"]
            if name in TORCHVISION_DATASETS and not is_on_disk(name, data["root"])]


def checked(config: dict) -> dict:
    """The config with defaults filled in, or ConfigError naming every problem."""
    if not isinstance(config, dict) or not config:
        raise ConfigError("the config is empty: pass a YAML mapping with at least datasets, "
                          "fp_weights and seeds (see config.yaml)")
    problems = schema_problems(config)
    if not problems:
        config = fill_defaults(config)
        problems = consistency_problems(config)
    if not problems:
        problems = missing_data_problems(config) + published_rules.missing_file_problems(config)
    if problems:
        raise ConfigError("invalid config:\n" + "\n".join(f"  - {p}" for p in problems))
    return config


def merged(*config_files, base: Path | str | None = DEFAULT_CONFIG_PATH) -> dict:
    """`base` (config.yaml) with each file merged over it in order, key by key, by Snakemake's
    own `update_config`: exactly what `snakemake --configfile A B` gives the Snakefile (nested
    mappings are merged, every other value, lists included, is replaced)."""
    from snakemake.utils import update_config

    config: dict = {}
    for path in ([base] if base is not None else []) + list(config_files):
        loaded = yaml.safe_load(Path(path).read_text())
        if loaded is None:
            continue
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} holds a {type(loaded).__name__}: expected a "
                              "YAML mapping of config keys")
        update_config(config, loaded)
    return config


def resolve(*config_files, base: Path | str | None = DEFAULT_CONFIG_PATH) -> dict:
    """The config a run with `--configfile *config_files` uses: merged as Snakemake merges it
    (see `merged`), schema defaults filled in and every rule checked (ConfigError otherwise).
    Tests, benchmarks and scripts that read a preset go through this, so that they see what
    Snakemake runs."""
    return checked(merged(*config_files, base=base))
