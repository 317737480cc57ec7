"""Rule evaluate: W2^2 between ODE, SDE and held-out data on the paper's grid, sliced W2^2 as a
grid-free cross-check, the model's FP residual and its held-out DSM loss."""

import itertools

from odesdegap import artifacts, metrics, runtime
from odesdegap.models import build_model
from odesdegap.processes import build_process

sm = snakemake  # noqa: F821 (injected by Snakemake)
runtime.log_to(sm.log[0])
device = runtime.setup(sm.threads, sm.config.get("device", "auto"))
params = sm.params
evaluation = params.evaluation

reference = artifacts.load_arrays(sm.input.data)["reference"]
ode, sde = (artifacts.load_arrays(path) for path in (sm.input.ode, sm.input.sde))
sample_sets = {"ode": ode["samples"], "sde": sde["samples"], "data": reference}

result = {
    "dataset": sm.wildcards.dataset,
    "fp_weight": params.fp_weight,
    "seed": params.seed,
    "nfe_ode": int(ode["nfe"]),
    "nfe_sde": int(sde["nfe"]),
    "sample_seconds_ode": float(ode["wall_time_s"]),
    "sample_seconds_sde": float(sde["wall_time_s"]),
}
grid = metrics.Grid(evaluation["grid_bins"], evaluation["box_half_width"])
histograms = {}
for name, samples in sample_sets.items():
    histograms[name], dropped = grid.histogram(samples)
    result[f"n_outside_{name}"] = dropped["n_outside"]
    result[f"n_nonfinite_{name}"] = dropped["n_nonfinite"]
for a, b in itertools.combinations(sample_sets, 2):
    result[f"w2sq_{a}_{b}"] = metrics.w2sq_between_histograms(histograms[a], histograms[b],
                                                              grid.centres)
    result[f"sliced_w2sq_{a}_{b}"] = metrics.sliced_w2sq(
        sample_sets[a], sample_sets[b], evaluation["sliced_projections"], evaluation["seed"],
        evaluation["sliced_max_points"])

process = build_process(params.process)
model = build_model(params.model, dim=reference.shape[1], process=process)
model.load_state_dict(artifacts.load_state_dict(sm.input.model))
model.to(device).eval()
result.update(metrics.residual_summary(
    model, process, dim=reference.shape[1], n_points=evaluation["residual_points"],
    points_per_time=evaluation["residual_points_per_time"],
    half_width=evaluation["box_half_width"],
    time_distribution=evaluation["residual_time_distribution"],
    seed=evaluation["seed"], device=device,
))
result["dsm_loss"] = metrics.heldout_dsm(model, process, reference, evaluation["seed"], device)
print(result)
artifacts.write_json(sm.output.metrics, result)
