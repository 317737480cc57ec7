"""The noise floor: W2^2 between independent held-out sets at the runs' sample size, computed
with the runs' own W2 code path and convention."""

import dataclasses

import numpy as np
import pytest

from odesdegap import seeds
from odesdegap.data import datasets
from odesdegap.evaluation import distances, noise_floor
from odesdegap.settings import W2Settings

EVALUATION = W2Settings(grid_bins=64, box_half_width=3.5, grid_convention="nodes",
                        w2_method="auto", w2_subsample_points=300, seed=12345)


def reference_of(name: str, n: int = 3000) -> np.ndarray:
    _, reference_seed = seeds.dataset_seeds(name, 2023)
    return datasets.sample_dataset(name, n, reference_seed)


@pytest.mark.parametrize("convention", ["nodes", "cells"])
def test_floor_is_w2_between_two_disjoint_held_out_sets(convention):
    evaluation = dataclasses.replace(EVALUATION, grid_convention=convention)
    reference = reference_of("mixture")
    record = noise_floor.noise_floor("mixture", 2000, reference, evaluation, 2023)
    first, second = (datasets.sample_dataset("mixture", 2000, seed)
                     for seed in seeds.floor_seeds("mixture", 2023))
    train_seed, _ = seeds.dataset_seeds("mixture", 2023)
    train = datasets.sample_dataset("mixture", 5000, train_seed)
    # Disjoint from each other and from the training and reference sets.
    seen = [{tuple(p) for p in points} for points in (first, second, reference, train)]
    assert all(not (a & b) for i, a in enumerate(seen) for b in seen[i + 1:])
    assert len(first) == len(second) == record["n_floor_points"] == 2000
    # Equal to the direct computation, the way evaluate.py measures a run's pairs.
    grid = distances.Grid(64, 3.5, convention)
    histograms = [grid.histogram(points, role)[0]
                  for points, role in ((first, "model"), (second, "model"), (reference, "data"))]
    assert record["w2sq_floor"] == distances.w2sq_between_histograms(
        histograms[0], histograms[1], grid.support)
    assert record["w2sq_floor_data"] == distances.w2sq_between_histograms(
        histograms[0], histograms[2], grid.support)
    assert 0 < record["w2sq_floor"] < 0.1 and 0 < record["w2sq_floor_data"] < 0.1
    assert record["w2_convention"] == f"{convention} 64x64 on [-3.5, 3.5]^2"
    assert record["w2_method"] == "grid"


@pytest.mark.slow
def test_floor_shrinks_with_the_sample_size():
    reference = reference_of("checkerboard", 8000)
    small, large = (noise_floor.noise_floor("checkerboard", n, reference, EVALUATION, 2023)
                    for n in (500, 8000))
    assert large["w2sq_floor"] < 0.5 * small["w2sq_floor"]


def test_floor_follows_the_subsample_method_above_two_dimensions():
    reference = reference_of("gmm4d")
    record = noise_floor.noise_floor("gmm4d", 1000, reference, EVALUATION, 2023)
    first, second = (datasets.sample_dataset("gmm4d", 1000, seed)
                     for seed in seeds.floor_seeds("gmm4d", 2023))
    assert record["w2_method"] == "subsample"
    assert record["w2_convention"] == "exact OT on 300-point subsamples"
    assert record["w2sq_floor"] == distances.exact_w2sq_subsample(first, second, 300, 12345)
    assert record["w2sq_floor_data"] == distances.exact_w2sq_subsample(first, reference, 300,
                                                                     12345)


def test_image_data_sets_have_no_floor_and_runs_must_match_its_size():
    record = noise_floor.noise_floor("digits", 200, np.zeros((10, 64), np.float32), EVALUATION,
                                     2023)
    assert record["w2sq_floor"] is None and "image" in record["note"]
    assert noise_floor.run_fields(record, 200)["w2sq_floor"] is None
    measured = noise_floor.noise_floor("circles", 400, reference_of("circles"), EVALUATION, 2023)
    assert set(noise_floor.run_fields(measured, 400)) == {
        "w2sq_floor", "w2sq_floor_data", "n_floor_points", "lost_fraction_floor"}
    with pytest.raises(ValueError, match="measured at 400 points, the run has 500 samples"):
        noise_floor.run_fields(measured, 500)
