"""The paper's three distributions, checked against their definitions."""

import numpy as np
import pytest

from odesdegap.datasets import MIXTURE_MEANS, dataset_seeds, sample_dataset


def test_same_seed_same_points_and_float32():
    a, b = sample_dataset("circles", 100, 3), sample_dataset("circles", 100, 3)
    assert a.dtype == np.float32 and a.shape == (100, 2)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, sample_dataset("circles", 100, 4))


def test_checkerboard_fills_the_even_cells_only():
    points = sample_dataset("checkerboard", 20000, 0) / 6.0
    assert (points >= -0.5).all() and (points < 0.5).all()
    cells = np.floor((points + 0.5) / 0.25).astype(int)
    assert ((cells[:, 0] + cells[:, 1]) % 2 == 0).all()
    counts = np.unique(cells[:, 0] * 4 + cells[:, 1], return_counts=True)[1]
    assert len(counts) == 8 and counts.min() > 0.9 * counts.mean()


def test_circles_radii():
    radius = np.linalg.norm(sample_dataset("circles", 20000, 0), axis=1) / 2.0
    inner, outer = radius[radius < 1.0], radius[radius >= 1.0]
    assert inner.mean() == pytest.approx(0.65, abs=0.01)
    assert outer.mean() == pytest.approx(1.4, abs=0.01)
    assert len(inner) == pytest.approx(10000, rel=0.02)


def test_mixture_components():
    points = sample_dataset("mixture", 45000, 0) / 0.65
    nearest = np.argmin(((points[:, None] - MIXTURE_MEANS[None]) ** 2).sum(-1), axis=1)
    counts = np.bincount(nearest, minlength=9)
    assert counts.min() > 0.85 * counts.mean()
    centre = points[nearest == 4]
    assert centre.var(axis=0) == pytest.approx([0.2, 0.2], rel=0.15)


def test_seeds_differ_between_sets_and_data_sets():
    assert len({*dataset_seeds("mixture", 1), *dataset_seeds("circles", 1)}) == 4


def test_unknown_name_is_refused():
    with pytest.raises(ValueError, match="unknown data set 'moons'"):
        sample_dataset("moons", 10, 0)
