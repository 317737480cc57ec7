"""What rule evaluate measures, and a whole run's metrics in one call.

- evaluate_model: what does not depend on sampling: the model's FP residual on the box and near
  the data, its held-out DSM loss and its probability-flow NLL, next to the data set's noise
  floor.
- evaluate_run: the whole metrics row of a run in one call (tests and notebooks): every
  sampler's columns (sampler_metrics.evaluate_sampler), evaluate_model's, joined
  (sampler_metrics.join_metrics).

The sampler's columns and the join need no torch and live in evaluation.sampler_metrics, which
their jobs import; their names are still found here."""

from __future__ import annotations

import sys

import numpy as np
import torch
from tqdm import tqdm

from odesdegap.diffusion.likelihood import ode_nll
from odesdegap.diffusion.processes import ForwardProcess
from odesdegap.diffusion.residual import CollocationSampler
from odesdegap.evaluation import distances, metrics, noise_floor
from odesdegap.evaluation.sampler_metrics import (
    DATA,
    evaluate_sampler,
    join_metrics,
)
from odesdegap.settings import EngineSettings, EvaluationSettings

# The two collocation sets of the reported residual: the paper's box (no noised points) and
# near the data (every point a noised held-out point), where the samplers' trajectories go.
RESIDUAL_SETS = (("fp_residual", 0.0), ("fp_residual_data", 1.0))


def chunk_points(dim: int) -> int:
    """Points per forward pass: a U-Net's activations on images are far larger than an MLP's."""
    return 8192 if dim <= 64 else 1024


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
    measure = distances.W2Measure(evaluation, dim)  # as the samplers' and the floor's
    result = {
        "dataset": dataset,
        "w2_method": measure.method,
        "w2_convention": measure.label,
        "fp_weight": fp_weight,
        "seed": seed,
        "dim": dim,
    }
    if dim == 2:
        prepared = measure.prepare(reference, "data")
        result[f"n_outside_{DATA}"] = prepared.n_outside
        result[f"n_nonfinite_{DATA}"] = prepared.n_nonfinite

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


def _done(progress, what: str) -> None:
    progress.set_postfix_str(f"{what} done", refresh=False)
    progress.update()
