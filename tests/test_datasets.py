"""The data distributions, checked against their definitions."""

import urllib.error
import urllib.request

import numpy as np
import pytest

from odesdegap import seeds
from odesdegap.data.datasets import (
    EIGHT_GAUSSIANS_RADIUS,
    EXACT_GAUSSIAN,
    EXACT_LANE,
    GMM_STD,
    MIXTURE_MEANS,
    SAMPLERS,
    data_scale,
    dataset_names,
    dimension,
    gmm_means,
    image_shape,
    point_draws,
    sample_dataset,
)
from odesdegap.data.images import DatasetUnavailable, expected_files, load_image_dataset


def test_same_seed_same_points_and_float32():
    a, b = sample_dataset("circles", 100, 3), sample_dataset("circles", 100, 3)
    assert a.dtype == np.float32 and a.shape == (100, 2)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, sample_dataset("circles", 100, 4))


def test_the_exact_lane_is_a_data_set_of_the_registry_that_is_not_trained():
    """exact_gaussian draws N(mean, std^2 I) through the registry, from the seeds every data set
    gets (seeds.dataset_seeds); the config may not list it (dataset_names: the trainable)."""
    draws = point_draws(EXACT_LANE, 50_000, 1000, 2023)
    train_seed, reference_seed = seeds.dataset_seeds(EXACT_LANE, 2023)
    assert np.array_equal(draws["train"], sample_dataset(EXACT_LANE, 50_000, train_seed))
    assert np.array_equal(draws["reference"], sample_dataset(EXACT_LANE, 1000, reference_seed))
    train = draws["train"].astype(float)
    assert np.allclose(train.mean(axis=0), EXACT_GAUSSIAN["mean"], atol=0.01)
    assert np.allclose(train.std(axis=0), EXACT_GAUSSIAN["std"], atol=0.01)
    assert dimension(EXACT_LANE) == 2 and data_scale(EXACT_LANE) == EXACT_GAUSSIAN["std"]
    assert EXACT_LANE in SAMPLERS and EXACT_LANE not in dataset_names()
    assert {"mixture", "circles", "checkerboard", "digits"} <= set(dataset_names())


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


@pytest.mark.parametrize("name", ["spirals", "gmm1d", "gmm65d", "gmm08d", "gmm8", "GMM8D"])
def test_unknown_name_is_refused(name):
    with pytest.raises(ValueError, match=f"unknown data set '{name}'"):
        sample_dataset(name, 10, 0)
    with pytest.raises(ValueError, match=f"unknown data set '{name}'"):
        dimension(name)


@pytest.mark.parametrize("name", ["moons", "swiss_roll", "eight_gaussians", "gmm2d"])
def test_added_planar_sets_fit_the_w2_grid(name):
    """Unlike the paper's mixture and circles, whose tails just reach past the grid's edge."""
    points = sample_dataset(name, 100_000, 0)
    assert dimension(name) == 2 and points.shape == (100_000, 2) and points.dtype == np.float32
    assert np.abs(points).max() < 3.5
    assert np.array_equal(points, sample_dataset(name, 100_000, 0))


@pytest.mark.parametrize("name", ["moons", "swiss_roll"])
def test_moons_and_swiss_roll_span_about_minus_three_to_three(name):
    points = sample_dataset(name, 50_000, 0)
    extent = np.abs(points).max(axis=0)
    assert 2.8 < extent.max() < 3.4
    assert np.abs(points.mean(axis=0)).max() < 0.5


def test_moons_are_two_noisy_half_circles():
    points = sample_dataset("moons", 20_000, 0) / 2.0 + [0.5, 0.25]
    # distance to the upper circle (centre (0, 0)) or the lower one (centre (1, 0.5)), radius 1
    to_upper = np.abs(np.linalg.norm(points, axis=1) - 1)
    to_lower = np.abs(np.linalg.norm(points - [1.0, 0.5], axis=1) - 1)
    on_upper = to_upper < to_lower
    assert on_upper.mean() == pytest.approx(0.5, abs=0.02)
    assert np.minimum(to_upper, to_lower).mean() < 0.05


def test_eight_gaussians_components():
    points = sample_dataset("eight_gaussians", 40_000, 0)
    angles = np.arange(8) * np.pi / 4
    centres = EIGHT_GAUSSIANS_RADIUS * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    nearest = np.argmin(((points[:, None] - centres[None]) ** 2).sum(-1), axis=1)
    assert np.bincount(nearest, minlength=8).min() > 0.9 * 5000
    offsets = points - centres[nearest]
    assert offsets.std(axis=0) == pytest.approx([0.2, 0.2], rel=0.05)


@pytest.mark.parametrize("dim", [2, 8, 16, 64])
def test_gmm_components_and_dimension(dim):
    name = f"gmm{dim}d"
    assert name in SAMPLERS and dimension(name) == dim
    points = sample_dataset(name, 20_000, 1)
    assert points.shape == (20_000, dim) and points.dtype == np.float32
    means = gmm_means(dim)
    assert means.shape == (4, dim) and not means[:, 2:].any()
    assert sorted(map(tuple, means[:, :2])) == [(-1.5, -1.5), (-1.5, 1.5), (1.5, -1.5), (1.5, 1.5)]
    nearest = np.argmin(((points[:, None] - means[None]) ** 2).sum(-1), axis=1)
    assert np.bincount(nearest, minlength=4).min() > 0.9 * 5000
    offsets = points - means[nearest]
    assert offsets.mean(axis=0) == pytest.approx(np.zeros(dim), abs=0.02)
    assert offsets.std(axis=0) == pytest.approx(np.full(dim, GMM_STD), rel=0.05)



# --- images ---------------------------------------------------------------------------------
def test_digits_are_flat_images_in_range_with_a_held_out_split():
    arrays = load_image_dataset("digits", n_train=10_000, n_reference=300, seed=1)
    assert arrays["train"].shape == (1797 - 300, 64) and arrays["reference"].shape == (300, 64)
    assert arrays["train"].dtype == np.float32 and dimension("digits") == 64
    assert image_shape("digits") == (1, 8, 8) and image_shape("mixture") is None
    both = np.concatenate([arrays["train"], arrays["reference"]])
    assert both.min() == -1.0 and both.max() == 1.0
    assert set(np.unique(arrays["train_labels"])) == set(range(10))
    # Disjoint: every image appears once (a few digits are duplicated in the raw set itself).
    assert len(np.unique(both, axis=0)) >= len(both) - 5
    again = load_image_dataset("digits", n_train=10_000, n_reference=300, seed=1)
    assert all(np.array_equal(arrays[k], again[k]) for k in arrays)
    fewer = load_image_dataset("digits", n_train=100, n_reference=300, seed=1)
    assert len(fewer["train"]) == 100


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10"])
def test_torchvision_sets_offline_say_what_to_download_and_where(name, tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DatasetUnavailable) as raised:
        load_image_dataset(name, 100, 100, 0, root=tmp_path / "downloads", download=True)
    message = str(raised.value)
    urls, folder = expected_files(name, tmp_path / "downloads")
    assert "downloading them failed" in message and str(folder.resolve()) in message
    assert all(url in message for url in urls)
    with pytest.raises(DatasetUnavailable, match="data.download is false"):
        load_image_dataset(name, 100, 100, 0, root=tmp_path / "downloads", download=False)
