"""The two-sample noise floor of the W2^2 metric.

Two independent sets of n points from one distribution do not sit at W2^2 = 0: binning and
finite n leave a floor that shrinks with n. A model's distance within a small factor of that
floor cannot be told apart from a perfect sampler. The floor of a run is measured at the run's
own sample size (`sampling.n_samples`), with the same W2 method, grid and grid convention as the
run's distances (`w2sq`, which evaluate.py uses too), on fresh held-out sets drawn from the data
set's generator with seeds of their own (`seeds.floor_seeds`), independent of the training and
reference sets:

- `w2sq_floor`: between two such sets, both in the model role (the floor of ODE–SDE);
- `w2sq_floor_data`: between one such set (model role) and the run's held-out reference (data
  role): what a perfect sampler would score against that very reference (the floor of ODE–data
  and SDE–data).

Image data sets have no generator of fresh points (their held-out images are all in the
reference), so they get no floor; their record says so.
"""

from __future__ import annotations

import numpy as np

from odesdegap import seeds
from odesdegap.data import datasets
from odesdegap.evaluation import distances
from odesdegap.settings import W2Settings


def uses_grid(evaluation: W2Settings, dim: int) -> bool:
    """Whether W2^2 is computed on the 2-D grid (else exact OT between subsamples)."""
    return evaluation.w2_method == "grid" or (evaluation.w2_method == "auto" and dim == 2)


def w2sq(samples_a: np.ndarray, role_a: str, samples_b: np.ndarray, role_b: str,
         evaluation: W2Settings) -> float:
    """W2^2 between two sample sets exactly as a run measures it: on the grid with the
    configured convention (roles "model" or "data"), or, where the grid does not apply, exact
    OT between seeded subsamples."""
    if uses_grid(evaluation, samples_a.shape[1]):
        grid = distances.Grid.from_settings(evaluation)
        return distances.grid_w2sq(samples_a, role_a, samples_b, role_b, grid)
    return distances.exact_w2sq_subsample(samples_a, samples_b, evaluation.w2_subsample_points,
                                        evaluation.seed)


def lost_fraction(samples: np.ndarray, evaluation: W2Settings) -> float:
    """Fraction of a set the W2 metric cannot use in the model role: outside the grid or
    non-finite (non-finite only off the grid)."""
    if not uses_grid(evaluation, samples.shape[1]):
        return float((~np.isfinite(samples).all(axis=1)).mean())
    _, dropped = distances.Grid.from_settings(evaluation).histogram(samples, "model")
    return (dropped["n_outside"] + dropped["n_nonfinite"]) / len(samples)


def noise_floor(name: str, n_samples: int, reference: np.ndarray, evaluation: W2Settings,
                base_seed: int) -> dict:
    """The floor record of one data set at sample size `n_samples` (see the module's text)."""
    record = {"dataset": name, "n_floor_points": None, "n_reference": len(reference),
              "w2sq_floor": None, "w2sq_floor_data": None, "lost_fraction_floor": None}
    if datasets.image_shape(name) is not None:
        return {**record, "note": "no W2^2 floor for image data sets: no generator of fresh "
                                  "held-out points"}
    floor_seeds = seeds.floor_seeds(name, base_seed)
    first, second = (datasets.sample_dataset(name, n_samples, seed) for seed in floor_seeds)
    on_grid = uses_grid(evaluation, first.shape[1])
    return {
        **record,
        "n_floor_points": n_samples,
        "w2_method": "grid" if on_grid else "subsample",
        "w2_convention": distances.w2_convention_label(evaluation, on_grid),
        "floor_seeds": list(floor_seeds),
        "w2sq_floor": w2sq(first, "model", second, "model", evaluation),
        "w2sq_floor_data": w2sq(first, "model", reference, "data", evaluation),
        "lost_fraction_floor": lost_fraction(first, evaluation),
    }


RUN_FIELDS = ("w2sq_floor", "w2sq_floor_data", "n_floor_points", "lost_fraction_floor")


def run_fields(record: dict, n_samples: int) -> dict:
    """The floor fields a run's metrics carry, after checking the floor was measured at the
    run's sample size."""
    if record["n_floor_points"] is not None and record["n_floor_points"] != n_samples:
        raise ValueError(f"the noise floor of {record['dataset']!r} was measured at "
                         f"{record['n_floor_points']} points, the run has {n_samples} samples")
    return {key: record[key] for key in RUN_FIELDS}
