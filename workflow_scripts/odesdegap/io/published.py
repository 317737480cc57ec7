"""The authors' published models and histograms (GitHub teojd/ODESDEGap): safe loading of their
checkpoints into our PotentialMLP, and the file layout of both folders.

The checkpoints are `torch.save` files of whole pickled `nn.Module` objects. They are read
without executing anything they contain: first the pickle's opcodes are listed (pickletools,
which only parses) and every global it names must be one of the eight the authors' files use;
then torch's weights-only unpickler loads it, with our own stand-in class registered under the
name `models.Net`. No code from the file (nor any module called `models`) is imported.
"""

from __future__ import annotations

import hashlib
import pickletools
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:  # the tables below import pandas when they run
    import pandas as pd

# Our data-set names and the authors'.
DATASET_NAMES = {"mixture": "blob", "checkerboard": "checker", "circles": "circles2"}
PUBLISHED_WEIGHTS = (0.0, 0.1, 1.0, 10.0)
WIDTH, LAYERS, BETA = 80, 3, 100.0
# The model section our config must have to hold their network exactly.
MODEL_SETTINGS = {"kind": "potential_mlp", "hidden_width": WIDTH, "hidden_layers": LAYERS,
                  "softplus_beta": BETA, "gaussian_baseline": False}
PROCESS_SETTINGS = {"name": "ou", "t_min": 1.0e-5, "t_max": 10.0}

# Every global the published pickles name (protocol 2 spells builtins as __builtin__).
ALLOWED_GLOBALS = frozenset({
    "models.Net",
    "torch.nn.modules.linear.Linear",
    "torch.nn.modules.activation.Softplus",
    "collections.OrderedDict",
    "builtins.set",
    "__builtin__.set",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_parameter",
    "torch.FloatStorage",
})
# Their submodules, in forward order, with the shapes (out, in) of each Linear.
LAYER_SHAPES = {"input": (WIDTH, 3), "hidden1": (WIDTH, WIDTH), "hidden2": (WIDTH, WIDTH),
                "output": (1, WIDTH)}


class PublishedCheckpointError(ValueError):
    """A file that is not one of the authors' checkpoints (or not in their format)."""


class AuthorsNet(nn.Module):
    """Stand-in for the authors' `models.Net`: the unpickler creates it empty and restores its
    submodules; it has no code of theirs. `forward` is their forward pass, kept for tests."""

    def forward(self, tx: torch.Tensor) -> torch.Tensor:
        h = tx
        for name in ("input", "hidden1", "hidden2"):
            h = self.activation(getattr(self, name)(h))
        return self.output(h)


def checkpoint_path(root: Path | str, dataset: str, weight: float) -> Path:
    """Where the authors' repository keeps the checkpoint of one of our data sets and weights."""
    name = DATASET_NAMES[dataset]
    w = f"{float(weight):.1f}"
    return Path(root) / name / f"w{w}" / f"{name}_net__FP_weight_{w}__iteration_100000"


def histogram_path(root: Path | str, kind: str, dataset: str, weight: float | None = None
                   ) -> Path:
    """One of the authors' 64 x 64 histograms: kind ode or sde (per weight), or truth."""
    name = DATASET_NAMES[dataset]
    if kind == "truth":
        return Path(root) / f"weights_truth_64_3000000_{name}.npy"
    return Path(root) / f"weights_{kind}_64_3000000_100000_800_{name}_{float(weight):.1f}.npy"


def pickle_globals(path: Path | str) -> set[str]:
    """The globals named by the pickle inside a torch zip file, found by parsing its opcodes
    (nothing is executed or imported)."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
            if len(pickles) != 1:
                raise PublishedCheckpointError(
                    f"{path}: expected a torch.save zip file with one data.pkl, found "
                    f"{len(pickles)}")
            data = archive.read(pickles[0])
    except zipfile.BadZipFile as error:
        raise PublishedCheckpointError(
            f"{path}: not a torch.save zip file ({error}); expected one of the published "
            "checkpoints") from None
    found = set()
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name in ("GLOBAL", "INST"):
                found.add(arg.replace(" ", "."))
            elif op.name == "STACK_GLOBAL":  # protocol 4+; torch.save writes protocol 2
                found.add("<a STACK_GLOBAL opcode (pickle protocol 4), not torch.save's format>")
    except Exception as error:  # pickletools raises ValueError and others on damaged data
        raise PublishedCheckpointError(f"{path}: unreadable pickle ({error})") from None
    return found


def load_authors_net(path: Path | str) -> AuthorsNet:
    """The authors' network from one checkpoint file, read safely and checked for shape."""
    path = Path(path)
    if not path.is_file():
        raise PublishedCheckpointError(f"{path}: no such file (expected a published checkpoint)")
    unknown = pickle_globals(path) - ALLOWED_GLOBALS
    if unknown:
        raise PublishedCheckpointError(
            f"{path}: refusing to load: the pickle names globals outside the published "
            f"checkpoints' allow-list: {', '.join(sorted(unknown))} (allowed: "
            f"{', '.join(sorted(ALLOWED_GLOBALS))})")
    allowed = [(AuthorsNet, "models.Net"), nn.Linear, nn.Softplus, OrderedDict, set]
    try:
        with torch.serialization.safe_globals(allowed):
            net = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for damaged or foreign files
        raise PublishedCheckpointError(
            f"{path}: torch's weights-only loader refused it ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''})") from None
    check_network(net, path)
    return net


def check_network(net, path) -> None:
    """Exactly the paper's network: Linear 3->80, 80->80, 80->80, 80->1, Softplus(beta=100)."""
    expected = ("expected the paper's network: input Linear(3, 80), hidden1 and hidden2 "
                "Linear(80, 80), output Linear(80, 1), activation Softplus(beta=100)")
    if not isinstance(net, AuthorsNet):
        raise PublishedCheckpointError(f"{path}: holds a {type(net).__name__}, not a "
                                       f"models.Net; {expected}")
    modules = dict(net.named_children())
    if set(modules) != {*LAYER_SHAPES, "activation"}:
        raise PublishedCheckpointError(
            f"{path}: has submodules {sorted(modules)}; {expected}")
    for name, shape in LAYER_SHAPES.items():
        layer = modules[name]
        if (not isinstance(layer, nn.Linear) or tuple(layer.weight.shape) != shape
                or layer.bias is None or tuple(layer.bias.shape) != shape[:1]):
            found = (tuple(layer.weight.shape) if isinstance(layer, nn.Linear)
                     else type(layer).__name__)
            raise PublishedCheckpointError(
                f"{path}: layer {name} is {found} (weight shape (out, in)), expected "
                f"Linear with weight {shape}; {expected}")
    activation = modules["activation"]
    if (not isinstance(activation, nn.Softplus) or float(activation.beta) != BETA
            or float(activation.threshold) != 20.0):
        raise PublishedCheckpointError(f"{path}: activation is {activation!r}; {expected}")
    for name, tensor in net.state_dict().items():
        if tensor.dtype != torch.float32 or not torch.isfinite(tensor).all():
            raise PublishedCheckpointError(
                f"{path}: parameter {name} is not finite float32; {expected}")


def to_potential_mlp_state(net: AuthorsNet) -> dict[str, torch.Tensor]:
    """Their weights as the state dict of our PotentialMLP (3 x 80, Softplus beta 100, no
    baseline). Both networks read the row [t, x1, x2], time first, so the first layer's columns
    carry over unchanged; their layers map to our Sequential's Linear slots 0, 2, 4, 6."""
    state = {}
    for slot, name in zip((0, 2, 4, 6), LAYER_SHAPES, strict=True):
        layer = getattr(net, name)
        state[f"network.{slot}.weight"] = layer.weight.detach().clone().contiguous()
        state[f"network.{slot}.bias"] = layer.bias.detach().clone().contiguous()
    return state


def sha256(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
        paper_grid = {"grid_bins": HISTOGRAM_BINS, "box_half_width": HISTOGRAM_HALF_WIDTH,
                      "grid_convention": "nodes"}
        problems += _mismatches(config, "evaluation", paper_grid,
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


def missing_file_problems(config: dict) -> list[str]:
    """Every checkpoint and histogram the config needs, checked on disk before any job."""
    published = config["published"]
    if published["checkpoints_dir"] is None or config_problems(config):
        return []
    problems = []
    for key, kinds in (("checkpoints_dir", None), ("histograms_dir", ("ode", "sde", "truth"))):
        root = published[key]
        if root is None:
            continue
        if not Path(root).is_dir():
            problems.append(f"config key 'published.{key}' has value {root!r}: no such folder "
                            f"(relative paths are read from {Path.cwd()})")
            continue
        wanted = []
        for dataset in config["datasets"]:
            if kinds is None:
                wanted += [checkpoint_path(root, dataset, w) for w in config["fp_weights"]]
            else:
                wanted.append(histogram_path(root, "truth", dataset))
                wanted += [histogram_path(root, kind, dataset, w)
                           for kind in ("ode", "sde") for w in config["fp_weights"]]
        problems += [f"config key 'published.{key}' is {root!r}, but {path} is missing "
                     "(expected the authors' layout; see docs/published.md)"
                     for path in wanted if not path.is_file()]
    return problems


PAIRS = (("ode", "sde"), ("ode", "truth"), ("sde", "truth"))
HISTOGRAM_BINS, HISTOGRAM_HALF_WIDTH = 64, 3.5


def load_histogram(path: Path | str):
    """One of the authors' histograms: 4096 non-negative float weights summing to 1."""
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise PublishedCheckpointError(f"{path}: no such file (expected one of the authors' "
                                       "histograms)")
    try:
        weights = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise PublishedCheckpointError(f"{path}: not a NumPy array file ({error})") from None
    size = HISTOGRAM_BINS**2
    if (weights.shape != (size,) or weights.dtype.kind != "f" or not np.isfinite(weights).all()
            or (weights < 0).any() or abs(weights.sum() - 1) > 1e-6):
        raise PublishedCheckpointError(
            f"{path}: holds a {weights.dtype} array of shape {weights.shape}; expected "
            f"{size} non-negative weights summing to 1 (a 64 x 64 histogram)")
    return weights.astype(np.float64)


def histogram_table(directory: Path | str, datasets, weights, support, w2sq) -> pd.DataFrame:
    """The paper's table from the authors' histograms: W2^2 between ODE and SDE, ODE and data,
    SDE and data per data set and weight. `w2sq(a, b, support)` is the exact OT cost between two
    histograms on the nodes (metrics.w2sq_between_histograms)."""
    import pandas as pd

    rows = []
    for dataset in datasets:
        truth = load_histogram(histogram_path(directory, "truth", dataset))
        for weight in weights:
            found = {"truth": truth}
            for kind in ("ode", "sde"):
                found[kind] = load_histogram(histogram_path(directory, kind, dataset, weight))
            row = {"dataset": dataset, "authors_name": DATASET_NAMES[dataset],
                   "fp_weight": float(weight)}
            for a, b in PAIRS:
                name = f"w2sq_{a}_{b.replace('truth', 'data')}"
                row[name] = w2sq(found[a], found[b], support)
            rows.append(row)
    return pd.DataFrame(rows)


def two_sample_floor(dataset: str, n: int, seeds, grid, w2sq) -> float:
    """The noise floor of W2^2 at n points: the mean over `seeds` of W2^2 between two disjoint
    sets of n points of our data generator, both binned as data on `grid`."""
    from odesdegap.data.datasets import sample_dataset

    values = []
    for seed in seeds:
        points = sample_dataset(dataset, 2 * n, seed)
        (a, _), (b, _) = (grid.histogram(half, "data") for half in (points[:n], points[n:]))
        values.append(w2sq(a, b, grid.support))
    return float(sum(values) / len(values))


def comparison_table(ours: pd.DataFrame, theirs: pd.DataFrame, floors: dict,
                     data_vs_truth: dict) -> pd.DataFrame:
    """One row per data set, weight and pair: our W2^2 (our samples of their model, at our count),
    theirs (their histograms of 3,000,000 samples), the difference, the floor at our count, and
    whether the two agree within it. `data_vs_truth` is W2^2 between our reference set and their
    truth histogram (how far the two data sets are, at our count)."""
    import pandas as pd

    rows = []
    mine = ours.set_index(["dataset", "fp_weight"])
    for _, row in theirs.iterrows():
        key = (row["dataset"], float(row["fp_weight"]))
        if key not in mine.index:
            continue
        for a, b in PAIRS:
            b = b.replace("truth", "data")
            column = f"w2sq_{a}_{b}"
            ours_value, theirs_value = float(mine.loc[key, column]), float(row[column])
            difference = ours_value - theirs_value
            rows.append({
                "dataset": key[0], "fp_weight": key[1], "pair": f"{a}-{b}",
                "ours": ours_value, "theirs": theirs_value, "difference": difference,
                "floor": floors[key[0]], "within_floor": abs(difference) <= floors[key[0]],
                "ours_data_vs_their_truth": data_vs_truth[key[0]],
            })
    return pd.DataFrame(rows)
