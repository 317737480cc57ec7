"""Metrics against closed forms: W2 between Gaussians, sliced W2, and the residual and DSM
diagnostics of the exact score."""

import numpy as np
import ot
import pytest
import torch

from odesdegap.data.datasets import sample_dataset
from odesdegap.diffusion.processes import OrnsteinUhlenbeck
from odesdegap.diffusion.residual import CollocationSampler
from odesdegap.engine import REFERENCE
from odesdegap.evaluation.distances import (
    Grid,
    W2Measure,
    exact_w2sq_subsample,
    grid_w2sq,
    sliced_w2sq,
    w2_convention_label,
    w2sq_between_histograms,
)
from odesdegap.evaluation.metrics import heldout_dsm, residual_summary
from odesdegap.models import GaussianPotential
from odesdegap.settings import W2Settings

GRID = Grid(64, 3.5, "nodes")
RNG = np.random.default_rng(0)


def _gaussian(mean, std, n=60000):
    return np.asarray(mean) + std * RNG.standard_normal((n, 2))


BOTH_CONVENTIONS = pytest.mark.parametrize("convention", ["nodes", "cells"])


def _grid_w2sq(a, b, convention="nodes"):
    return grid_w2sq(a, "model", b, "data", Grid(64, 3.5, convention))


@BOTH_CONVENTIONS
def test_grid_w2_between_shifted_gaussians_matches_closed_form(convention):
    # W2^2 between N(m1, s^2 I) and N(m2, s^2 I) is |m1 - m2|^2.
    value = _grid_w2sq(_gaussian([-0.5, 0.0], 0.5), _gaussian([0.5, 0.5], 0.5), convention)
    assert value == pytest.approx(1.25, abs=0.03)


@pytest.mark.slow
@BOTH_CONVENTIONS
def test_grid_w2_between_scaled_gaussians_matches_closed_form(convention):
    # W2^2 between N(0, s1^2 I) and N(0, s2^2 I) in 2-D is 2 (s1 - s2)^2.
    value = _grid_w2sq(_gaussian([0, 0], 0.4), _gaussian([0, 0], 0.9), convention)
    assert value == pytest.approx(2 * 0.5**2, abs=0.03)


@BOTH_CONVENTIONS
def test_grid_w2_of_a_set_with_itself_is_zero(convention):
    samples = sample_dataset("checkerboard", 5000, 0)
    assert _grid_w2sq(samples, samples, convention) == pytest.approx(0.0, abs=1e-12)


def test_nodes_convention_hand_computed():
    # Nodes at -1, 0, 1 on each axis; entry k is (lin[k % 3], lin[k // 3]) as in the authors'
    # files. Model samples: (0.4, -0.6) -> node (0, -1), (0.9, 0.9) -> (1, 1); (1.0, 0) is on
    # the box boundary and dropped (the authors drop |x_i| >= h). Data samples are never
    # dropped: (2.5, 0.2) snaps to (1, 0), (-0.2, -0.2) goes to (0, 0).
    grid = Grid(3, 1.0, "nodes")
    lin = np.linspace(-1, 1, 3)
    assert np.array_equal(grid.support, [[lin[k % 3], lin[k // 3]] for k in range(9)])
    model, model_dropped = grid.histogram(np.array([[0.4, -0.6], [0.9, 0.9], [1.0, 0.0]]),
                                          "model")
    data, data_dropped = grid.histogram(np.array([[2.5, 0.2], [-0.2, -0.2]]), "data")
    assert np.array_equal(model, [0, 0.5, 0, 0, 0, 0, 0, 0, 0.5])
    assert np.array_equal(data, [0, 0, 0, 0, 0.5, 0.5, 0, 0, 0])
    assert model_dropped == {"n_nonfinite": 0, "n_outside": 1}
    assert data_dropped == {"n_nonfinite": 0, "n_outside": 0}
    # Optimal plan: (0, -1) -> (0, 0) and (1, 1) -> (1, 0), each at cost 1, mass 1/2 each.
    assert w2sq_between_histograms(model, data, grid.support) == pytest.approx(1.0, abs=1e-12)


def test_cells_convention_hand_computed():
    # Cells of width 2/3 with centres at -2/3, 0, 2/3; out-of-box points are dropped whatever
    # their role.
    grid = Grid(3, 1.0, "cells")
    weights, dropped = grid.histogram(np.array([[0.9, -0.9], [2.5, 0.2], [0.1, 0.2]]), "data")
    assert np.allclose(grid.support[2], [2 / 3, -2 / 3])
    assert np.array_equal(weights, [0, 0, 0.5, 0, 0.5, 0, 0, 0, 0])
    assert dropped == {"n_nonfinite": 0, "n_outside": 1}


def test_histogram_counts_what_it_drops():
    samples = np.array([[0.0, 0.0], [5.0, 0.0], [np.nan, 1.0], [np.inf, 0.0], [1.0, -1.0]])
    weights, dropped = GRID.histogram(samples, "model")
    assert dropped == {"n_nonfinite": 2, "n_outside": 1}
    assert weights.sum() == pytest.approx(1.0)
    _, data_dropped = GRID.histogram(samples, "data")  # out-of-box data is snapped, not dropped
    assert data_dropped == {"n_nonfinite": 2, "n_outside": 0}
    empty, dropped = GRID.histogram(np.full((3, 2), 9.0), "model")
    assert empty is None and dropped["n_outside"] == 3
    assert np.isnan(w2sq_between_histograms(empty, weights, GRID.support))


def test_w2_convention_label_names_what_produced_the_value():
    evaluation = W2Settings(grid_bins=64, box_half_width=3.5, grid_convention="nodes",
                            w2_method="auto", w2_subsample_points=2000, seed=0)
    assert w2_convention_label(evaluation, True) == "nodes 64x64 on [-3.5, 3.5]^2"
    assert w2_convention_label(evaluation, False) == "exact OT on 2000-point subsamples"


def test_the_measurement_chooses_the_grid_or_subsamples_and_loses_by_one_rule():
    """W2Measure: the grid in 2-D under `auto`, subsamples when asked or above 2-D; the lost
    fraction counts off-grid samples only where the grid measures, non-finite ones always."""
    settings = dict(grid_bins=64, box_half_width=3.5, grid_convention="nodes",
                    w2_subsample_points=300, seed=0)
    a, b = _gaussian([0.0, 0.0], 0.5, n=2000), _gaussian([0.5, 0.0], 0.5, n=2000)
    a[:3] = [9.0, 0.0]  # off the grid
    a[3] = np.nan
    grid = W2Measure(W2Settings(w2_method="auto", **settings), 2)
    prepared = grid.prepare(a, "model"), grid.prepare(b, "data")
    assert (grid.method, grid.label) == ("grid", "nodes 64x64 on [-3.5, 3.5]^2")
    assert grid.w2sq(*prepared) == grid_w2sq(a, "model", b, "data", GRID)
    assert grid.lost_fraction(prepared[0]) == 4 / 2000
    assert len(grid.kept_points(prepared[0])) == 1996
    subsampled = W2Measure(W2Settings(w2_method="subsample", **settings), 2)
    prepared = subsampled.prepare(a, "model"), subsampled.prepare(b, "data")
    assert subsampled.method == "subsample"
    assert subsampled.w2sq(*prepared) == exact_w2sq_subsample(a, b, 300, 0)
    assert subsampled.lost_fraction(prepared[0]) == 1 / 2000  # W2 uses the off-grid points
    assert prepared[0].n_outside == 3  # still counted for the metrics table
    above = W2Measure(W2Settings(w2_method="auto", **settings), 3)
    assert above.method == "subsample" and above.grid is None
    with pytest.raises(ValueError, match="grid settings alone measure 2-D sets"):
        W2Measure(GRID, 3)
    assert W2Measure(GRID, 2).on_grid


def test_grid_rejects_unknown_convention_and_role():
    with pytest.raises(ValueError, match="grid convention 'centres'"):
        Grid(64, 3.5, "centres")
    with pytest.raises(ValueError, match="sample role 'truth'"):
        GRID.histogram(np.zeros((2, 2)), "truth")


@pytest.mark.slow
def test_sliced_w2_of_shifted_gaussians():
    # Projecting a shift v on uniform directions of the circle gives E[(theta . v)^2] = |v|^2/2.
    a, b = _gaussian([0, 0], 0.5, 20000), _gaussian([1.0, 0.5], 0.5, 20000)
    assert sliced_w2sq(a, b, n_projections=400, seed=0) == pytest.approx(0.625, rel=0.1)


def test_exact_model_diagnostics():
    process = OrnsteinUhlenbeck()
    model = GaussianPotential(process, [0.3, -0.2], 0.5)
    data = _gaussian([0.3, -0.2], 0.5, 2000).astype(np.float32)
    for fraction in (0.0, 1.0):
        sampler = CollocationSampler(2, 1024, 32, 3.5, "uniform", fraction,
                                     torch.as_tensor(data))
        summary = residual_summary(model, process, sampler, 0, torch.device("cpu"),
                                   prefix="fp_residual", hutchinson_probes=0, chunk_points=8192,
                                   engine=REFERENCE)
        assert summary["fp_residual"] < 1e-6
        assert set(summary) == {"fp_residual", "fp_residual_time_only", "fp_residual_centred"}
    exact = heldout_dsm(model, process, data, 0, torch.device("cpu"), chunk_points=8192,
                        weighting="uniform", engine=REFERENCE)

    class Wrong(torch.nn.Module):
        def score(self, x, t, create_graph=False):
            return torch.zeros_like(x)

    assert exact < heldout_dsm(Wrong(), process, data, 0, torch.device("cpu"),
                                chunk_points=8192, weighting="uniform", engine=REFERENCE)


def _gaussian_nd(mean, std, n, seed):
    mean = np.asarray(mean, dtype=float)
    return mean + std * np.random.default_rng(seed).standard_normal((n, len(mean)))


SHIFT_8D = [1.0, -0.5, 0.5, 0.5, 0.0, 0.5, 0.0, 0.0]  # |shift|^2 = 2


def test_sliced_w2_in_chunks_of_directions_equals_one_call_of_pot():
    """Directions handed to POT a few at a time give POT's single-call value (same seeded
    directions) to double round-off, for chunks that do and do not divide their number."""
    rng = np.random.default_rng(3)
    a = rng.normal(0.0, 1.0, (3000, 2))
    b = rng.normal(0.5, 0.8, (2000, 2))
    one_call = float(ot.sliced_wasserstein_distance(a, b, n_projections=50, p=2, seed=7)) ** 2
    for chunk_values in (5000, 7 * 5000, 10**9):
        chunked = sliced_w2sq(a, b, n_projections=50, seed=7, chunk_values=chunk_values)
        assert chunked == pytest.approx(one_call, rel=1e-12)


@pytest.mark.slow
def test_sliced_w2_of_shifted_gaussians_in_8d():
    # On uniform directions of the sphere S^(d-1), E[(theta . v)^2] = |v|^2 / d; in d = 8 one
    # projection's relative spread is ~1.2, so 2000 projections give ~3% standard error.
    a, b = _gaussian_nd(np.zeros(8), 0.5, 2000, 1), _gaussian_nd(SHIFT_8D, 0.5, 2000, 2)
    assert sliced_w2sq(a, b, n_projections=2000, seed=0) == pytest.approx(2.0 / 8, rel=0.1)


@pytest.mark.slow
def test_exact_subsampled_w2_of_shifted_gaussians_in_8d():
    """W2^2 between N(m1, s^2 I) and N(m2, s^2 I) is |m1 - m2|^2 in any d; the empirical OT
    between n-point samples adds a positive bias of the order of the same-distribution value."""
    a, b = _gaussian_nd(np.zeros(8), 0.2, 4000, 1), _gaussian_nd(SHIFT_8D, 0.2, 4000, 2)
    value = exact_w2sq_subsample(a, b, n=1500, seed=0)
    same = exact_w2sq_subsample(a, _gaussian_nd(np.zeros(8), 0.2, 4000, 3), n=1500, seed=0)
    assert 0 < same < 0.1
    assert 2.0 - 0.02 < value < 2.0 + 2 * same
    assert value == exact_w2sq_subsample(a, b, n=1500, seed=0)
    assert value != exact_w2sq_subsample(a, b, n=1500, seed=1)


def test_exact_subsampled_w2_edge_cases():
    points = _gaussian_nd(np.zeros(3), 1.0, 50, 0)
    # n above the set size keeps every point; a set and its own permutation are at distance 0
    shuffled = np.random.default_rng(1).permutation(points)
    assert exact_w2sq_subsample(points, shuffled, n=100, seed=0) == pytest.approx(0, abs=1e-12)
    with_nan = np.vstack([points, np.full((5, 3), np.nan)])
    assert exact_w2sq_subsample(with_nan, points, n=100, seed=0) == pytest.approx(0, abs=1e-12)
    assert np.isnan(exact_w2sq_subsample(np.full((4, 3), np.inf), points, n=10, seed=0))


def test_residual_summary_with_hutchinson_probes():
    process = OrnsteinUhlenbeck()
    model = GaussianPotential(process, [0.3, -0.2, 0.1, 0.0], 0.5)
    sampler = CollocationSampler(4, 256, 32, 3.5, "uniform", 0.0, None)
    summary = residual_summary(model, process, sampler, 0, torch.device("cpu"),
                               prefix="fp_residual", hutchinson_probes=1, chunk_points=8192,
                               engine=REFERENCE)
    assert summary["fp_residual"] < 1e-6  # the exact model's Hessian is diagonal: no probe noise


def test_w2_on_each_sides_support_equals_the_union_reference():
    """The rectangular problem (each side's occupied points) has the square one's optimum."""
    from odesdegap.evaluation.distances import w2sq_between_histograms_union

    rng = np.random.default_rng(0)
    grid = GRID
    a = rng.normal(0.3, 1.0, (20_000, 2))
    b = np.concatenate([rng.normal(-1, 0.5, (10_000, 2)), rng.normal(1.5, 0.4, (10_000, 2))])
    weights_a, _ = grid.histogram(a, "model")
    weights_b, _ = grid.histogram(b, "data")
    fast = w2sq_between_histograms(weights_a, weights_b, grid.support)
    reference = w2sq_between_histograms_union(weights_a, weights_b, grid.support)
    assert fast == pytest.approx(reference, rel=1e-12, abs=0)
    assert fast > 0.1
