"""A debiased W2^2 on the grid, with a standard error at the measured distance.

The plug-in W2^2 between two n-point histograms is biased upwards (Jensen: W2^2 is convex in
the pair of laws), by about the noise floor at equal laws and by about half of it once the laws
differ (docs/noise_floor.md, "The debiased W2^2"). This module estimates that bias from the two
sample sets themselves, by cross-fitting the transport problem's dual:

- split each set in two seeded halves A and B;
- solve the half problem (a_A, b_A): its value W_A is biased upwards, like the plug-in but at
  n/2 points; its dual potentials (f, g), extended to every grid node by c-transforms so that
  f_i + g_j <= c_ij holds everywhere, are a feasible dual of the population problem, so their
  value on the other halves, X_AB = <f, a_B> + <g, b_B>, is biased downwards (its expectation
  given A is a dual value, at most W2^2);
- the same with A and B exchanged.

The gap between the in-sample and out-of-sample values, mean(W_A, W_B) - mean(X_AB, X_BA),
measures the half problems' upward and downward biases together; under the symmetry of the two
(equal to first order for a smooth optimum) and the n^(-1/2) scaling of a finite space's bias,
the plug-in's bias at n points is that gap times 1 / (2 sqrt 2) (`CROSSFIT_SCALE`). Two
half-size transport problems per distance, solved by POT like the plug-in's.

The standard error is the larger of the delta method's at the measured distance (the dual
potentials' variance under each law, over its sample size) and the spread the two half problems
show between themselves (what remains at equal laws, where the potentials are flat and the
first-order term vanishes), plus the bias estimate's own noise (the spread of the two half
gaps). docs/noise_floor.md gives its measured calibration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from odesdegap.evaluation.pot import ot

# bias(n) = (in-sample - out-of-sample gap at n/2) / 2 / sqrt(2): see the module's text.
CROSSFIT_SCALE = 1.0 / (2.0 * np.sqrt(2.0))
# Columns of the full cost matrix per block in the c-transform (4096 x 512 doubles: 16 MB).
TRANSFORM_BLOCK = 512


@dataclass(frozen=True)
class Halves:
    """One sample set's histogram on the grid and those of its two seeded halves, with the
    number of points each holds (the kept ones)."""

    weights: np.ndarray | None
    count: int
    half_weights: tuple[np.ndarray | None, np.ndarray | None]
    half_counts: tuple[int, int]


@dataclass(frozen=True)
class DebiasedW2:
    """The debiased W2^2, its standard error and the parts it is made of."""

    value: float
    standard_error: float
    plug_in: float
    bias: float
    delta_standard_error: float
    split_standard_error: float
    half_in_sample: float
    half_out_of_sample: float


NAN_ESTIMATE = DebiasedW2(*[float("nan")] * 8)


def split_indices(n_points: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint seeded halves of range(n_points) (sizes differ by at most one)."""
    order = np.random.default_rng(seed).permutation(n_points)
    return np.sort(order[: n_points // 2]), np.sort(order[n_points // 2:])


def solve_with_duals(weights_a: np.ndarray, weights_b: np.ndarray, support: np.ndarray):
    """Exact OT between two histograms on their occupied points: value, the occupied points'
    indices and the dual potentials on them (POT's network simplex)."""
    rows, columns = np.flatnonzero(weights_a), np.flatnonzero(weights_b)
    a, b = weights_a[rows], weights_b[columns]
    a, b = a / a.sum(), b / b.sum()
    cost = ot.dist(support[rows], support[columns], metric="sqeuclidean")
    value, log = ot.emd2(a, b, cost, numItermax=10_000_000, log=True)
    return float(value), rows, log["u"], columns, log["v"]


def feasible_potentials(columns: np.ndarray, potential_b: np.ndarray, support: np.ndarray,
                        at: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Potentials (f, g) with f_i + g_j <= |x_i - x_j|^2 for every pair of support points: f is
    the c-transform of b's potential on its occupied points (on every point), g the c-transform
    of f, computed at the points `at` only (every point if None; the out-of-sample value
    needs g where the held-out half has mass, and g there is the same either way). At the
    occupied points of an optimal pair they are at least the solver's own, so the in-sample
    value is kept where it can be."""
    to_columns = ot.dist(support, support[columns], metric="sqeuclidean")
    f = (to_columns - potential_b[None, :]).min(axis=1)
    at = np.arange(len(support)) if at is None else at
    g = np.empty(len(at))
    for start in range(0, len(at), TRANSFORM_BLOCK):
        block = ot.dist(support, support[at[start:start + TRANSFORM_BLOCK]],
                        metric="sqeuclidean")
        g[start:start + TRANSFORM_BLOCK] = (block - f[:, None]).min(axis=0)
    return f, g


def _weighted_variance(values: np.ndarray, weights: np.ndarray) -> float:
    weights = weights / weights.sum()
    return float(weights @ (values - weights @ values) ** 2)


def debiased_w2sq(a: Halves, b: Halves, support: np.ndarray) -> DebiasedW2:
    """The cross-fitted debiased W2^2 between two prepared sets (see the module's text); NaN
    where either set or one of its halves is empty."""
    if any(weights is None for weights in (a.weights, b.weights, *a.half_weights,
                                           *b.half_weights)):
        return NAN_ESTIMATE
    plug_in, rows, u, columns, v = solve_with_duals(a.weights, b.weights, support)
    in_sample, out_of_sample = [], []
    for fit, held in ((0, 1), (1, 0)):
        value, _, _, fit_columns, fit_v = solve_with_duals(a.half_weights[fit],
                                                           b.half_weights[fit], support)
        held_columns = np.flatnonzero(b.half_weights[held])
        f, g = feasible_potentials(fit_columns, fit_v, support, held_columns)
        in_sample.append(value)
        out_of_sample.append(float(f @ a.half_weights[held]
                                   + g @ b.half_weights[held][held_columns]))
    bias = (np.mean(in_sample) - np.mean(out_of_sample)) * CROSSFIT_SCALE
    # First order: Var<u, a_hat> + Var<v, b_hat> = Var_a(u) / n_a + Var_b(v) / n_b, from the
    # full problem's potentials u, v. Beyond first order (all there is at equal laws, where
    # the potentials are flat): the halves' spread, Var(W at n) ~ (W_A - W_B)^2 / 4 for two
    # independent halves. The larger of the two, plus the bias estimate's own noise: the gap
    # is the mean of two half gaps with independent noise, its variance ~ (gap_A - gap_B)^2 / 4.
    delta_variance = (_weighted_variance(u, a.weights[rows]) / a.count
                      + _weighted_variance(v, b.weights[columns]) / b.count)
    split_variance = (in_sample[0] - in_sample[1]) ** 2 / 4.0
    half_gaps = [w - x for w, x in zip(in_sample, out_of_sample, strict=True)]
    correction_variance = (CROSSFIT_SCALE * (half_gaps[0] - half_gaps[1])) ** 2 / 4.0
    standard_error = float(np.sqrt(max(delta_variance, split_variance) + correction_variance))
    return DebiasedW2(plug_in - bias, standard_error, plug_in, float(bias),
                      float(np.sqrt(delta_variance)), float(np.sqrt(split_variance)),
                      float(np.mean(in_sample)), float(np.mean(out_of_sample)))
