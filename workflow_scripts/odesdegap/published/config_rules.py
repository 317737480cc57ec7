"""The config rules of a run on the published models: with `published.checkpoints_dir` set, the
config must describe the published runs (data sets, weights, one seed, network, process, and
the paper's grid when their histograms are compared), and every file it names must be there,
all checked before any job (both registered with odesdegap.config)."""

from __future__ import annotations

from pathlib import Path

from odesdegap.config import register_check
from odesdegap.published.layout import (
    DATASET_NAMES,
    MODEL_SETTINGS,
    PAPER_GRID,
    PROCESS_SETTINGS,
    PUBLISHED_WEIGHTS,
    checkpoint_paths,
    histogram_paths,
)


@register_check
def config_problems(config: dict) -> list[str]:
    """With published.checkpoints_dir set, the config must describe the published runs: their
    data sets and weights, one seed, their network and process."""
    published = config["published"]
    if published["checkpoints_dir"] is None:
        if published["histograms_dir"] is not None:
            return ["config key 'published.histograms_dir' is set but "
                    "'published.checkpoints_dir' is not: expected both (the histograms are "
                    "compared with our samples of the published models)"]
        return []
    problems = []
    other = [d for d in config["datasets"] if d not in DATASET_NAMES]
    if other:
        problems.append(f"config key 'datasets' has value {config['datasets']!r}: expected only "
                        f"{', '.join(DATASET_NAMES)} with published.checkpoints_dir set "
                        "(the data sets of the published models)")
    weights = [w for w in config["fp_weights"] if float(w) not in PUBLISHED_WEIGHTS]
    if weights:
        problems.append(f"config key 'fp_weights' has value {config['fp_weights']!r}: expected "
                        f"weights among {', '.join(f'{w:g}' for w in PUBLISHED_WEIGHTS)} with "
                        "published.checkpoints_dir set")
    if list(config["seeds"]) != [0]:
        problems.append(f"config key 'seeds' has value {config['seeds']!r}: expected [0] with "
                        "published.checkpoints_dir set (one published model per data set and "
                        "weight)")
    problems += _mismatches(config, "model", MODEL_SETTINGS,
                            "with published.checkpoints_dir set (the published network)")
    if published["histograms_dir"] is not None:
        problems += _mismatches(config, "evaluation", PAPER_GRID.as_dict(),
                                "with published.histograms_dir set (our table is compared with "
                                "the authors', which uses the paper's grid)")
    problems += _mismatches(config, "process", PROCESS_SETTINGS,
                            "with published.checkpoints_dir set (the published models' process)")
    return problems


def _mismatches(config: dict, section: str, expected: dict, why: str) -> list[str]:
    """One problem per key of config[section] that differs from `expected`, saying `why`."""
    return [f"config key '{section}.{key}' has value {config[section][key]!r}: expected "
            f"{value!r} {why}" for key, value in expected.items()
            if config[section][key] != value]


@register_check(on_disk=True)
def missing_file_problems(config: dict) -> list[str]:
    """Every checkpoint and histogram the config needs, checked on disk before any job."""
    published = config["published"]
    if published["checkpoints_dir"] is None or config_problems(config):
        return []
    wanted = {"checkpoints_dir": checkpoint_paths, "histograms_dir": histogram_paths}
    problems = []
    for key, paths in wanted.items():
        root = published[key]
        if root is None:
            continue
        if not Path(root).is_dir():
            problems.append(f"config key 'published.{key}' has value {root!r}: no such folder "
                            f"(relative paths are read from {Path.cwd()}); fill the project's "
                            f"copy with `make published` (docs/published.md)")
            continue
        problems += [f"config key 'published.{key}' is {root!r}, but {path} is missing "
                     "(expected the authors' layout; `make published` fills it, see "
                     "docs/published.md)"
                     for path in paths(root, config["datasets"], config["fp_weights"])
                     if not path.is_file()]
    return problems
