"""Which W2^2 a run measures and what a sample set loses to it: the two rules that the
measurement (distances.W2Measure) and the tables (reporting) share. Plain Python, so that the
table jobs read them without loading POT."""

from __future__ import annotations


def uses_grid(evaluation, dim: int) -> bool:
    """Whether W2^2 is computed on the 2-D grid (else exact OT between subsamples), from the
    evaluation settings' `w2_method` (W2Settings): the one place this is decided."""
    return evaluation.w2_method == "grid" or (evaluation.w2_method == "auto" and dim == 2)


def lost_fraction(n_outside, n_nonfinite, n_samples, on_grid):
    """The fraction of a sample set that the W2 measurement cannot use: its non-finite samples
    and, on the grid, those outside its box. Numbers or pandas columns alike (the tables compute
    it from a run's counts, with `on_grid` a column of booleans)."""
    return (n_outside * on_grid + n_nonfinite) / n_samples
