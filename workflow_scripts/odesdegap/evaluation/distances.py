"""Distances between sample sets: W2^2 on the grid, exact W2^2 on subsamples, sliced W2^2.

W2 follows the paper: bin both sample sets on a 64 x 64 grid over [-3.5, 3.5]^2 (the authors'
nearest-node convention by default, see `Grid`), then solve the exact optimal-transport problem
between the two histograms (POT's emd2) with the squared Euclidean cost between support points.
Tables report the squared distance W2^2. In d > 2, where the grid does not apply,
`exact_w2sq_subsample` solves the same exact problem between seeded subsamples of the raw points
instead.

Everything here is numpy and POT (imported through odesdegap.evaluation.pot), on numpy arrays:
the jobs that compare sample sets (evaluate_sampler, noise_floor, the published tables) do not
load torch. Next to every plug-in W2^2 on the grid, `W2Measure.w2sq_with_debiased` gives the
debiased estimate of w2_debiased.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from odesdegap.evaluation.pot import ot
from odesdegap.evaluation.w2_debiased import (
    NAN_ESTIMATE,
    DebiasedW2,
    Halves,
    debiased_w2sq,
    split_indices,
)
from odesdegap.evaluation.w2_rules import lost_fraction, uses_grid
from odesdegap.settings import GridSettings, W2Settings

GRID_CONVENTIONS = ("nodes", "cells")
ROLES = ("model", "data")


@dataclass(frozen=True)
class Grid(GridSettings):
    """The 2-D histogram that W2 is computed on: the config's grid settings (one set of names,
    `evaluation.grid_bins`, `box_half_width`, `grid_convention`) with what they mean.

    - ``nodes`` (the paper's, from the authors' code): bins x bins nodes at
      linspace(-h, h, bins), spacing 2h/(bins - 1), nodes on the box boundary; each sample goes
      to its nearest node. Model samples with any |x_i| >= h are dropped (and counted); data
      samples are not: an out-of-box data point lands on the nearest boundary node. The flat
      order is the authors': entry k is the node (lin[k % bins], lin[k // bins]).
    - ``cells``: bins x bins cells of width 2h/bins over [-h, h]^2, mass at the cell centres;
      out-of-box samples are dropped for every role.
    """

    def __post_init__(self):
        if self.grid_convention not in GRID_CONVENTIONS:
            raise ValueError(f"grid convention {self.grid_convention!r}: expected one of "
                             f"{', '.join(GRID_CONVENTIONS)}")

    @classmethod
    def from_settings(cls, evaluation: GridSettings) -> Grid:
        """The grid of the config's `evaluation` section (or of any GridSettings)."""
        return cls(evaluation.grid_bins, evaluation.box_half_width, evaluation.grid_convention)

    @property
    def axis(self) -> np.ndarray:
        """Coordinates of the support along one axis: node positions or cell centres."""
        h, n = self.box_half_width, self.grid_bins
        if self.grid_convention == "nodes":
            return np.linspace(-h, h, n)
        edges = np.linspace(-h, h, n + 1)
        return 0.5 * (edges[:-1] + edges[1:])

    @property
    def support(self) -> np.ndarray:
        """(bins^2, 2) support points, in the order of `histogram(...)`'s flat weights: entry k
        is (axis[k % bins], axis[k // bins])."""
        first, second = np.meshgrid(self.axis, self.axis)
        return np.stack([first.ravel(), second.ravel()], axis=1)

    def kept(self, samples: np.ndarray, role: str) -> np.ndarray:
        """Mask of the samples that enter the histogram: finite, and inside the box unless
        they are data under the nodes convention (those are snapped onto the boundary)."""
        if role not in ROLES:
            raise ValueError(f"sample role {role!r}: expected one of {', '.join(ROLES)}")
        finite = np.isfinite(samples).all(axis=1)
        if self.grid_convention == "nodes" and role == "data":
            return finite
        magnitude = np.abs(np.where(finite[:, None], samples, 0.0))
        if self.grid_convention == "nodes":  # the authors drop |x_i| >= h
            return finite & (magnitude < self.box_half_width).all(axis=1)
        return finite & (magnitude <= self.box_half_width).all(axis=1)

    def histogram(self, samples: np.ndarray, role: str) -> tuple[np.ndarray | None, dict]:
        """Normalised weights on `support` of the kept samples (None if none is kept), and
        how many were dropped as non-finite or outside the box."""
        finite = np.isfinite(samples).all(axis=1)
        kept = self.kept(samples, role)
        points = samples[kept].astype(np.float64)
        if self.grid_convention == "nodes":
            spacing = 2 * self.box_half_width / (self.grid_bins - 1)
            index = np.floor((points + self.box_half_width) / spacing + 0.5).astype(np.int64)
        else:
            spacing = 2 * self.box_half_width / self.grid_bins
            index = np.floor((points + self.box_half_width) / spacing).astype(np.int64)
        bins = self.grid_bins
        index = np.clip(index, 0, bins - 1)  # snapped data, and x = +h for cells
        counts = np.bincount(index[:, 1] * bins + index[:, 0], minlength=bins**2)
        dropped = {"n_nonfinite": int((~finite).sum()), "n_outside": int((finite & ~kept).sum())}
        total = counts.sum()
        return (counts / total if total else None), dropped


def w2sq_between_histograms(weights_a: np.ndarray | None, weights_b: np.ndarray | None,
                            support: np.ndarray) -> float:
    """Exact W2^2 between two histograms on shared support points (NaN if either is empty,
    e.g. a diverged model whose every sample left the grid).

    Only support points holding mass enter the transport problem, each side its own: the rows
    are a's occupied points, the columns b's. Empty points carry no mass, so the optimum is
    unchanged, and the rectangular problem solves about 1.5 times faster than the square one
    on the union of both (`w2sq_between_histograms_union`, the earlier form, kept as the
    reference the tests compare with; the values agree to double round-off).
    """
    if weights_a is None or weights_b is None:
        return float("nan")
    rows, columns = np.flatnonzero(weights_a), np.flatnonzero(weights_b)
    a, b = weights_a[rows], weights_b[columns]
    a, b = a / a.sum(), b / b.sum()
    cost = ot.dist(support[rows], support[columns], metric="sqeuclidean")
    return float(ot.emd2(a, b, cost, numItermax=10_000_000))


def w2sq_between_histograms_union(weights_a: np.ndarray | None, weights_b: np.ndarray | None,
                                  support: np.ndarray) -> float:
    """W2^2 as w2sq_between_histograms, with both histograms on the union of their occupied
    points (a square problem): the reference implementation."""
    if weights_a is None or weights_b is None:
        return float("nan")
    occupied = (weights_a > 0) | (weights_b > 0)
    a, b = weights_a[occupied], weights_b[occupied]
    a, b = a / a.sum(), b / b.sum()
    cost = ot.dist(support[occupied], support[occupied], metric="sqeuclidean")
    return float(ot.emd2(a, b, cost, numItermax=10_000_000))


def grid_w2sq(samples_a: np.ndarray, role_a: str, samples_b: np.ndarray, role_b: str,
              grid: Grid) -> float:
    """W2^2 between two raw sample sets on `grid` (each binned according to its role)."""
    weights_a, _ = grid.histogram(samples_a, role_a)
    weights_b, _ = grid.histogram(samples_b, role_b)
    return w2sq_between_histograms(weights_a, weights_b, grid.support)


# --- the measurement: W2^2 as a run measures it ---------------------------------------------


@dataclass(frozen=True)
class SampleSet:
    """A sample set prepared for W2: its points and role, and in 2-D its histogram on the grid
    (None if nothing is kept), the counts of what the grid dropped and, on the grid, the
    histograms of its two seeded halves that the debiased W2^2 cross-fits (w2_debiased)."""

    points: np.ndarray
    role: str
    weights: np.ndarray | None
    n_outside: int
    n_nonfinite: int
    halves: Halves | None = None


class W2Measure:
    """W2^2 between sample sets of dimension `dim` exactly as a run measures it (its
    `evaluation` settings): on the grid with its convention, or, where the grid does not
    apply, exact OT between seeded subsamples. Every distance of the workflow (a sampler's,
    the noise floor's, an NFE sweep's) goes through this class, so the choice, the lost
    fraction and the histograms are made one way. Prepare each set once (`prepare`: in 2-D it
    bins the set, also for the counts when the distance itself is subsampled), then measure
    pairs of prepared sets. Grid settings alone (the NFE sweeps, which are 2-D only) measure
    on the grid."""

    def __init__(self, evaluation: GridSettings, dim: int):
        if not isinstance(evaluation, W2Settings) and dim != 2:
            raise ValueError(f"grid settings alone measure 2-D sets on the grid, not {dim}-D")
        self.evaluation = evaluation
        self.dim = dim
        self.on_grid = uses_grid(evaluation, dim) if isinstance(evaluation, W2Settings) else True
        self.grid = Grid.from_settings(evaluation) if dim == 2 else None

    @property
    def method(self) -> str:
        return "grid" if self.on_grid else "subsample"

    @property
    def label(self) -> str:
        """What produces the values, in words for tables (w2_convention_label)."""
        return w2_convention_label(self.evaluation, self.on_grid)

    def prepare(self, points: np.ndarray, role: str) -> SampleSet:
        if self.grid is None:
            nonfinite = int((~np.isfinite(points).all(axis=1)).sum())
            return SampleSet(points, role, None, 0, nonfinite)
        weights, dropped = self.grid.histogram(points, role)
        halves = None
        if self.on_grid:
            kept = self.grid.kept(points, role)
            split = split_indices(len(points), self.split_seed)
            halves = Halves(weights, int(kept.sum()),
                            tuple(self.grid.histogram(points[part], role)[0] for part in split),
                            tuple(int(kept[part].sum()) for part in split))
        return SampleSet(points, role, weights, dropped["n_outside"], dropped["n_nonfinite"],
                         halves)

    @property
    def split_seed(self) -> int:
        """The seed of every set's split into halves: the evaluation seed (a split independent
        of the points is all the cross-fit needs)."""
        return self.evaluation.seed if isinstance(self.evaluation, W2Settings) else 0

    def w2sq(self, a: SampleSet, b: SampleSet) -> float:
        if self.on_grid:
            return w2sq_between_histograms(a.weights, b.weights, self.grid.support)
        return exact_w2sq_subsample(a.points, b.points, self.evaluation.w2_subsample_points,
                                    self.evaluation.seed)

    def w2sq_with_debiased(self, a: SampleSet, b: SampleSet) -> tuple[float, DebiasedW2]:
        """The plug-in W2^2 (as `w2sq`) and, on the grid, the debiased estimate with its
        standard error (w2_debiased; NaN off the grid, where no estimate of the bias is made).
        On the grid one transport problem gives both the plug-in and the estimate's first
        order: the plug-in is the very value `w2sq` returns."""
        if not self.on_grid:
            return self.w2sq(a, b), NAN_ESTIMATE
        estimate = debiased_w2sq(a.halves, b.halves, self.grid.support)
        if np.isnan(estimate.plug_in):  # a half is empty: the plug-in alone
            return self.w2sq(a, b), estimate
        return estimate.plug_in, estimate

    def lost_fraction(self, prepared: SampleSet) -> float:
        return lost_fraction(prepared.n_outside, prepared.n_nonfinite, len(prepared.points),
                             self.on_grid)

    def kept_points(self, prepared: SampleSet) -> np.ndarray:
        """The points the grid keeps (2-D; all points above): the sliced cross-check sees
        what the grid sees, without the binning."""
        if self.grid is None:
            return prepared.points
        return prepared.points[self.grid.kept(prepared.points, prepared.role)]


def w2_convention_label(evaluation: W2Settings, on_grid: bool) -> str:
    """What produced a W2^2 value, in words for tables: grid, convention and box, or the
    subsample size."""
    if on_grid:
        bins, h = evaluation.grid_bins, evaluation.box_half_width
        return f"{evaluation.grid_convention} {bins}x{bins} on [-{h:g}, {h:g}]^2"
    return f"exact OT on {evaluation.w2_subsample_points}-point subsamples"


# Projected values POT handles per call of sliced_wasserstein_distance: (points of both sets) x
# (directions in the call). Past a few MB of float64 its sorting and quantile lookups fall out
# of cache and slow down three- to fourfold (docs/performance.md).
SLICED_CHUNK_VALUES = 2**19


def sliced_w2sq(samples_a: np.ndarray, samples_b: np.ndarray, n_projections: int,
                seed: int, max_points: int | None = None,
                chunk_values: int = SLICED_CHUNK_VALUES) -> float:
    """Sliced W2^2 on the raw (finite) samples: a grid-free cross-check.

    POT projects every point on every direction at once, so paper-sized sets (millions of
    points) are first subsampled, seeded, to `max_points` each. The seeded directions are
    handed to POT a few at a time (at most `chunk_values` projected values per call) and the
    per-direction W2^2 averaged: the same number as one call with all directions, to double
    round-off, several times faster on large sets.
    """
    rng = np.random.default_rng(seed)
    a, b = (_finite_subsample(s, max_points, rng) for s in (samples_a, samples_b))
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    directions = ot.sliced.get_random_projections(a.shape[1], n_projections, seed=seed)
    per_call = max(1, chunk_values // (len(a) + len(b)))
    total = 0.0
    for start in range(0, n_projections, per_call):
        chunk = directions[:, start:start + per_call]
        # POT returns (mean over the chunk's directions of W2^2)^(1/2)
        distance = ot.sliced_wasserstein_distance(a, b, projections=chunk, p=2)
        total += float(distance) ** 2 * chunk.shape[1]
    return total / n_projections


def exact_w2sq_subsample(samples_a: np.ndarray, samples_b: np.ndarray, n: int,
                         seed: int) -> float:
    """Exact W2^2 (POT's emd2, squared Euclidean cost, uniform weights) between seeded
    subsamples of at most n finite points of each set; NaN if either has none.

    Works in any dimension. The empirical distance overestimates the true one by a bias that
    shrinks slowly with n in high d (like n^(-2/d)), so compare values at equal n only.
    """
    rng = np.random.default_rng(seed)
    a, b = (_finite_subsample(s, n, rng) for s in (samples_a, samples_b))
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    cost = ot.dist(a, b, metric="sqeuclidean")
    return float(ot.emd2(ot.unif(len(a)), ot.unif(len(b)), cost, numItermax=10_000_000))


def _finite_subsample(samples: np.ndarray, max_points: int | None, rng) -> np.ndarray:
    finite = samples[np.isfinite(samples).all(axis=1)].astype(np.float64)
    if max_points is not None and len(finite) > max_points:
        finite = finite[rng.choice(len(finite), max_points, replace=False)]
    return finite
