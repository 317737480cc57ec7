"""The paper's three 2-D data distributions, sampled with an explicit NumPy generator.

Definitions follow the authors' experiments exactly (scale factors included), so the grid
[-3.5, 3.5]^2 used by the W2 metric covers each of them.
"""

from __future__ import annotations

import zlib

import numpy as np

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


SAMPLERS = {
    "mixture": sample_mixture,
    "circles": sample_circles,
    "checkerboard": sample_checkerboard,
}


def sample_dataset(name: str, n: int, seed: int) -> np.ndarray:
    """n points of data set `name` as float32, reproducible from `seed`."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown data set {name!r}; expected one of {sorted(SAMPLERS)}")
    return SAMPLERS[name](n, np.random.default_rng(seed)).astype(np.float32)


def dataset_seeds(name: str, base_seed: int) -> tuple[int, int]:
    """Distinct, stable seeds for a data set's training and reference draws."""
    offset = zlib.crc32(name.encode()) % 1_000_000
    return base_seed * 1_000_003 + offset, base_seed * 1_000_003 + offset + 1


def dimension(name: str) -> int:
    """Dimension of a data set's points (all of the paper's are planar)."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown data set {name!r}; expected one of {sorted(SAMPLERS)}")
    return 2
