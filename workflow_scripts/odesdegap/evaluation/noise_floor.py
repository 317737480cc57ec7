"""The two-sample noise floor of the W2^2 metric.

Two independent sets of n points from one distribution do not sit at W2^2 = 0: binning and
finite n leave a floor that shrinks with n. A model's distance within a small factor of that
floor cannot be told apart from a perfect sampler. The floor of a run is measured at the run's
own sample size (`sampling.n_samples`), measured as the run's distances are (with
distances.W2Measure: the same W2 method, grid and grid convention), on fresh held-out sets drawn
from the data set's generator with seeds of their own (`seeds.floor_seeds`), independent of the
training and reference sets:

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
    measure = distances.W2Measure(evaluation, first.shape[1])
    first, second = measure.prepare(first, "model"), measure.prepare(second, "model")
    return {
        **record,
        "n_floor_points": n_samples,
        "w2_method": measure.method,
        "w2_convention": measure.label,
        "floor_seeds": list(floor_seeds),
        "w2sq_floor": measure.w2sq(first, second),
        "w2sq_floor_data": measure.w2sq(first, measure.prepare(reference, "data")),
        "lost_fraction_floor": measure.lost_fraction(first),
    }


RUN_FIELDS = ("w2sq_floor", "w2sq_floor_data", "n_floor_points", "lost_fraction_floor")


def run_fields(record: dict, n_samples: int) -> dict:
    """The floor fields a run's metrics carry, after checking the floor was measured at the
    run's sample size."""
    if record["n_floor_points"] is not None and record["n_floor_points"] != n_samples:
        raise ValueError(f"the noise floor of {record['dataset']!r} was measured at "
                         f"{record['n_floor_points']} points, the run has {n_samples} samples")
    return {key: record[key] for key in RUN_FIELDS}
