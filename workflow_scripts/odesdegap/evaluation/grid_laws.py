"""Laws whose probability at every grid node is known exactly: the ground truth that W2^2
estimators are judged against (benchmarks/w2_estimator_bank.py, the tests).

A law here is a mixture of products of one-dimensional laws (Gaussians, uniform intervals,
uniform intervals blurred by a Gaussian), each with a closed-form CDF, so the mass of each node's
cell under the paper's nearest-node convention is a difference of CDFs. Binning n points of such
a law on the grid (model role: points with |x_i| >= h dropped) is a multinomial draw from these
node probabilities, so repeated draws cost no sampling, and the population W2^2 between two laws
on the grid is one exact transport problem.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from odesdegap.data.datasets import MIXTURE_MEANS as DATASET_MIXTURE_MEANS
from odesdegap.evaluation.distances import Grid

Cdf = Callable[[np.ndarray], np.ndarray]
# Node probabilities below this are set to zero (they are round-off of CDF differences, and a
# zero keeps the node out of every transport problem).
NEGLIGIBLE = 1e-14


def gaussian_cdf(mean: float, std: float) -> Cdf:
    return lambda x: ndtr((x - mean) / std)


def uniform_cdf(low: float, high: float, blur: float = 0.0) -> Cdf:
    """CDF of U(low, high), convolved with N(0, blur^2) when blur > 0 (closed form: the
    integral of the normal CDF is y Phi(y / s) + s phi(y / s))."""
    if blur == 0.0:
        return lambda x: np.clip((x - low) / (high - low), 0.0, 1.0)

    def integral(y):
        return y * ndtr(y / blur) + blur * np.exp(-0.5 * (y / blur) ** 2) / np.sqrt(2 * np.pi)

    return lambda x: (integral(x - low) - integral(x - high)) / (high - low)


@dataclass(frozen=True)
class Component:
    """weight x (law of the first coordinate) x (law of the second)."""

    weight: float
    first: Cdf
    second: Cdf


def cell_edges(grid: Grid) -> np.ndarray:
    """Edges of the cells whose points go to each node along one axis: midpoints between
    nodes, and the box itself at the ends (model points beyond it are dropped)."""
    if grid.grid_convention != "nodes":
        raise ValueError("grid_laws follows the paper's nodes convention")
    axis, h = grid.axis, grid.box_half_width
    return np.concatenate([[-h], 0.5 * (axis[:-1] + axis[1:]), [h]])


def node_probabilities(components: list[Component], grid: Grid) -> np.ndarray:
    """The law's probability at each node, in the order of grid.support, conditioned on the
    box (what the histogram of a model sample set estimates)."""
    edges = cell_edges(grid)
    probability = np.zeros(grid.grid_bins**2)
    for component in components:
        first, second = np.diff(component.first(edges)), np.diff(component.second(edges))
        # entry k of the flat order is node (k % bins, k // bins), as in grid.support
        probability += component.weight * np.outer(second, first).ravel()
    probability = np.where(probability > NEGLIGIBLE, probability, 0.0)
    return probability / probability.sum()


def draw_counts(probability: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Node counts of n points of the law binned on the grid: one multinomial draw."""
    return rng.multinomial(n, probability)


# --- the families of the bank -----------------------------------------------------------------


def gaussian(mean=(0.0, 0.0), std=(1.0, 1.0)) -> list[Component]:
    return [Component(1.0, gaussian_cdf(mean[0], std[0]), gaussian_cdf(mean[1], std[1]))]


def gaussian_pair_mixture(offset: float, std: float) -> list[Component]:
    """Two equal Gaussians at (+-offset, 0), both std `std`."""
    return [Component(0.5, gaussian_cdf(sign * offset, std), gaussian_cdf(0.0, std))
            for sign in (-1.0, 1.0)]


def checkerboard(shift: float = 0.0, blur: float = 0.0) -> list[Component]:
    """The checkerboard data set's law (8 squares of side 1.5 on [-3, 3]^2), shifted along the
    first axis and blurred by N(0, blur^2 I): sharp edges, where the plug-in's bias is largest."""
    components = []
    for i in range(4):
        for j in range(4):
            if (i + j) % 2 == 0:
                first, second = -3.0 + 1.5 * i + shift, -3.0 + 1.5 * j
                components.append(Component(1 / 8, uniform_cdf(first, first + 1.5, blur),
                                            uniform_cdf(second, second + 1.5, blur)))
    return components


MIXTURE_MEANS = 0.65 * DATASET_MIXTURE_MEANS  # datasets.sample_mixture's scaling
MIXTURE_STD = 0.65 * np.sqrt(0.2)


def mixture(std_factor: float = 1.0) -> list[Component]:
    """The mixture data set's law (9 Gaussians), its components' std scaled by std_factor."""
    std = MIXTURE_STD * std_factor
    return [Component(1 / 9, gaussian_cdf(m[0], std), gaussian_cdf(m[1], std))
            for m in MIXTURE_MEANS]
