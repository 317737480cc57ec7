"""Training: DSM plus the weighted FP residual, with checkpoints that make a killed job resume
to exactly the weights an uninterrupted run would have produced (on CPU)."""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
from pathlib import Path

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from odesdegap import devices
from odesdegap.diffusion.losses import draw_dsm_batch, dsm_loss
from odesdegap.diffusion.processes import ForwardProcess
from odesdegap.diffusion.residual import CollocationSampler, residual_penalty
from odesdegap.diffusion.score_residual import score_residual_penalty
from odesdegap.engine import MaybeCompiled, compiles, uses_forward_jet
from odesdegap.io import weights
from odesdegap.settings import EngineSettings, TrainingSettings


class NonFiniteLossError(RuntimeError):
    """Training produced NaN or inf; the last good checkpoint is kept."""


class TrainingInterrupted(RuntimeError):
    """SIGTERM (a scheduler's time limit or pre-emption) arrived; the state was checkpointed at
    the last finished step, so a retry of the job resumes from it."""

    exit_code = 128 + signal.SIGTERM


# A test-only hook for the cluster drills (tests/test_slurm.py): "STEP:MARKER" makes training
# stop once STEP steps are done (before step STEP; with STEP = training.steps, after the last
# step and its final checkpoint), write its PID and STEP to the file MARKER, and wait there until
# SIGTERM arrives (a time limit, scancel, requeue), so that a drill steers the job by events
# instead of by the machine's pace. It holds once: with MARKER there (a retry that passes STEP
# again) training goes on. Unset, training never waits.
HOLD_VARIABLE = "ODESDEGAP_DRILL_HOLD"
HOLD_LIMIT_S = 300.0


def _hold_for_drill(step: int, terminated: threading.Event) -> None:
    """Wait at `step` for SIGTERM if HOLD_VARIABLE asks for this step and has not held yet (see
    above); the wait ends after HOLD_LIMIT_S at the latest, so that a drill that goes wrong
    cannot hang a job for long."""
    hold = os.environ.get(HOLD_VARIABLE)
    if not hold or int(hold.split(":", 1)[0]) != step:
        return
    marker = Path(hold.split(":", 1)[1])
    if marker.exists():
        return
    written = marker.with_name(f".{marker.name}.tmp")
    written.write_text(f"{os.getpid()} {step}\n")
    os.replace(written, marker)  # whole, so that a drill never reads half of it
    print(f"drill: holding before step {step} until SIGTERM", file=sys.stderr, flush=True)
    deadline = time.monotonic() + HOLD_LIMIT_S
    while not terminated.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)


def _until_terminated(steps, on_terminate):
    """Yield `steps` one by one; if SIGTERM arrived during a step, call `on_terminate(next
    step)` (which checkpoints and raises) before starting another. SIGTERM is caught only while
    the loop runs, and only in the main thread (elsewhere no handler can be installed)."""
    flag = threading.Event()
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: flag.set()) if in_main else None
    try:
        step = None
        for step in steps:
            if flag.is_set():
                on_terminate(step)
            _hold_for_drill(step, flag)
            yield step
        if step is not None:  # every step done (and the final state saved)
            _hold_for_drill(step + 1, flag)
        if flag.is_set():
            on_terminate(None)
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)


def weight_at(fp_weight: float, weight_ramp_steps: int, step: int) -> float:
    """The FP weight at a step: linear ramp from 0 over `weight_ramp_steps`, then constant."""
    if weight_ramp_steps <= 0:
        return fp_weight
    return fp_weight * min(1.0, step / weight_ramp_steps)


class _TrainingState:
    """Everything the next training step depends on, which a checkpoint holds: the model, the
    optimiser and its schedule, the average of the weights (EMA, optional), the random
    generator, the step and the logged history."""

    def __init__(self, model: torch.nn.Module, settings: TrainingSettings, seed: int):
        self.model = model
        self.optimiser = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(
            self.optimiser, milestones=settings.lr_milestones, gamma=settings.lr_decay
        )
        self.ema = None
        if settings.ema_decay > 0:
            self.ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(
                settings.ema_decay), use_buffers=True)
        self.generator = torch.Generator().manual_seed(seed)
        self.step, self.history = 0, []

    def restore(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimiser.load_state_dict(state["optimiser"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.step, self.history = state["step"], state["history"]

    def snapshot(self, step: int) -> dict:
        """The checkpoint's content after `step` steps."""
        return {
            "model": self.model.state_dict(),
            "optimiser": self.optimiser.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "generator": self.generator.get_state(),
            **({"ema": self.ema.state_dict()} if self.ema is not None else {}),
            "step": step,
            "history": self.history,
        }

    def update(self, loss: torch.Tensor, settings: TrainingSettings, step: int) -> None:
        """One optimiser step on `loss`, the schedule's step and the average's update."""
        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        self.optimiser.step()
        self.scheduler.step()
        if settings.restart_optimizer_at_milestones and step + 1 in settings.lr_milestones:
            self.optimiser.state.clear()  # Adam's moments start afresh in each phase (the paper)
        if self.ema is not None:
            self.ema.update_parameters(self.model)


def train(model: torch.nn.Module, process: ForwardProcess, data: torch.Tensor,
          settings: TrainingSettings, fp_weight: float, seed: int, device: torch.device,
          checkpoint_path: Path, fingerprint: dict, *, engine: EngineSettings) -> list[dict]:
    """Train in place with DSM plus `fp_weight` times the FP residual; return the loss history
    (one row every `log_every` steps).

    `fingerprint` identifies the job (its full parameter set). A checkpoint whose fingerprint
    differs belongs to another configuration and is ignored rather than resumed from.

    With `settings.ema_decay` > 0 an exponential moving average of the weights is kept (updated
    after every optimiser step, stored in the checkpoint) and, on return, `model` holds the
    averaged weights; with 0 it holds the final weights of the last step.

    The final state stays in the checkpoint (at step `settings.steps`): the job's verdict comes
    after it ends (SLURM records TIMEOUT for a job that finished in its grace window, and
    Snakemake then deletes its outputs), so the checkpoint goes only once the model is accepted
    (the workflow's onsuccess and onerror handlers); a retry before that resumes at the last
    step and ends at once with the same weights.
    """
    model.to(device)
    data = data.to(device)
    run = _TrainingState(model, settings, seed)
    residual = settings.residual
    collocation = CollocationSampler.from_settings(
        residual, dim=data.shape[1], data=data.cpu() if residual.noised_fraction > 0 else None)
    loss_terms = _loss_terms(model, process, settings, engine)
    state = weights.load_checkpoint(checkpoint_path, fingerprint)
    if state is not None:
        run.restore(state)
        print(f"resuming from checkpoint at step {run.step}", file=sys.stderr)

    def save_checkpoint(step: int) -> None:
        weights.save_checkpoint(checkpoint_path, fingerprint, run.snapshot(step))

    started = time.perf_counter()
    progress = tqdm(range(run.step, settings.steps), initial=run.step, total=settings.steps,
                    file=sys.stderr, mininterval=5.0, desc="training")

    def interrupted(step: int | None) -> None:
        if step is None:  # the last step finished: the caller saves the final weights
            return
        save_checkpoint(step)
        progress.close()
        raise TrainingInterrupted(f"SIGTERM received: training state saved at step {step} to "
                                  f"{checkpoint_path}; a rerun of the job resumes from there")

    for step in _until_terminated(progress, interrupted):
        x0, t, noise = (v.to(device) for v in draw_dsm_batch(data, settings.batch_size,
                                                              process, run.generator))
        x_col, t_col = (v.to(device) for v in collocation.sample(process, run.generator))
        weight = weight_at(fp_weight, residual.weight_ramp_steps, step)
        logging_step = step % settings.log_every == 0 or step == settings.steps - 1

        with devices.precision_context(settings.precision, device):
            loss_dsm, parts = loss_terms(x0, t, noise, x_col, t_col, run.generator,
                                         weight > 0 or logging_step)
        loss = loss_dsm + weight * parts["penalty"] if weight > 0 else loss_dsm
        if not math.isfinite(loss.item()):
            raise NonFiniteLossError(
                f"non-finite loss ({loss.item()}) at step {step} (DSM {loss_dsm.item()}); "
                f"the last good checkpoint is kept at {checkpoint_path}"
            )
        run.update(loss, settings, step)
        if logging_step:
            run.history.append(_log_row(step, loss, loss_dsm, weight, parts,
                                        run.optimiser.param_groups[0]["lr"],
                                        time.perf_counter() - started))
            progress.set_postfix(dsm=f"{loss_dsm.item():.3f}",
                                 residual=f"{parts['total'].item():.3f}")
        if (step + 1) % settings.checkpoint_every == 0 or step + 1 == settings.steps:
            save_checkpoint(step + 1)
    progress.close()
    if run.ema is not None:
        model.load_state_dict(run.ema.module.state_dict())
    return run.history


def _log_row(step: int, loss, loss_dsm, weight: float, parts: dict, learning_rate: float,
             elapsed_s: float) -> dict:
    """One row of the loss history (training_log.csv)."""
    return {
        "step": step,
        "loss": loss.item(),
        "dsm": loss_dsm.item(),
        "fp_weight_effective": weight,
        "residual_total": parts["total"].item(),
        "residual_time_only": _item(parts.get("time_only")),
        "residual_centred": _item(parts.get("centred")),
        "learning_rate": learning_rate,
        "elapsed_s": elapsed_s,
    }


def _loss_terms(model, process, settings: TrainingSettings, engine: EngineSettings):
    """The function of one step's draws that returns the DSM loss and (if asked) the residual's
    parts. With the forward engine on an MLP potential at float32 both come from closed-form
    derivatives (potential_jet), through torch.compile if the engine compiles `train`; otherwise
    from
    autograd."""
    fast = (settings.precision != "bf16" and uses_forward_jet(
        model, engine.derivatives, settings.residual.hutchinson_probes))
    derivatives = "forward" if fast else "autograd"

    def terms(x0, t, noise, x_col, t_col, generator, with_residual: bool):
        loss_dsm = dsm_loss(model, process, x0, t, noise, weighting=settings.dsm_weighting,
                            derivatives=derivatives)
        if not with_residual:
            return loss_dsm.float(), None
        residual = settings.residual
        if hasattr(model, "potential"):
            parts = residual_penalty(model, process, x_col, t_col,
                                     points_per_time=residual.points_per_time,
                                     form=residual.form,
                                     hutchinson_probes=residual.hutchinson_probes,
                                     generator=generator, weighting=residual.weighting,
                                     derivatives=derivatives)
        else:  # a vector score: the score FP equation, which has no time-only part
            parts = score_residual_penalty(model, process, x_col, t_col,
                                           hutchinson_probes=residual.hutchinson_probes,
                                           generator=generator, weighting=residual.weighting)
        return loss_dsm.float(), {k: v.float() for k, v in parts.items()}

    if not (fast and compiles(engine, "train")):
        return terms
    compiled = MaybeCompiled(terms, enabled=True)
    # the fast path draws no random numbers, so the generator stays outside the compiled graph
    return lambda x0, t, noise, x_col, t_col, generator, with_residual: compiled(
        x0, t, noise, x_col, t_col, None, with_residual)


def _item(value: torch.Tensor | None) -> float:
    return float("nan") if value is None else value.item()


def settings_record(settings: TrainingSettings, fp_weight: float) -> dict:
    """What changes the weights, as config keys plus the FP weight (model.json, fingerprint)."""
    return {**settings.as_dict(), "fp_weight": fp_weight}
