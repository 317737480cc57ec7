"""Training: DSM plus the weighted FP residual, with checkpoints that make a killed job resume
to exactly the weights an uninterrupted run would have produced (on CPU)."""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from odesdegap import runtime
from odesdegap.diffusion.losses import draw_dsm_batch, dsm_loss
from odesdegap.diffusion.processes import ForwardProcess
from odesdegap.diffusion.residual import CollocationSampler, residual_penalty
from odesdegap.diffusion.score_residual import score_residual_penalty
from odesdegap.engine import Engine, MaybeCompiled, uses_forward_jet
from odesdegap.io import artifacts


class NonFiniteLossError(RuntimeError):
    """Training produced NaN or inf; the last good checkpoint is kept."""


class TrainingInterrupted(RuntimeError):
    """SIGTERM (a scheduler's time limit or pre-emption) arrived; the state was checkpointed at
    the last finished step, so a retry of the job resumes from it."""

    exit_code = 128 + signal.SIGTERM


def _until_terminated(steps, on_terminate):
    """Yield `steps` one by one; if SIGTERM arrived during a step, call `on_terminate(next
    step)` (which checkpoints and raises) before starting another. SIGTERM is caught only while
    the loop runs, and only in the main thread (elsewhere no handler can be installed)."""
    flag = threading.Event()
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: flag.set()) if in_main else None
    try:
        for step in steps:
            if flag.is_set():
                on_terminate(step)
            yield step
        if flag.is_set():
            on_terminate(None)
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)


@dataclass(frozen=True)
class TrainingSettings:
    """Everything that changes the trained weights (besides data, model, process and seed)."""

    steps: int
    batch_size: int
    learning_rate: float
    fp_weight: float
    lr_milestones: list[int] = field(default_factory=list)
    lr_decay: float = 0.1
    restart_optimizer_at_milestones: bool = False
    ema_decay: float = 0.0
    dsm_weighting: str = "uniform"
    precision: str = "float32"
    residual_form: str = "centred"
    residual_weighting: str = "none"
    collocation_points: int = 1024
    points_per_time: int = 32
    collocation_half_width: float = 3.5
    collocation_times: str = "uniform"
    collocation_noised_fraction: float = 0.0
    hutchinson_probes: int = 0
    weight_ramp_steps: int = 0
    log_every: int = 50
    checkpoint_every: int = 500
    derivatives: str = "autograd"
    compile: bool = False

    @classmethod
    def from_config(cls, training: dict, fp_weight: float,
                    engine: dict | None = None) -> TrainingSettings:
        """From the config's `training` section and its `engine` section (None: the
        reference autograd path, uncompiled)."""
        residual = training["residual"]
        engine = Engine.from_config(engine)
        return cls(
            steps=training["steps"],
            batch_size=training["batch_size"],
            learning_rate=training["learning_rate"],
            lr_milestones=list(training.get("lr_milestones", [])),
            lr_decay=training.get("lr_decay", 0.1),
            restart_optimizer_at_milestones=training.get("restart_optimizer_at_milestones",
                                                         False),
            ema_decay=training.get("ema_decay", 0.0),
            dsm_weighting=training.get("dsm_weighting", "uniform"),
            precision=training.get("precision", "float32"),
            fp_weight=float(fp_weight),
            residual_form=residual["form"],
            residual_weighting=residual.get("weighting", "none"),
            collocation_points=residual["collocation_points"],
            points_per_time=residual["points_per_time"],
            collocation_half_width=residual["box_half_width"],
            collocation_times=residual["time_distribution"],
            collocation_noised_fraction=residual.get("noised_fraction", 0.0),
            hutchinson_probes=residual.get("hutchinson_probes", 0),
            weight_ramp_steps=residual.get("weight_ramp_steps", 0),
            log_every=training.get("log_every", 50),
            checkpoint_every=training.get("checkpoint_every", 500),
            derivatives=engine.derivatives,
            compile=engine.compile,
        )

    def weight_at(self, step: int) -> float:
        """The FP weight at a step: linear ramp from 0 over `weight_ramp_steps`, then constant."""
        if self.weight_ramp_steps <= 0:
            return self.fp_weight
        return self.fp_weight * min(1.0, step / self.weight_ramp_steps)


def train(model: torch.nn.Module, process: ForwardProcess, data: torch.Tensor,
          settings: TrainingSettings, seed: int, device: torch.device,
          checkpoint_path: Path, fingerprint: dict) -> list[dict]:
    """Train in place; return the loss history (one row every `log_every` steps).

    `fingerprint` identifies the job (its full parameter set). A checkpoint whose fingerprint
    differs belongs to another configuration and is ignored rather than resumed from.

    With `settings.ema_decay` > 0 an exponential moving average of the weights is kept (updated
    after every optimiser step, stored in the checkpoint) and, on return, `model` holds the
    averaged weights; with 0 it holds the final weights of the last step.
    """
    model.to(device)
    data = data.to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(
        optimiser, milestones=settings.lr_milestones, gamma=settings.lr_decay
    )
    ema = None
    if settings.ema_decay > 0:
        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(settings.ema_decay),
                            use_buffers=True)
    generator = torch.Generator().manual_seed(seed)
    collocation = CollocationSampler(
        dim=data.shape[1],
        n_points=settings.collocation_points,
        points_per_time=settings.points_per_time,
        half_width=settings.collocation_half_width,
        time_distribution=settings.collocation_times,
        noised_fraction=settings.collocation_noised_fraction,
        data=data.cpu() if settings.collocation_noised_fraction > 0 else None,
    )
    loss_terms = _loss_terms(model, process, settings)
    start_step, history = 0, []
    state = artifacts.load_checkpoint(checkpoint_path, fingerprint)
    if state is not None:
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        start_step, history = state["step"], state["history"]
        print(f"resuming from checkpoint at step {start_step}", file=sys.stderr)

    def save_checkpoint(step: int) -> None:
        artifacts.save_checkpoint(checkpoint_path, fingerprint, {
            "model": model.state_dict(),
            "optimiser": optimiser.state_dict(),
            "scheduler": scheduler.state_dict(),
            "generator": generator.get_state(),
            **({"ema": ema.state_dict()} if ema is not None else {}),
            "step": step,
            "history": history,
        })

    started = time.perf_counter()
    progress = tqdm(range(start_step, settings.steps), initial=start_step, total=settings.steps,
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
                                                              process, generator))
        x_col, t_col = (v.to(device) for v in collocation.sample(process, generator))
        weight = settings.weight_at(step)
        logging_step = step % settings.log_every == 0 or step == settings.steps - 1

        with runtime.precision_context(settings.precision, device):
            loss_dsm, parts = loss_terms(x0, t, noise, x_col, t_col, generator,
                                         weight > 0 or logging_step)
        loss = loss_dsm + weight * parts["penalty"] if weight > 0 else loss_dsm
        if not math.isfinite(loss.item()):
            raise NonFiniteLossError(
                f"non-finite loss ({loss.item()}) at step {step} (DSM {loss_dsm.item()}); "
                f"the last good checkpoint is kept at {checkpoint_path}"
            )
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        scheduler.step()
        if settings.restart_optimizer_at_milestones and step + 1 in settings.lr_milestones:
            optimiser.state.clear()  # Adam's moments start afresh in each phase (the paper)
        if ema is not None:
            ema.update_parameters(model)

        if logging_step:
            history.append({
                "step": step,
                "loss": loss.item(),
                "dsm": loss_dsm.item(),
                "fp_weight_effective": weight,
                "residual_total": parts["total"].item(),
                "residual_time_only": _item(parts.get("time_only")),
                "residual_centred": _item(parts.get("centred")),
                "learning_rate": optimiser.param_groups[0]["lr"],
                "elapsed_s": time.perf_counter() - started,
            })
            progress.set_postfix(dsm=f"{loss_dsm.item():.3f}",
                                 residual=f"{parts['total'].item():.3f}")
        if (step + 1) % settings.checkpoint_every == 0:
            save_checkpoint(step + 1)
    progress.close()
    if ema is not None:
        model.load_state_dict(ema.module.state_dict())
    return history


def _loss_terms(model, process, settings: TrainingSettings):
    """The function of one step's draws that returns the DSM loss and (if asked) the residual's
    parts. With the forward engine on an MLP potential at float32 both come from closed-form
    derivatives (potential_jet), through torch.compile if `settings.compile`; otherwise from
    autograd."""
    fast = (settings.precision != "bf16"
            and uses_forward_jet(model, settings.derivatives, settings.hutchinson_probes))
    derivatives = "forward" if fast else "autograd"

    def terms(x0, t, noise, x_col, t_col, generator, with_residual: bool):
        loss_dsm = dsm_loss(model, process, x0, t, noise, weighting=settings.dsm_weighting,
                            derivatives=derivatives)
        if not with_residual:
            return loss_dsm.float(), None
        if hasattr(model, "potential"):
            parts = residual_penalty(model, process, x_col, t_col, settings.points_per_time,
                                     settings.residual_form, settings.hutchinson_probes,
                                     generator, settings.residual_weighting, derivatives)
        else:  # a vector score: the score FP equation, which has no time-only part
            parts = score_residual_penalty(model, process, x_col, t_col,
                                           settings.hutchinson_probes, generator,
                                           settings.residual_weighting)
        return loss_dsm.float(), {k: v.float() for k, v in parts.items()}

    if not (fast and settings.compile):
        return terms
    compiled = MaybeCompiled(terms, enabled=True)
    # the fast path draws no random numbers, so the generator stays outside the compiled graph
    return lambda x0, t, noise, x_col, t_col, generator, with_residual: compiled(
        x0, t, noise, x_col, t_col, None, with_residual)


def _item(value: torch.Tensor | None) -> float:
    return float("nan") if value is None else value.item()


def settings_dict(settings: TrainingSettings) -> dict:
    return asdict(settings)
