"""What rule evaluate_sampler measures and how rule metrics joins a run's row; numpy and POT
only, so that these jobs do not load torch (the model's metrics are in evaluation.run).

- evaluate_sampler: one sampler of one run against the held-out data and against the
  reference sampler's samples: W2^2 (the paper's grid in 2-D, exact OT on subsamples above),
  on the grid its debiased estimate with a standard error (w2_debiased), sliced W2^2 as a
  grid-free cross-check, its NFE, wall time and lost samples. Adding a sampler computes only its
  own distances.
- join_metrics: the metrics row of the run (rule metrics), keyed by sampler name: nfe_{name},
  w2sq_{name}_data, w2sq_{name}_{reference}, ... The default pair (ode, sde with reference sde)
  gives the paper's columns w2sq_ode_sde, w2sq_ode_data, w2sq_sde_data.
"""

from __future__ import annotations

import numpy as np

from odesdegap.evaluation import distances
from odesdegap.settings import SamplerEvaluationSettings

# The role of held-out data on the grid (distances.Grid: out-of-box model samples are dropped,
# data samples snapped to the boundary under the paper's convention); every sampler's samples
# are "model".
DATA = "data"
# The columns of a run's identity, first in its row.
IDENTITY = ("dataset", "w2_method", "w2_convention", "fp_weight", "seed", "dim")


def role(name: str) -> str:
    return "data" if name == DATA else "model"


def evaluate_sampler(name: str, drawn: dict, *, data: np.ndarray,
                     evaluation: SamplerEvaluationSettings,
                     reference_name: str | None = None, reference: dict | None = None) -> dict:
    """The columns of sampler `name` (its output `drawn`: samples, nfe, wall_time_s): W2^2 and
    sliced W2^2 to the held-out `data` and, unless it is the reference sampler itself
    (reference_name None), to the reference sampler's output `reference`; its NFE, wall time,
    sample count and what the grid dropped. Each pair is computed exactly as before the axis
    (same order of arguments, seeds and grid), so the default config's numbers are unchanged."""
    dim = data.shape[1]
    measure = distances.W2Measure(evaluation, dim)
    sets = {name: drawn["samples"]}
    if reference_name is not None:
        sets[reference_name] = reference["samples"]
    sets[DATA] = data
    prepared = {key: measure.prepare(samples, role(key)) for key, samples in sets.items()}
    result = {f"nfe_{name}": int(drawn["nfe"]),
              f"sample_seconds_{name}": float(drawn["wall_time_s"])}
    if dim == 2:  # what the grid dropped (off the grid only the non-finite count, below)
        result[f"n_outside_{name}"] = prepared[name].n_outside
        result[f"n_nonfinite_{name}"] = prepared[name].n_nonfinite
    for other in sets:
        if other == name:
            continue
        plug_in, debiased = measure.w2sq_with_debiased(prepared[name], prepared[other])
        result[f"w2sq_{name}_{other}"] = plug_in
        result[f"debiased_w2sq_{name}_{other}"] = debiased.value
        result[f"se_debiased_w2sq_{name}_{other}"] = debiased.standard_error
        # The cross-check sees the same points as the grid (a few far-away, diverged samples
        # would otherwise dominate it), without the binning.
        result[f"sliced_w2sq_{name}_{other}"] = distances.sliced_w2sq(
            measure.kept_points(prepared[name]), measure.kept_points(prepared[other]),
            evaluation.sliced_projections, evaluation.seed, evaluation.sliced_max_points)
    result[f"n_samples_{name}"] = len(sets[name])
    if dim != 2:
        result[f"n_nonfinite_{name}"] = prepared[name].n_nonfinite
    return result


def join_metrics(model_record: dict, sampler_records: dict[str, dict]) -> dict:
    """The metrics row of a run: its identity, then every sampler's columns (in the config's
    order), then the model's metrics and the noise floor."""
    row = {key: model_record[key] for key in IDENTITY if key in model_record}
    for name, record in sampler_records.items():
        clash = set(record) & (set(row) | set(model_record))
        if clash:
            raise ValueError(f"sampler {name!r} writes columns another part of the row has: "
                             f"{sorted(clash)}")
        row.update(record)
    row.update({k: v for k, v in model_record.items() if k not in row})
    return row
