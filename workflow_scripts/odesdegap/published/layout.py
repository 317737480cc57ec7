"""The authors' published files: where they come from, how their two folders are laid out, and
what the models in them are (network, process, W2 grid), as plain constants and paths (no torch).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from odesdegap.settings import GridSettings

# The authors' repository at the commit the benchmark is checked against.
REPOSITORY = "https://github.com/teojd/ODESDEGap"
COMMIT = "367ce6b"
CHECKPOINTS_FOLDER = "ODESDEGap-checkpoints"
HISTOGRAMS_FOLDER = "ODESDEGap-precomputed_dists"
# The project's copy (git-ignored; `make published` fills it), relative to the repository root.
HOME = Path("resources/published")

# Our data-set names and the authors'.
DATASET_NAMES = {"mixture": "blob", "checkerboard": "checker", "circles": "circles2"}
PUBLISHED_WEIGHTS = (0.0, 0.1, 1.0, 10.0)
WIDTH, LAYERS, BETA = 80, 3, 100.0
# The model section our config must have to hold their network exactly.
MODEL_SETTINGS = {"kind": "potential_mlp", "hidden_width": WIDTH, "hidden_layers": LAYERS,
                  "softplus_beta": BETA, "gaussian_baseline": False}
PROCESS_SETTINGS = {"name": "ou", "t_min": 1.0e-5, "t_max": 10.0}
# The grid of their histograms: 64 x 64 nodes on [-3.5, 3.5]^2.
PAPER_GRID = GridSettings(grid_bins=64, box_half_width=3.5, grid_convention="nodes")
# The samplers of their histograms (besides `truth`, the data).
HISTOGRAM_SAMPLERS = ("ode", "sde")


class PublishedFileError(ValueError):
    """A file that is not one of the authors' (or not in their format)."""


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


def checkpoint_paths(root: Path | str, datasets, weights) -> list[Path]:
    """Every checkpoint a run on `datasets` x `weights` reads."""
    return [checkpoint_path(root, d, w) for d in datasets for w in weights]


def histogram_paths(root: Path | str, datasets, weights) -> list[Path]:
    """Every histogram the paper's table of `datasets` x `weights` reads: per data set its
    truth, then each sampler at each weight."""
    return [path for dataset in datasets
            for path in [histogram_path(root, "truth", dataset),
                         *(histogram_path(root, kind, dataset, w)
                           for kind in HISTOGRAM_SAMPLERS for w in weights)]]


def load_histogram(path: Path | str) -> np.ndarray:
    """One of the authors' histograms: 4096 non-negative float weights summing to 1."""
    path = Path(path)
    if not path.is_file():
        raise PublishedFileError(f"{path}: no such file (expected one of the authors' "
                                 "histograms)")
    try:
        weights = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise PublishedFileError(f"{path}: not a NumPy array file ({error})") from None
    size = PAPER_GRID.grid_bins**2
    if (weights.shape != (size,) or weights.dtype.kind != "f" or not np.isfinite(weights).all()
            or (weights < 0).any() or abs(weights.sum() - 1) > 1e-6):
        raise PublishedFileError(
            f"{path}: holds a {weights.dtype} array of shape {weights.shape}; expected "
            f"{size} non-negative weights summing to 1 (a 64 x 64 histogram)")
    return weights.astype(np.float64)
