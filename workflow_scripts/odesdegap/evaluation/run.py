"""What rules evaluate_sampler and evaluate measure, behind three functions.

- evaluate_sampler: one sampler of one run against the held-out data and against the
  reference sampler's samples: W2^2 (the paper's grid in 2-D, exact OT on subsamples above)
  with sliced W2^2 as a grid-free cross-check, its NFE, wall time and lost samples. Adding a
  sampler computes only its own distances.
- evaluate_model: what does not depend on sampling: the model's FP residual on the box and near
  the data, its held-out DSM loss and its probability-flow NLL, next to the data set's noise
  floor.
- join_metrics: the metrics row of the run (rule metrics), keyed by sampler name: nfe_{name},
  w2sq_{name}_data, w2sq_{name}_{reference}, ... The default pair (ode, sde with reference sde)
  gives the paper's columns w2sq_ode_sde, w2sq_ode_data, w2sq_sde_data.

evaluate_run composes the three in one call (tests and notebooks)."""

from __future__ import annotations

import sys

import numpy as np
import torch
from tqdm import tqdm

from odesdegap.diffusion.likelihood import ode_nll
from odesdegap.diffusion.processes import ForwardProcess
from odesdegap.diffusion.residual import CollocationSampler
from odesdegap.evaluation import metrics, noise_floor
from odesdegap.settings import EngineSettings, EvaluationSettings, SamplerEvaluationSettings

# The role of held-out data on the grid (metrics.Grid: out-of-box model samples are dropped,
# data samples snapped to the boundary under the paper's convention); every sampler's samples
# are "model".
DATA = "data"
# The two collocation sets of the reported residual: the paper's box (no noised points) and
# near the data (every point a noised held-out point), where the samplers' trajectories go.
RESIDUAL_SETS = (("fp_residual", 0.0), ("fp_residual_data", 1.0))
# The columns of a run's identity, first in its row.
IDENTITY = ("dataset", "w2_method", "w2_convention", "fp_weight", "seed", "dim")


def chunk_points(dim: int) -> int:
    """Points per forward pass: a U-Net's activations on images are far larger than an MLP's."""
    return 8192 if dim <= 64 else 1024


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
    on_grid = noise_floor.uses_grid(evaluation, dim)
    sets = {name: drawn["samples"]}
    if reference_name is not None:
        sets[reference_name] = reference["samples"]
    sets[DATA] = data
    result = {f"nfe_{name}": int(drawn["nfe"]),
              f"sample_seconds_{name}": float(drawn["wall_time_s"])}
    pairs = [(name, other) for other in sets if other != name]
    result.update(_w2_distances(sets, pairs, evaluation, on_grid, counted=(name,)))
    result[f"n_samples_{name}"] = len(sets[name])
    if dim != 2:
        result[f"n_nonfinite_{name}"] = int((~np.isfinite(sets[name]).all(axis=1)).sum())
    return result


def evaluate_model(*, dataset: str, fp_weight: float, seed: int, reference: np.ndarray,
                   model: torch.nn.Module, process: ForwardProcess,
                   evaluation: EvaluationSettings, dsm_weighting: str, floor: dict,
                   n_samples: int, device: torch.device, engine: EngineSettings) -> dict:
    """The columns of one run (data set, FP weight, seed) that no sampler changes.

    `reference` is the held-out data, `model` the trained model (on any device),
    `dsm_weighting` training's (the held-out DSM loss is weighted like the training loss) and
    `floor` the data set's noise-floor record (rule noise_floor), which must be at the runs'
    sample size `n_samples`. `engine` picks how the residual, the DSM loss's score and the NLL's
    divergence are computed.
    """
    dim = reference.shape[1]
    # One step per metric: the residual on the box and near the data, the held-out DSM loss
    # and, if asked for, the NLL.
    progress = tqdm(total=2 + 1 + (evaluation.nll.points > 0), desc="evaluation",
                    unit="metric", file=sys.stderr, mininterval=1.0)
    on_grid = noise_floor.uses_grid(evaluation, dim)  # the rule the noise floor follows too
    result = {
        "dataset": dataset,
        "w2_method": "grid" if on_grid else "subsample",
        "w2_convention": metrics.w2_convention_label(evaluation, on_grid),
        "fp_weight": fp_weight,
        "seed": seed,
        "dim": dim,
    }
    if dim == 2:
        _, dropped = metrics.Grid.from_settings(evaluation).histogram(reference, "data")
        result[f"n_outside_{DATA}"] = dropped["n_outside"]
        result[f"n_nonfinite_{DATA}"] = dropped["n_nonfinite"]

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
    # The data set's noise floor at this sample size (same W2 method and convention): each row
    # describes itself.
    result.update(noise_floor.run_fields(floor, n_samples))
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


def evaluate_run(*, dataset: str, fp_weight: float, seed: int, samples: dict[str, dict],
                 reference_sampler: str, reference: np.ndarray, model: torch.nn.Module,
                 process: ForwardProcess, evaluation: EvaluationSettings, dsm_weighting: str,
                 floor: dict, device: torch.device, engine: EngineSettings) -> dict:
    """The whole metrics row of one run: `samples` maps each sampler's name to its output, and
    `reference_sampler` names the one every other is compared with; the rest is
    evaluate_model's."""
    records = {
        name: evaluate_sampler(
            name, drawn, data=reference, evaluation=evaluation,
            reference_name=None if name == reference_sampler else reference_sampler,
            reference=None if name == reference_sampler else samples[reference_sampler])
        for name, drawn in samples.items()
    }
    model_record = evaluate_model(
        dataset=dataset, fp_weight=fp_weight, seed=seed, reference=reference, model=model,
        process=process, evaluation=evaluation, dsm_weighting=dsm_weighting, floor=floor,
        n_samples=len(samples[reference_sampler]["samples"]), device=device, engine=engine)
    return join_metrics(model_record, records)


def _w2_distances(sample_sets: dict, pairs, evaluation: SamplerEvaluationSettings, on_grid: bool,
                  counted=()) -> dict:
    """W2^2 and sliced W2^2 of each pair (a, b) of sample sets, and (in 2-D) what the grid
    dropped of the sets named in `counted`."""
    dim = sample_sets[DATA].shape[1]
    grid = metrics.Grid.from_settings(evaluation)
    result, histograms = {}, {}
    if dim == 2:
        for name, samples in sample_sets.items():
            histograms[name], dropped = grid.histogram(samples, role(name))
            if name in counted:
                result[f"n_outside_{name}"] = dropped["n_outside"]
                result[f"n_nonfinite_{name}"] = dropped["n_nonfinite"]
    for a, b in pairs:
        if on_grid:
            w2sq = metrics.w2sq_between_histograms(histograms[a], histograms[b], grid.support)
        else:  # exact OT between seeded subsamples: any dimension
            w2sq = metrics.exact_w2sq_subsample(sample_sets[a], sample_sets[b],
                                                evaluation.w2_subsample_points, evaluation.seed)
        result[f"w2sq_{a}_{b}"] = w2sq
        # The cross-check sees the same points as the grid (a few far-away, diverged samples
        # would otherwise dominate it), without the binning.
        kept_a, kept_b = ((sample_sets[n][grid.kept(sample_sets[n], role(n))] if dim == 2
                           else sample_sets[n]) for n in (a, b))
        result[f"sliced_w2sq_{a}_{b}"] = metrics.sliced_w2sq(
            kept_a, kept_b, evaluation.sliced_projections, evaluation.seed,
            evaluation.sliced_max_points)
    return result


def _done(progress, what: str) -> None:
    progress.set_postfix_str(f"{what} done", refresh=False)
    progress.update()
