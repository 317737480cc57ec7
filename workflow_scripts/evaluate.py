"""Rule evaluate: W2^2 between ODE, SDE and held-out data (the paper's grid in 2-D, exact OT on
subsamples above), sliced W2^2 as a grid-free cross-check, the model's FP residual on the box
and near the data, its held-out DSM loss and its probability-flow NLL."""

import itertools
import sys

import numpy as np
import torch
from tqdm import tqdm

from odesdegap import runtime
from odesdegap.diffusion.likelihood import LikelihoodSettings, ode_nll
from odesdegap.diffusion.processes import build_process
from odesdegap.diffusion.residual import CollocationSampler
from odesdegap.engine import Engine
from odesdegap.evaluation import metrics, noise_floor
from odesdegap.io import artifacts

sm = snakemake  # noqa: F821 (injected by Snakemake)
runtime.log_to(sm.log[0])
device = runtime.job_device(sm)
params = sm.params
evaluation = params.evaluation

reference = artifacts.load_arrays(sm.input.data)["reference"]
dim = reference.shape[1]
ode, sde = (artifacts.load_arrays(path) for path in (sm.input.ode, sm.input.sde))
sample_sets = {"ode": ode["samples"], "sde": sde["samples"], "data": reference}
roles = {"ode": "model", "sde": "model", "data": "data"}
# One step per metric: three W2^2 pairs (each with its sliced cross-check), the residual on the
# box and near the data, the held-out DSM loss and, if asked for, the NLL.
progress = tqdm(total=3 + 2 + 1 + (evaluation["nll"]["points"] > 0), desc="evaluation",
                unit="metric", file=sys.stderr, mininterval=1.0)

grid = metrics.Grid.from_settings(evaluation)
on_grid = noise_floor.uses_grid(evaluation, dim)  # the rule the noise floor follows too
result = {
    "dataset": sm.wildcards.dataset,
    "w2_method": "grid" if on_grid else "subsample",
    "w2_convention": metrics.w2_convention_label(evaluation, on_grid),
    "fp_weight": params.fp_weight,
    "seed": params.seed,
    "dim": dim,
    "nfe_ode": int(ode["nfe"]),
    "nfe_sde": int(sde["nfe"]),
    "sample_seconds_ode": float(ode["wall_time_s"]),
    "sample_seconds_sde": float(sde["wall_time_s"]),
}
if dim == 2:
    histograms = {}
    for name, samples in sample_sets.items():
        histograms[name], dropped = grid.histogram(samples, roles[name])
        result[f"n_outside_{name}"] = dropped["n_outside"]
        result[f"n_nonfinite_{name}"] = dropped["n_nonfinite"]
for a, b in itertools.combinations(sample_sets, 2):
    if on_grid:
        w2sq = metrics.w2sq_between_histograms(histograms[a], histograms[b], grid.support)
    else:  # exact OT between seeded subsamples: any dimension
        w2sq = metrics.exact_w2sq_subsample(sample_sets[a], sample_sets[b],
                                            evaluation["w2_subsample_points"], evaluation["seed"])
    result[f"w2sq_{a}_{b}"] = w2sq
    # The cross-check sees the same points as the grid (a few far-away, diverged samples
    # would otherwise dominate it), without the binning.
    kept_a, kept_b = ((sample_sets[n][grid.kept(sample_sets[n], roles[n])] if dim == 2
                       else sample_sets[n]) for n in (a, b))
    result[f"sliced_w2sq_{a}_{b}"] = metrics.sliced_w2sq(
        kept_a, kept_b, evaluation["sliced_projections"], evaluation["seed"],
        evaluation["sliced_max_points"])
    progress.set_postfix_str(f"W2^2 {a}-{b} done", refresh=False)
    progress.update()

process = build_process(params.process)
model = artifacts.load_model(sm.input.model, params.model, dim, process, params.image_shape)
model.to(device).eval()
# Eager: compiling these one-off computations costs more than it saves (docs/performance.md).
engine = Engine(params.derivatives, compile=False)
# Points per forward pass: a U-Net's activations on images are far larger than an MLP's.
chunk_points = 8192 if dim <= 64 else 1024
# The residual on the paper's box, and near the data (noised held-out points), where the
# samplers' trajectories actually go.
for prefix, fraction in (("fp_residual", 0.0), ("fp_residual_data", 1.0)):
    collocation = CollocationSampler(
        dim=dim,
        n_points=evaluation["residual_points"],
        points_per_time=evaluation["residual_points_per_time"],
        half_width=evaluation["box_half_width"],
        time_distribution=evaluation["residual_time_distribution"],
        noised_fraction=fraction,
        data=torch.as_tensor(reference),
    )
    result.update(metrics.residual_summary(model, process, collocation, evaluation["seed"],
                                           device, prefix=prefix,
                                           hutchinson_probes=evaluation["hutchinson_probes"],
                                           chunk_points=chunk_points, engine=engine))
    progress.set_postfix_str(f"{prefix} done", refresh=False)
    progress.update()
result["dsm_loss"] = metrics.heldout_dsm(model, process, reference, evaluation["seed"], device,
                                         chunk_points=chunk_points, weighting=params.dsm_weighting,
                                         derivatives=engine.derivatives)
progress.set_postfix_str("dsm_loss done", refresh=False)
progress.update()

nll = evaluation["nll"]
if nll["points"] > 0:
    settings = LikelihoodSettings(
        method=nll["method"],
        steps=nll["steps"],
        spacing=nll["spacing"],
        refine_first=nll["refine_first"],
        refine_factor=nll["refine_factor"],
        rtol=nll["rtol"],
        atol=nll["atol"],
        exact_divergence_max_dim=nll["exact_divergence_max_dim"],
        hutchinson_probes=nll["hutchinson_probes"],
    )
    found = ode_nll(model, process, reference[: nll["points"]], settings, evaluation["seed"],
                    device, engine)
    result.update({f"nll_{k}" if not k.startswith("nll") else k: v for k, v in found.items()})
    progress.set_postfix_str("nll done", refresh=False)
    progress.update()
progress.close()
# Sample counts and the data set's noise floor at this sample size (rule noise_floor, same W2
# method and convention): each row describes itself.
for name in ("ode", "sde"):
    result[f"n_samples_{name}"] = len(sample_sets[name])
    if dim != 2:
        result[f"n_nonfinite_{name}"] = int((~np.isfinite(sample_sets[name]).all(axis=1)).sum())
result.update(noise_floor.run_fields(artifacts.read_json(sm.input.floor), len(ode["samples"])))
# The settings behind these numbers (Snakemake reruns sampling and this job when they change).
result["config"] = {key: sm.config[key] for key in ("process", "model", "sampling")}
result["config"]["evaluation"] = dict(evaluation)
print(result)
artifacts.write_json(sm.output.metrics, result)
