"""Config checking: the JSON Schema (config_schema.yaml) plus the few rules a schema cannot say,
reported as one readable message per problem (key, value, what was expected) before any job
runs.

This module knows the schema and the rules across its own keys, and imports nothing of the
domain (data sets, models, solvers, the published files): a list of choices or a rule that needs
a domain's names lives in that domain's module, which registers it here when it is imported
(register_choices, register_check). odesdegap.config_checks imports every such module; check a
config through it (`from odesdegap.config_checks import checked`), as the Snakefile does.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from odesdegap.settings import SettingsError

SCHEMA_PATH = Path(__file__).with_name("config_schema.yaml")
# The workflow's embedded config (the Snakefile's `configfile:`), which presets merge over.
DEFAULT_CONFIG_PATH = Path(__file__).resolve().parents[2] / "config.yaml"
# The module that imports every module with a registered check or list of choices.
CHECKS_MODULE = "odesdegap.config_checks"


class ConfigError(ValueError):
    """The config is malformed; the message lists every problem found."""


# --- what other modules register -----------------------------------------------------------------
# By name (module.function), so that importing a module twice registers nothing twice; in
# registration order, which is the order of their problems in the message.
_CHOICES: dict[str, Callable[[dict], None]] = {}
_CHECKS: dict[str, Callable[[dict], list[str]]] = {}
_DISK_CHECKS: dict[str, Callable[[dict], list[str]]] = {}


def _name(function) -> str:
    return f"{function.__module__}.{function.__qualname__}"


def register_choices(fill: Callable[[dict], None]) -> Callable[[dict], None]:
    """Register `fill(schema)`, which fills in a list of choices of the schema (an `enum`, and
    its description) from the registry of the module that calls this, so that an entry added
    there is a valid choice, listed in docs/configuration.md by `make docs`. A decorator."""
    _CHOICES[_name(fill)] = fill
    return fill


def register_check(check: Callable[[dict], list[str]] | None = None, *, on_disk: bool = False):
    """Register `check(config) -> problems` (one message per problem, naming the key, as the
    other messages do), run on a config that passed the schema, with its defaults filled in.
    With on_disk=True it looks at files instead, and runs only once every rule holds. A
    decorator, with or without arguments."""
    def register(function):
        (_DISK_CHECKS if on_disk else _CHECKS)[_name(function)] = function
        return function
    return register if check is None else register(check)


def _every_check_registered() -> None:
    """Stop a check that would silently miss the domain modules' checks."""
    if CHECKS_MODULE not in sys.modules:
        raise RuntimeError(f"the domain modules' config checks are not registered: check configs "
                           f"through {CHECKS_MODULE} (it imports every module that registers one)")


def _schema_file() -> dict:
    """config_schema.yaml as written: its keys, types and defaults, no lists of choices."""
    import yaml

    return yaml.safe_load(SCHEMA_PATH.read_text())


def load_schema() -> dict:
    """The schema of config_schema.yaml with every registered list of choices filled in (the
    data-set names, the model kinds, the solvers: each from its one registry)."""
    _every_check_registered()
    schema = _schema_file()
    for fill in _CHOICES.values():
        fill(schema)
    return schema


def format_weight(weight: float) -> str:
    """How an FP weight appears in paths (w0, w0.1, w10): short, stable, round-trips."""
    return f"{float(weight):g}"


def _key(path) -> str:
    return ".".join(str(part) for part in path) or "(top level)"


def _expected(error) -> str:
    """What a jsonschema.ValidationError's rule expected, in words."""
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
    import jsonschema  # here, not above: a job that imports a registering module skips it

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
    """Return a copy of `config` with every default of the schema filled in, recursively (the
    lists of choices do not change a default: the schema file alone serves when none is given)."""
    schema = schema or _schema_file()

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
    """Rules across keys that JSON Schema cannot express: this module's, then the registered
    checks'."""
    _every_check_registered()
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
    problems += sampler_problems(config)
    evaluation = config["evaluation"]
    if evaluation["residual_points"] < evaluation["residual_points_per_time"]:
        problems.append("config key 'evaluation.residual_points' has value "
                        f"{evaluation['residual_points']!r}: expected at least "
                        "evaluation.residual_points_per_time")
    return problems + [problem for check in _CHECKS.values() for problem in check(config)]


def sampler_problems(config: dict) -> list[str]:
    """The gap's two samplers must be configured, distinct, and each write samples (each
    sampler's own entry is checked by odesdegap.diffusion.samplers)."""
    samplers = config["samplers"]
    problems = []
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
    return problems


def checked(config: dict) -> dict:
    """The config with defaults filled in, or ConfigError naming every problem: the schema's,
    then the rules across keys (this module's and the registered checks), then, when those
    hold, the registered checks of files on disk."""
    if not isinstance(config, dict) or not config:
        raise ConfigError("the config is empty: pass a YAML mapping with at least datasets, "
                          "fp_weights and seeds (see config.yaml)")
    problems = schema_problems(config)
    if not problems:
        config = fill_defaults(config)
        problems = consistency_problems(config)
    if not problems:
        problems = [problem for check in _DISK_CHECKS.values() for problem in check(config)]
    if problems:
        raise ConfigError("invalid config:\n" + "\n".join(f"  - {p}" for p in problems))
    return config


def merged(*config_files, base: Path | str | None = DEFAULT_CONFIG_PATH) -> dict:
    """`base` (config.yaml) with each file merged over it in order, key by key, by Snakemake's
    own `update_config`: exactly what `snakemake --configfile A B` gives the Snakefile (nested
    mappings are merged, every other value, lists included, is replaced)."""
    import yaml
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
