"""Every solver a sampler can name (samplers.<name>.solver), in one registry.

Two families, one interface:
- on the time grid (grid `sampling`, the paper's): torchdiffeq's integrators for the
  probability-flow ODE and torchsde's for the reverse SDE and the eta family between them,
  stepping in t (odesdegap.diffusion.samplers runs them);
- on a noise grid (grid edm or logsnr): the few-step solvers of odesdegap.diffusion.fast_solvers,
  stepping in the EDM variables through the denoiser.

Names are unique across both families, so a name says which solver runs; `samplers.sample` looks
the solver up here and hands it to its family's runner. Adding a solver takes its function (a
fast_solvers integrator with its FAST_SOLVERS line, or a method torchdiffeq or torchsde has),
its line below, and its test: the config's list of solvers (fill_schema below fills the
schema's enum from SOLVERS), docs/configuration.md (`make docs`) and the order tests read this
registry.
"""

from __future__ import annotations

from dataclasses import dataclass

from odesdegap.config import register_choices
from odesdegap.diffusion.dynamics import ETA, ODE, SDE
from odesdegap.diffusion.edm import GRIDS as NOISE_GRIDS
from odesdegap.diffusion.fast_solvers import FAST_SOLVERS, FastSolver

# The grid of the paper's samplers: the `sampling` section's piecewise-uniform times.
TIME_GRID = "sampling"
FAMILIES = ("time", "noise")


@dataclass(frozen=True)
class Solver:
    """One solver: its family, the dynamics it integrates and how an NFE budget sizes it.

    `evaluations_per_step`: score evaluations per step, by which an NFE budget becomes a step
    count (a noise-grid solver's own bookkeeping, `fast`, refines this with its final saving);
    None for a solver that takes no budget (adaptive, or whose count per step is torchsde's to
    decide). `order`: the convergence order its tests hold it to (None: not held to one).
    `fast`: a noise-grid solver's integrator and bookkeeping."""

    family: str
    dynamics: tuple[str, ...]
    evaluations_per_step: int | None = None
    adaptive: bool = False
    order: int | None = None
    fast: FastSolver | None = None

    @property
    def grids(self) -> tuple[str, ...]:
        return (TIME_GRID,) if self.family == "time" else NOISE_GRIDS

    @property
    def stochastic(self) -> bool:
        return ODE not in self.dynamics


def _time(dynamics: tuple[str, ...], per_step: int | None = None, *,
          adaptive: bool = False) -> Solver:
    return Solver("time", dynamics, per_step, adaptive)


def _noise(fast: FastSolver) -> Solver:
    return Solver("noise", (SDE,) if fast.stochastic else (ODE,), fast.evaluations_per_step,
                  fast.adaptive, fast.order, fast)


_TIME_SOLVERS = {
    "euler": _time((ODE, SDE, ETA), 1),  # Euler; Euler–Maruyama for the SDEs
    "midpoint": _time((ODE,), 2),
    "rk4": _time((ODE,), 4),
    "dopri5": _time((ODE,), adaptive=True),
    "bosh3": _time((ODE,), adaptive=True),
    "adaptive_heun": _time((ODE,), adaptive=True),
    "milstein": _time((SDE, ETA)),
    "srk": _time((SDE, ETA)),
}
if clash := set(_TIME_SOLVERS) & set(FAST_SOLVERS):
    raise ImportError(f"solver names used by both families: {sorted(clash)}")
SOLVERS: dict[str, Solver] = {**_TIME_SOLVERS,
                              **{name: _noise(fast) for name, fast in FAST_SOLVERS.items()}}


def solvers_for(dynamics: str, grid: str) -> list[str]:
    """The names of the solvers that integrate `dynamics` on `grid`, in registry order."""
    return [name for name, solver in SOLVERS.items()
            if dynamics in solver.dynamics and grid in solver.grids]


@register_choices
def fill_schema(schema: dict) -> None:
    """The schema's solver names are SOLVERS, its description says which integrate what where."""
    solver = schema["properties"]["samplers"]["additionalProperties"]["properties"]["solver"]
    solver["enum"] = list(SOLVERS)
    solver["description"] += " " + " ".join(
        f"{dynamics} on {grid}: {', '.join(solvers_for(dynamics, grid))}."
        for dynamics, grid in ((ODE, TIME_GRID), (SDE, TIME_GRID), (ETA, TIME_GRID),
                               (ODE, "edm"), (SDE, "edm")))
