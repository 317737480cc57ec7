"""Data distributions, sampled with an explicit NumPy generator.

The paper's three 2-D sets follow the authors' experiments exactly (scale factors included), so
the grid [-3.5, 3.5]^2 used by the W2 metric covers each of them. The extra 2-D sets (moons,
swiss roll, eight Gaussians) are scaled to fit the same grid. The `gmm{d}d` mixtures (d = 2..64)
serve a dimension-scaling study, where the grid metric gives way to subsampled exact OT.
"""

from __future__ import annotations

import functools
import re
from functools import partial

import numpy as np

from odesdegap import seeds
from odesdegap.config import register_check, register_choices
from odesdegap.data.images import DIGITS_TOTAL, IMAGE_SHAPES

# The exact lane of the NFE and step-count studies: Gaussian data, whose score is known in closed
# form (models.GaussianPotential), so that a solver's distance to it is its discretisation error
# alone. It is a data set of the registry below (its draws and its noise floor are made like every
# other's), named EXACT_LANE in the `dataset` column of the studies' rows (it has no FP weight).
EXACT_LANE = "exact_gaussian"
EXACT_GAUSSIAN = {"mean": [0.5, -0.5], "std": 0.5}
# Data sets of the registry that a config may not train on, each with the reason its message gives.
NOT_TRAINED = {EXACT_LANE: "the NFE sweeps' exact lane: its score is exact, so there is nothing "
                           "to train, and it runs with every NFE sweep without being listed"}

MIXTURE_MEANS = np.array(
    [(2, -2), (-2, 2), (2, 2), (-2, -2), (0, 0), (4, 0), (-4, 0), (0, 4), (0, -4)], dtype=float
)


def sample_mixture(n: int, rng: np.random.Generator) -> np.ndarray:
    """Equal mixture of 9 Gaussians with covariance 0.2 I, then scaled by 0.65."""
    component = rng.integers(len(MIXTURE_MEANS), size=n)
    points = MIXTURE_MEANS[component] + np.sqrt(0.2) * rng.standard_normal((n, 2))
    return 0.65 * points


def sample_circles(n: int, rng: np.random.Generator) -> np.ndarray:
    """Two rings, half the points each, radii ~ N(0.65, 0.1^2) and N(1.4, 0.1^2); scaled by 2."""
    n_inner = n // 2
    radius = np.concatenate(
        [rng.normal(0.65, 0.1, n_inner), rng.normal(1.4, 0.1, n - n_inner)]
    )
    angle = rng.uniform(0.0, 2 * np.pi, n)
    points = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    return 2.0 * rng.permutation(points)


def sample_checkerboard(n: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform on the 8 cells with i + j even of a 4x4 board of 0.25-wide cells on [-0.5, 0.5)^2,
    then scaled by 6."""
    cells = np.array([(i, j) for i in range(4) for j in range(4) if (i + j) % 2 == 0])
    chosen = cells[rng.integers(len(cells), size=n)]
    points = -0.5 + 0.25 * (chosen + rng.uniform(0.0, 1.0, (n, 2)))
    return 6.0 * points


def sample_moons(n: int, rng: np.random.Generator) -> np.ndarray:
    """Two interleaved half circles (half the points each), centred and scaled by 2 to span
    [-3, 3] x [-1.5, 1.5], plus N(0, 0.1^2) noise."""
    n_upper = n // 2
    angle = rng.uniform(0.0, np.pi, n)
    upper = np.stack([np.cos(angle[:n_upper]), np.sin(angle[:n_upper])], axis=1)
    lower = np.stack([1 - np.cos(angle[n_upper:]), 0.5 - np.sin(angle[n_upper:])], axis=1)
    points = 2.0 * (np.concatenate([upper, lower]) - [0.5, 0.25])
    return rng.permutation(points + 0.1 * rng.standard_normal((n, 2)))


def sample_swiss_roll(n: int, rng: np.random.Generator) -> np.ndarray:
    """The 2-D swiss roll (t cos t, t sin t), t uniform on [1.5 pi, 4.5 pi], scaled so that its
    outer end lies at radius 3, plus N(0, 0.1^2) noise (the arms are ~1.3 apart)."""
    t = 1.5 * np.pi * (1 + 2 * rng.uniform(0.0, 1.0, n))
    points = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) * (3.0 / (4.5 * np.pi))
    return points + 0.1 * rng.standard_normal((n, 2))


EIGHT_GAUSSIANS_RADIUS = 2.5


def sample_eight_gaussians(n: int, rng: np.random.Generator) -> np.ndarray:
    """Equal mixture of 8 Gaussians with std 0.2, centred evenly on a circle of radius 2.5."""
    angle = rng.integers(8, size=n) * (np.pi / 4)
    centres = EIGHT_GAUSSIANS_RADIUS * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return centres + 0.2 * rng.standard_normal((n, 2))


def sample_exact_gaussian(n: int, rng: np.random.Generator) -> np.ndarray:
    """The exact lane's data: N(mean, std^2 I) of EXACT_GAUSSIAN."""
    mean = np.asarray(EXACT_GAUSSIAN["mean"], dtype=float)
    return mean + EXACT_GAUSSIAN["std"] * rng.standard_normal((n, len(mean)))


GMM_DIMENSIONS = range(2, 65)
GMM_STD = 0.3


def gmm_means(dim: int) -> np.ndarray:
    """(4, dim) component means: the corners (+-1.5, +-1.5) in the first two coordinates, zero
    elsewhere. Fixed and seed-independent; the separation between components and the marginal
    of the first two coordinates are the same for every d, so only the dimension changes."""
    means = np.zeros((4, dim))
    means[:, :2] = [(1.5, 1.5), (1.5, -1.5), (-1.5, 1.5), (-1.5, -1.5)]
    return means


def sample_gmm(n: int, rng: np.random.Generator, dim: int) -> np.ndarray:
    """Equal mixture of 4 isotropic Gaussians in `dim` dimensions, std 0.3, means `gmm_means`."""
    means = gmm_means(dim)
    return means[rng.integers(len(means), size=n)] + GMM_STD * rng.standard_normal((n, dim))


def _gmm_dimension(name: str) -> int | None:
    """d for a name `gmm{d}d` with d in GMM_DIMENSIONS, else None."""
    match = re.fullmatch(r"gmm([1-9][0-9]*)d", name)
    return int(match.group(1)) if match and int(match.group(1)) in GMM_DIMENSIONS else None


SAMPLERS = {
    "mixture": sample_mixture,
    "circles": sample_circles,
    "checkerboard": sample_checkerboard,
    "moons": sample_moons,
    "swiss_roll": sample_swiss_roll,
    "eight_gaussians": sample_eight_gaussians,
    **{f"gmm{d}d": partial(sample_gmm, dim=d) for d in GMM_DIMENSIONS},
    EXACT_LANE: sample_exact_gaussian,
}


def dataset_names() -> list[str]:
    """The data sets a config may train on (its `datasets`), in registry order: every one but
    those of NOT_TRAINED (gmm{d}d, a family, is a pattern in the schema). The schema's list of
    choices is filled in from here (fill_schema)."""
    return [n for n in SAMPLERS if _gmm_dimension(n) is None and n not in NOT_TRAINED
            ] + list(IMAGE_SHAPES)


def sample_dataset(name: str, n: int, seed: int) -> np.ndarray:
    """n points of data set `name` as float32, reproducible from `seed`."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown data set {name!r}; expected one of {sorted(SAMPLERS)}")
    return SAMPLERS[name](n, np.random.default_rng(seed)).astype(np.float32)


def point_draws(name: str, n_train: int, n_reference: int, base_seed: int) -> dict:
    """The training and held-out reference sets of point data set `name` (rule prepare_data),
    drawn with seeds.dataset_seeds(name, base_seed): {train, reference}."""
    train_seed, reference_seed = seeds.dataset_seeds(name, base_seed)
    return {"train": sample_dataset(name, n_train, train_seed),
            "reference": sample_dataset(name, n_reference, reference_seed)}


# The draw that measures a point data set's scale (data_scale): large enough for three digits.
SCALE_POINTS, SCALE_SEED = 200_000, 0
# EDM's sigma_data for images in [-1, 1] (Karras et al. 2022): the image sets' scale.
IMAGE_SCALE = 0.5


@functools.cache
def data_scale(name: str) -> float:
    """The data's standard deviation, the scale EDM's sigma_data stands for: the root mean
    square of its coordinates' standard deviations, measured on a seeded draw of SCALE_POINTS
    points (the exact lane's is its law's; the image sets, in [-1, 1], take EDM's 0.5). The
    fast solvers' noise range starts at 160 times this by default (edm.resolve_sigma_max)."""
    if name == EXACT_LANE:
        return float(EXACT_GAUSSIAN["std"])
    if name in IMAGE_SHAPES:
        return IMAGE_SCALE
    points = sample_dataset(name, SCALE_POINTS, SCALE_SEED).astype(np.float64)
    return float(np.sqrt(points.var(axis=0).mean()))


def image_shape(name: str) -> tuple[int, int, int] | None:
    """(C, H, W) of an image data set, whose points are flattened images; None otherwise."""
    return IMAGE_SHAPES.get(name)


def dimension(name: str) -> int:
    """Dimension of a data set's points: C*H*W for images, d for `gmm{d}d`, 2 for every other
    (planar) set."""
    if name in IMAGE_SHAPES:
        return int(np.prod(IMAGE_SHAPES[name]))
    if name not in SAMPLERS:
        raise ValueError(f"unknown data set {name!r}; expected one of "
                         f"{sorted(SAMPLERS) + sorted(IMAGE_SHAPES)}")
    return _gmm_dimension(name) or 2


# --- the config's data sets ---------------------------------------------------------------------
@register_choices
def fill_schema(schema: dict) -> None:
    """The schema's data-set names are dataset_names(); a data set that is not trained (the
    exact lane) is refused with its reason (the schema's `x-refused`, read by config)."""
    datasets = schema["properties"]["datasets"]
    names = dataset_names()
    datasets["items"]["anyOf"][0]["enum"] = names
    datasets["description"] += " Names: " + ", ".join(names) + "."
    datasets["description"] += "".join(f" Not for training: {name}, {why}."
                                       for name, why in NOT_TRAINED.items())
    datasets["items"]["x-refused"] = {
        name: f"expected a data set to train on ({name} is {why})"
        for name, why in NOT_TRAINED.items()}


@register_check
def config_problems(config: dict) -> list[str]:
    """What the data sets' dimensions allow: the 2-D grid (W2 on the grid, NFE sweeps) only for
    planar sets; then image_problems."""
    problems = []
    higher = [d for d in config["datasets"] if dimension(d) != 2]
    if config["evaluation"]["w2_method"] == "grid" and higher:
        problems.append(f"config key 'evaluation.w2_method' has value 'grid': expected "
                        f"auto or subsample with data sets of more than 2 dimensions "
                        f"({', '.join(higher)})")
    samplers = config["samplers"]
    sweeps = [name for name, entry in samplers.items() if isinstance(entry.get("nfe"), list)]
    if sweeps and higher:
        problems.append(f"config key 'samplers.{sweeps[0]}.nfe' has value "
                        f"{samplers[sweeps[0]]['nfe']!r}: expected one budget with data sets of "
                        f"more than 2 dimensions ({', '.join(higher)}): an NFE sweep measures W2 "
                        "on the 2-D grid")
    return problems + image_problems(config)


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
