"""Everything rule evaluate measures for one run, behind one function: W2^2 between ODE, SDE
and held-out data (the paper's grid in 2-D, exact OT on subsamples above) with sliced W2^2 as
a grid-free cross-check, the model's FP residual on the box and near the data, its held-out DSM
loss and its probability-flow NLL, next to the data set's noise floor."""

from __future__ import annotations

import itertools
import sys

import numpy as np
import torch
from tqdm import tqdm

from odesdegap.diffusion.likelihood import ode_nll
from odesdegap.diffusion.processes import ForwardProcess
from odesdegap.diffusion.residual import CollocationSampler
from odesdegap.evaluation import metrics, noise_floor
from odesdegap.settings import EngineSettings, EvaluationSettings

# Which role each sample set plays on the grid (metrics.Grid: out-of-box model samples are
# dropped, data samples snapped to the boundary under the paper's convention).
ROLES = {"ode": "model", "sde": "model", "data": "data"}
# The two collocation sets of the reported residual: the paper's box (no noised points) and
# near the data (every point a noised held-out point), where the samplers' trajectories go.
RESIDUAL_SETS = (("fp_residual", 0.0), ("fp_residual_data", 1.0))


def chunk_points(dim: int) -> int:
    """Points per forward pass: a U-Net's activations on images are far larger than an MLP's."""
    return 8192 if dim <= 64 else 1024


def evaluate_run(*, dataset: str, fp_weight: float, seed: int, ode: dict, sde: dict,
                 reference: np.ndarray, model: torch.nn.Module, process: ForwardProcess,
                 evaluation: EvaluationSettings, dsm_weighting: str, floor: dict,
                 device: torch.device, engine: EngineSettings) -> dict:
    """The metrics row of one run (data set, FP weight, seed).

    `ode` and `sde` are the samplers' outputs (samples, nfe, wall_time_s), `reference` the
    held-out data, `model` the trained model (on any device), `dsm_weighting` training's
    (the held-out DSM loss is weighted like the training loss) and `floor` the data set's
    noise-floor record (rule noise_floor), which must be at the runs' sample size. `engine`
    picks how the residual, the DSM loss's score and the NLL's divergence are computed.
    """
    dim = reference.shape[1]
    sample_sets = {"ode": ode["samples"], "sde": sde["samples"], "data": reference}
    # One step per metric: three W2^2 pairs (each with its sliced cross-check), the residual on
    # the box and near the data, the held-out DSM loss and, if asked for, the NLL.
    progress = tqdm(total=3 + 2 + 1 + (evaluation.nll.points > 0), desc="evaluation",
                    unit="metric", file=sys.stderr, mininterval=1.0)
    on_grid = noise_floor.uses_grid(evaluation, dim)  # the rule the noise floor follows too
    result = {
        "dataset": dataset,
        "w2_method": "grid" if on_grid else "subsample",
        "w2_convention": metrics.w2_convention_label(evaluation, on_grid),
        "fp_weight": fp_weight,
        "seed": seed,
        "dim": dim,
        "nfe_ode": int(ode["nfe"]),
        "nfe_sde": int(sde["nfe"]),
        "sample_seconds_ode": float(ode["wall_time_s"]),
        "sample_seconds_sde": float(sde["wall_time_s"]),
    }
    result.update(_w2_distances(sample_sets, evaluation, on_grid, progress))

    model.to(device).eval()
    for prefix, fraction in RESIDUAL_SETS:
        collocation = CollocationSampler(
            dim=dim,
            collocation_points=evaluation.residual_points,
            points_per_time=evaluation.residual_points_per_time,
            box_half_width=evaluation.box_half_width,
            time_distribution=evaluation.residual_time_distribution,
            noised_fraction=fraction,
            data=torch.as_tensor(reference),
        )
        result.update(metrics.residual_summary(
            model, process, collocation, evaluation.seed, device, prefix=prefix,
            hutchinson_probes=evaluation.hutchinson_probes, chunk_points=chunk_points(dim),
            engine=engine))
        _done(progress, prefix)
    result["dsm_loss"] = metrics.heldout_dsm(model, process, reference, evaluation.seed, device,
                                             chunk_points=chunk_points(dim),
                                             weighting=dsm_weighting, engine=engine)
    _done(progress, "dsm_loss")

    nll = evaluation.nll
    if nll.points > 0:
        found = ode_nll(model, process, reference[: nll.points], nll, evaluation.seed, device,
                        engine=engine)
        result.update({f"nll_{k}" if not k.startswith("nll") else k: v for k, v in found.items()})
        _done(progress, "nll")
    progress.close()
    # Sample counts and the data set's noise floor at this sample size (same W2 method and
    # convention): each row describes itself.
    for name in ("ode", "sde"):
        result[f"n_samples_{name}"] = len(sample_sets[name])
        if dim != 2:
            result[f"n_nonfinite_{name}"] = int(
                (~np.isfinite(sample_sets[name]).all(axis=1)).sum())
    result.update(noise_floor.run_fields(floor, len(ode["samples"])))
    return result


def _w2_distances(sample_sets: dict, evaluation: EvaluationSettings, on_grid: bool,
                  progress) -> dict:
    """W2^2 and sliced W2^2 of every pair of sample sets, and (in 2-D) what the grid dropped."""
    dim = sample_sets["data"].shape[1]
    grid = metrics.Grid.from_settings(evaluation)
    result, histograms = {}, {}
    if dim == 2:
        for name, samples in sample_sets.items():
            histograms[name], dropped = grid.histogram(samples, ROLES[name])
            result[f"n_outside_{name}"] = dropped["n_outside"]
            result[f"n_nonfinite_{name}"] = dropped["n_nonfinite"]
    for a, b in itertools.combinations(sample_sets, 2):
        if on_grid:
            w2sq = metrics.w2sq_between_histograms(histograms[a], histograms[b], grid.support)
        else:  # exact OT between seeded subsamples: any dimension
            w2sq = metrics.exact_w2sq_subsample(sample_sets[a], sample_sets[b],
                                                evaluation.w2_subsample_points, evaluation.seed)
        result[f"w2sq_{a}_{b}"] = w2sq
        # The cross-check sees the same points as the grid (a few far-away, diverged samples
        # would otherwise dominate it), without the binning.
        kept_a, kept_b = ((sample_sets[n][grid.kept(sample_sets[n], ROLES[n])] if dim == 2
                           else sample_sets[n]) for n in (a, b))
        result[f"sliced_w2sq_{a}_{b}"] = metrics.sliced_w2sq(
            kept_a, kept_b, evaluation.sliced_projections, evaluation.seed,
            evaluation.sliced_max_points)
        _done(progress, f"W2^2 {a}-{b}")
    return result


def _done(progress, what: str) -> None:
    progress.set_postfix_str(f"{what} done", refresh=False)
    progress.update()
