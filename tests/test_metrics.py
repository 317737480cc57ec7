"""Metrics against closed forms: W2 between Gaussians, sliced W2, and the residual and DSM
diagnostics of the exact score."""

import numpy as np
import pytest
import torch

from odesdegap.datasets import sample_dataset
from odesdegap.metrics import (
    Grid,
    exact_w2sq_subsample,
    heldout_dsm,
    residual_summary,
    sliced_w2sq,
    w2sq_between_histograms,
)
from odesdegap.models import GaussianPotential
from odesdegap.processes import OrnsteinUhlenbeck
from odesdegap.residual import CollocationSampler

GRID = Grid(64, 3.5)
RNG = np.random.default_rng(0)


def _gaussian(mean, std, n=60000):
    return np.asarray(mean) + std * RNG.standard_normal((n, 2))


def _grid_w2sq(a, b):
    return w2sq_between_histograms(GRID.histogram(a)[0], GRID.histogram(b)[0], GRID.centres)


def test_grid_w2_between_shifted_gaussians_matches_closed_form():
    # W2^2 between N(m1, s^2 I) and N(m2, s^2 I) is |m1 - m2|^2.
    value = _grid_w2sq(_gaussian([-0.5, 0.0], 0.5), _gaussian([0.5, 0.5], 0.5))
    assert value == pytest.approx(1.25, abs=0.03)


def test_grid_w2_between_scaled_gaussians_matches_closed_form():
    # W2^2 between N(0, s1^2 I) and N(0, s2^2 I) in 2-D is 2 (s1 - s2)^2.
    value = _grid_w2sq(_gaussian([0, 0], 0.4), _gaussian([0, 0], 0.9))
    assert value == pytest.approx(2 * 0.5**2, abs=0.03)


def test_grid_w2_of_a_set_with_itself_is_zero():
    samples = sample_dataset("checkerboard", 5000, 0)
    assert _grid_w2sq(samples, samples) == pytest.approx(0.0, abs=1e-12)


def test_histogram_counts_what_it_drops():
    samples = np.array([[0.0, 0.0], [5.0, 0.0], [np.nan, 1.0], [np.inf, 0.0], [1.0, -1.0]])
    weights, dropped = GRID.histogram(samples)
    assert dropped == {"n_nonfinite": 2, "n_outside": 1}
    assert weights.sum() == pytest.approx(1.0)
    empty, dropped = GRID.histogram(np.full((3, 2), 9.0))
    assert empty is None and dropped["n_outside"] == 3
    assert np.isnan(w2sq_between_histograms(empty, weights, GRID.centres))


def test_sliced_w2_of_shifted_gaussians():
    # Projecting a shift v on uniform directions of the circle gives E[(theta . v)^2] = |v|^2/2.
    a, b = _gaussian([0, 0], 0.5, 20000), _gaussian([1.0, 0.5], 0.5, 20000)
    assert sliced_w2sq(a, b, n_projections=400, seed=0) == pytest.approx(0.625, rel=0.1)


def test_exact_model_diagnostics():
    process = OrnsteinUhlenbeck()
    model = GaussianPotential(process, [0.3, -0.2], 0.5)
    data = _gaussian([0.3, -0.2], 0.5, 2000).astype(np.float32)
    for fraction in (0.0, 1.0):
        sampler = CollocationSampler(2, 1024, 32, 3.5, "uniform", fraction, torch.as_tensor(data))
        summary = residual_summary(model, process, sampler, 0, torch.device("cpu"))
        assert summary["fp_residual"] < 1e-6
        assert set(summary) == {"fp_residual", "fp_residual_time_only", "fp_residual_centred"}
    exact = heldout_dsm(model, process, data, 0, torch.device("cpu"))

    class Wrong(torch.nn.Module):
        def score(self, x, t, create_graph=False):
            return torch.zeros_like(x)

    assert exact < heldout_dsm(Wrong(), process, data, 0, torch.device("cpu"))


def _gaussian_nd(mean, std, n, seed):
    mean = np.asarray(mean, dtype=float)
    return mean + std * np.random.default_rng(seed).standard_normal((n, len(mean)))


SHIFT_8D = [1.0, -0.5, 0.5, 0.5, 0.0, 0.5, 0.0, 0.0]  # |shift|^2 = 2


def test_sliced_w2_of_shifted_gaussians_in_8d():
    # On uniform directions of the sphere S^(d-1), E[(theta . v)^2] = |v|^2 / d; in d = 8 one
    # projection's relative spread is ~1.2, so 2000 projections give ~3% standard error.
    a, b = _gaussian_nd(np.zeros(8), 0.5, 2000, 1), _gaussian_nd(SHIFT_8D, 0.5, 2000, 2)
    assert sliced_w2sq(a, b, n_projections=2000, seed=0) == pytest.approx(2.0 / 8, rel=0.1)


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
    sampler = CollocationSampler(4, 256, 32, 3.5, "uniform")
    summary = residual_summary(model, process, sampler, 0, torch.device("cpu"),
                               hutchinson_probes=1)
    assert summary["fp_residual"] < 1e-6  # the exact model's Hessian is diagonal: no probe noise
