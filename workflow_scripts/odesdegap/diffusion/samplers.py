"""Sampling from t_max down to t_min with one configured sampler (samplers.<name>): the
probability-flow ODE through torchdiffeq or the reverse SDE (or a member eta of the family
between them) through torchsde, on the `sampling` section's piecewise-uniform time grid; or a
few-step solver of fast_solvers on the EDM or log-SNR grid, sized by an NFE budget. A sampler on
grid `sampling` with an NFE budget steps uniformly instead, budget / evaluations-per-step steps
(the step-count study: Euler against RK4 at equal cost)."""

from __future__ import annotations

import dataclasses
import inspect
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torchdiffeq
import torchsde
from tqdm import tqdm

from odesdegap.config import register_check
from odesdegap.diffusion.dynamics import DYNAMICS, ETA, ODE, SDE
from odesdegap.diffusion.edm import FULL_RANGE, EDMView, resolve_sigma_max
from odesdegap.diffusion.fast_solvers import solve
from odesdegap.diffusion.processes import ForwardProcess, build_process
from odesdegap.diffusion.sample_noise import SampleBrownian, sample_gaussian_noise
from odesdegap.diffusion.solvers import SOLVERS, Solver, solvers_for
from odesdegap.engine import maybe_compiled, uses_forward_jet
from odesdegap.models.potential_jet import potential_score
from odesdegap.settings import EngineSettings, SamplerSettings, SamplingSettings

# torchdiffeq's adaptive methods, which integrate between the end points under rtol and atol
# (the NLL's `method` may name dopri8 too, which no sampler registers).
ODE_ADAPTIVE_METHODS = ("dopri5", "dopri8", "bosh3", "adaptive_heun")


def sampler(dynamics: str, solver: str = "euler", *, grid: str = "sampling", nfe=None,
            eta: float | None = None, rho: float = 7.0, sigma_max: float | None = None,
            options: dict | None = None) -> SamplerSettings:
    """A sampler entry (samplers.<name>) in code, e.g. sampler(ODE, "rk4") or
    sampler(ODE, "heun", grid="edm", nfe=10, sigma_max=80); the defaults are the schema's,
    except that sigma_max is a level already resolved (None: sigma~(t_max); see `sample`)."""
    return SamplerSettings(dynamics=dynamics, solver=solver, grid=grid,
                           nfe=tuple(nfe) if isinstance(nfe, list) else nfe, eta=eta, rho=rho,
                           sigma_max=sigma_max, options=dict(options or {}))


def with_noise_range(entry: Mapping, data_std: float, process: ForwardProcess) -> dict:
    """A fast solver's config entry (samplers.<name>) with its noise range resolved for data of
    scale `data_std` (edm.resolve_sigma_max: null is EDM's rule, "t_max" None, what `sample`
    reads as sigma~(t_max)). The paper's samplers on grid sampling are returned as they are."""
    if entry["grid"] == "sampling":
        return dict(entry)
    return {**entry, "sigma_max": resolve_sigma_max(entry["sigma_max"], data_std, process)}


def sampler_problems(entry: dict, where: str, process: ForwardProcess | None = None
                     ) -> list[str]:
    """What is wrong with one sampler entry (samplers.<name>, defaults filled in), one line per
    problem naming the key; [] when it can sample. With the `process`, sigma_max is also held
    to the process's noise range."""
    dynamics, solver, grid, eta = entry["dynamics"], entry["solver"], entry["grid"], entry["eta"]
    problems = []

    def problem(key, value, expected):
        problems.append(f"config key '{where}.{key}' has value {value!r}: expected {expected}")

    if (dynamics == ETA) != (eta is not None):
        problem("eta", eta, "a number >= 0 with dynamics eta" if dynamics == ETA
                else "null unless dynamics is eta")
    known = SOLVERS.get(solver)
    if known is None or grid not in known.grids or (
            known.family == "time" and dynamics not in known.dynamics):
        here = solvers_for(dynamics, grid)
        choices = (f"one of {', '.join(here)}" if here else "a solver (none integrates it "
                   "there)")
        elsewhere = ("" if known is None or grid in known.grids else
                     f"; {solver} runs on grid {' or '.join(known.grids)}")
        problem("solver", solver, f"{choices} for dynamics {dynamics} on grid {grid}{elsewhere}")
    elif known.family == "time":
        _time_grid_problems(known, entry, problem)
    else:
        _noise_grid_problems(known, entry, problem, process)
    return problems


@register_check
def config_problems(config: dict) -> list[str]:
    """The config check of every sampler entry (sampler_problems), its noise range held to the
    configured process's; a sampler named after a dynamics has that dynamics (texts and figures
    call samplers.ode "ODE": reporting.gap.sampler_label)."""
    process = build_process(config["process"])
    named_after = [
        f"config key 'samplers.{name}.dynamics' has value {entry['dynamics']!r}: expected "
        f"{name!r} (a sampler named after a dynamics has that dynamics; texts call it "
        f"{name.upper()}), or give the sampler another name"
        for name, entry in config["samplers"].items()
        if name in DYNAMICS and entry["dynamics"] != name]
    return named_after + [problem for name, entry in config["samplers"].items()
                          for problem in sampler_problems(entry, f"samplers.{name}", process)]


def _time_grid_problems(known: Solver, entry: dict, problem) -> None:
    """The paper's integrators on grid `sampling`: sized by the `sampling` section, or by an
    NFE budget in uniform steps where the solver's evaluations per step are fixed."""
    solver, nfe = entry["solver"], entry["nfe"]
    per_step = known.evaluations_per_step
    budgets = nfe if isinstance(nfe, list | tuple) else [] if nfe is None else [nfe]
    if budgets and per_step is None:
        budgeted = ", ".join(f"{dynamics} {name}" for name, other in SOLVERS.items()
                             if other.family == "time" and other.evaluations_per_step
                             for dynamics in other.dynamics)
        problem("nfe", nfe, f"null for solver {solver} on grid sampling (its size is "
                "sampling.steps, refine_last and refine_factor); NFE budgets on grid sampling "
                f"take {budgeted}")
    elif any(budget % per_step for budget in budgets):
        problem("nfe", nfe, f"multiples of {per_step} for {solver} ({per_step} score "
                "evaluations per step)")
    if entry["options"]:
        problem("options", entry["options"], "{} on grid sampling (options are the "
                "noise-grid solvers')")
    if entry["sigma_max"] is not None:
        problem("sigma_max", entry["sigma_max"], "null on grid sampling (the paper's samplers "
                "start at process.t_max; sigma_max is the noise-grid solvers' range, grid edm "
                "or logsnr)")


def _noise_grid_problems(known: Solver, entry: dict, problem, process) -> None:
    """The few-step solvers on grid edm or logsnr: their dynamics, budget, noise range and
    options."""
    dynamics, solver, nfe = entry["dynamics"], entry["solver"], entry["nfe"]
    sigma_max, options = entry["sigma_max"], entry["options"]
    fast = known.fast
    if process is not None and isinstance(sigma_max, int | float):
        view = EDMView(process)
        if not view.sigma_min < sigma_max <= view.sigma_max:
            problem("sigma_max", sigma_max, f"a noise level in the process's range "
                    f"({view.sigma_min:.4g}, {view.sigma_max:.6g}] (sigma~ of t_min and t_max: "
                    f"the model knows no noisier level), null for EDM's rule or {FULL_RANGE!r} "
                    "for sigma~(t_max)")
    if dynamics not in known.dynamics:
        kinds = [n for n, s in SOLVERS.items()
                 if s.family == "noise" and s.stochastic == (dynamics == SDE)]
        problem("dynamics", dynamics, f"{known.dynamics[0]} for solver {solver}"
                + ("" if dynamics == ETA else f" ({dynamics}'s solvers: {', '.join(kinds)})"))
    if known.adaptive and nfe is not None:
        problem("nfe", nfe, f"null for the adaptive {solver} (options rtol and atol size it)")
    if not known.adaptive and nfe is None:
        problem("nfe", nfe, f"an NFE budget (or a list of them) for solver {solver}")
    budgets = nfe if isinstance(nfe, list) else [] if nfe is None else [nfe]
    for budget in budgets:
        if not known.adaptive and budget < fast.nfe(1):
            problem("nfe", nfe, f"budgets of at least {fast.nfe(1)} (one step of {solver})")
    allowed = set(inspect.signature(fast.integrate).parameters) - {"denoise", "x", "sigmas",
                                                                   "noise"}
    if unknown := sorted(set(options) - allowed):
        names = ", ".join(sorted(allowed)) or "none"
        problem("options", options, f"options of {solver} only ({names}), not {unknown}")


@dataclass(frozen=True)
class TimeGrid:
    """`steps` uniform steps from t_max to t_min, the last `refine_last` of them each split into
    `refine_factor` (the paper: 800 steps, the last 10 refined tenfold)."""

    t_max: float
    t_min: float
    steps: int
    refine_last: int
    refine_factor: int

    @classmethod
    def of_sampling(cls, sampling: SamplingSettings, process: ForwardProcess) -> TimeGrid:
        """The grid of the config's `sampling` section over the process's [t_min, t_max]."""
        return cls(process.t_max, process.t_min, sampling.steps, sampling.refine_last,
                   sampling.refine_factor)

    def segments(self) -> list[tuple[float, float, int]]:
        """[(t_start, t_end, n_steps)], each uniform, going down in time."""
        dt = (self.t_max - self.t_min) / self.steps
        coarse = self.steps - self.refine_last
        t_switch = self.t_max - coarse * dt
        segments = [(self.t_max, t_switch, coarse)] if coarse > 0 else []
        if self.refine_last > 0:
            segments.append((t_switch, self.t_min, self.refine_last * self.refine_factor))
        return segments

    def points(self) -> torch.Tensor:
        pieces = [torch.linspace(a, b, n + 1, dtype=torch.float64) for a, b, n in self.segments()]
        grid = torch.cat([pieces[0]] + [p[1:] for p in pieces[1:]])
        return grid.float()


class SamplingProgress:
    """A progress bar over the chunks of one sampling job, advanced through each chunk by the
    time the integrator has reached (any method, adaptive ones included). The integrator's time
    is read only when the bar is due to print (every `interval` s): reading a GPU tensor waits
    for the device."""

    def __init__(self, description: str, n_chunks: int, t_max: float, t_min: float,
                 interval: float = 5.0):
        self.t_max, self.span, self.interval = t_max, t_max - t_min, interval
        self.chunk, self.due = 0, time.monotonic() + interval
        self.bar = tqdm(total=n_chunks, desc=description, file=sys.stderr, mininterval=interval,
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.2f}/{total_fmt} chunks "
                                   "[{elapsed}<{remaining}]")

    def at(self, t) -> None:
        now = time.monotonic()
        if now < self.due:
            return
        self.due = now + self.interval
        fraction = min(max((self.t_max - float(t)) / self.span, 0.0), 1.0)
        self.bar.n = self.chunk + fraction
        self.bar.refresh()

    def chunk_done(self) -> None:
        self.chunk += 1
        self.bar.n = self.chunk
        if time.monotonic() >= self.due or self.chunk == self.bar.total:
            self.due = time.monotonic() + self.interval
            self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


class CountingScore:
    """Wraps a model's score and counts evaluations per trajectory (NFE); reports the time
    reached to a SamplingProgress, if given. `score_function` (x, t) -> score replaces
    `model.score` (see score_function)."""

    def __init__(self, model, progress: SamplingProgress | None = None, score_function=None):
        self.model = model
        self.calls = 0
        self.progress = progress
        self.score_function = score_function or model.score

    def __call__(self, x: torch.Tensor, t) -> torch.Tensor:
        self.calls += 1
        if self.progress is not None:
            self.progress.at(t)
        return self.score_function(x, t)


class ReverseSDE(torch.nn.Module):
    """dX = [f - (1 + eta^2)/2 g^2 s] dt + eta g dW in reverse time, written in s = t_max - t so
    that torchsde integrates forwards. eta = 1 is the reverse SDE; every eta >= 0 has the same
    marginals for the true score."""

    noise_type = "diagonal"
    sde_type = "ito"

    def __init__(self, score: CountingScore, process: ForwardProcess, eta: float):
        super().__init__()
        self.score, self.process, self.eta = score, process, eta

    def f(self, s, x):
        t = self._time(s, x)
        g_squared = self.process.diffusion(t) ** 2
        scale = 0.5 * (1 + self.eta**2)
        return -(self.process.drift(x, t) - scale * g_squared * self.score(x, t))

    def g(self, s, x):
        t = self._time(s, x)
        return (self.eta * self.process.diffusion(t)).expand_as(x)

    def _time(self, s, x):
        # the solver's clock runs in float64 (see _integrate_sde); the model sees x's dtype
        return torch.as_tensor(self.process.t_max - s).to(x.dtype)


class ProbabilityFlow(torch.nn.Module):
    """dX/dt = f - g^2/2 s, integrated by torchdiffeq from t_max down to t_min."""

    def __init__(self, score: CountingScore, process: ForwardProcess):
        super().__init__()
        self.score, self.process = score, process

    def forward(self, t, x):
        # Adaptive solvers probe times outside [t_min, t_max] (the first-step heuristic, and
        # steps past the end that they interpolate back from); the process is undefined there.
        t = t.clamp(self.process.t_min, self.process.t_max)
        return self.process.flow_velocity(x, t, self.score(x, t))


def score_function(model, engine: EngineSettings):
    """The score that sampling evaluates: with the forward engine on an MLP potential,
    potential_score without an autograd graph (compiled if the engine compiles `sample`); else
    the
    model's own (autograd) score."""
    if not uses_forward_jet(model, engine.derivatives):
        return model.score

    def closed_form(x, t):
        with torch.no_grad():
            return potential_score(model, x, t)

    return maybe_compiled(closed_form, engine, "sample")


def sample(sampler: SamplerSettings | Mapping, model, process: ForwardProcess, dim: int,
           settings: SamplingSettings, seed: int, device: torch.device, *,
           engine: EngineSettings, nfe: int | None = None) -> dict:
    """Draw `settings.n_samples` with `sampler` (a samplers.<name> entry), in chunks of
    `settings.chunk_size`; returns the samples (numpy), the NFE per trajectory and the wall
    time. `nfe` overrides the sampler's budget (one budget of an NFE sweep); `engine` picks how
    the score is computed. The noise (Brownian paths, a stochastic solver's draws) is the
    samples' own (sample_noise): derived from `seed` and each sample's index, so that the
    samples do not depend on the chunk size.

    A noise-grid solver starts at `sampler.sigma_max` as a level: None (or "t_max") is
    sigma~(t_max). The config's null, EDM's rule from the data's scale, is resolved before
    (with_noise_range; the rules do so for every job)."""
    if isinstance(sampler, Mapping):
        sampler = SamplerSettings.from_config(sampler, "sampler")
    if sampler.sigma_max == FULL_RANGE:
        sampler = dataclasses.replace(sampler, sigma_max=None)
    if problems := sampler_problems(sampler.as_dict(), "sampler", process):
        raise ValueError("; ".join(problems))
    budget = nfe if nfe is not None else sampler.nfe
    if isinstance(budget, tuple | list):
        raise ValueError("an NFE sweep samples one budget at a time: pass nfe=")
    solver = SOLVERS[sampler.solver]
    if solver.family == "time" and budget is not None:
        settings = uniform_steps(settings, budget // solver.evaluations_per_step)
    model = model.to(device).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    # All prior draws at once: torch's normal sampler is not prefix-stable across sizes, and
    # the ODE's samples should not depend on the chunk size. A fast solver with a sigma_max
    # starts at t(sigma_max), from the same standard normal draws.
    start = (EDMView(process).start_time(sampler.sigma_max)
             if sampler.sigma_max is not None else None)
    prior = process.prior_sample(settings.n_samples, dim, torch.Generator().manual_seed(seed),
                                 t=start)
    chunks, calls = [], 0
    score_of = score_function(model, engine)
    started = time.perf_counter()
    starts = range(0, settings.n_samples, settings.chunk_size)
    progress = SamplingProgress(_description(sampler, budget), len(starts), process.t_max,
                                process.t_min)
    for start in starts:
        # A copy, not a view of `prior`: torch.compile guards a view's storage offset, and a
        # last partial chunk would otherwise compile the score a third time (docs/performance.md).
        x_prior = prior[start:start + settings.chunk_size].clone().to(device)
        score = CountingScore(model, progress, score_of)
        run = RUNNERS[solver.family, sampler.dynamics]
        x = run(sampler, solver, score, process, x_prior, settings, seed, start, budget)
        chunks.append(x.detach().cpu().numpy())
        calls = max(calls, score.calls)
        progress.chunk_done()
    progress.close()
    return {
        "samples": np.concatenate(chunks).astype(np.float32),
        "nfe": calls,
        "wall_time_s": time.perf_counter() - started,
    }


def _on_noise_grid(sampler: SamplerSettings, solver: Solver, score, process, x_prior,
                   settings: SamplingSettings, seed: int, first: int, budget):
    """A few-step solver (fast_solvers.solve) on the sampler's noise grid; a stochastic one
    draws the noise of the chunk's samples (first .. first + chunk - 1)."""
    options = dict(sampler.options)
    if solver.stochastic:
        options["noise"] = sample_gaussian_noise(seed, first, len(x_prior))
    return solve(sampler.solver, score, process, x_prior,
                 nfe=None if solver.adaptive else budget, grid=sampler.grid, rho=sampler.rho,
                 sigma_max=sampler.sigma_max, **options)


def _ode_on_time_grid(sampler: SamplerSettings, solver: Solver, score, process, x_prior,
                      settings: SamplingSettings, seed: int, first: int, budget):
    """The probability-flow ODE through torchdiffeq on the time grid."""
    return _integrate_ode(score, process, x_prior, settings, sampler.solver)


def _sde_on_time_grid(sampler: SamplerSettings, solver: Solver, score, process, x_prior,
                      settings: SamplingSettings, seed: int, first: int, budget):
    """The reverse SDE (eta 1) or a member eta of its family through torchsde on the time
    grid, along the Brownian paths of the chunk's samples (first .. first + chunk - 1)."""
    eta = 1.0 if sampler.dynamics == SDE else sampler.eta
    return _integrate_sde(score, process, x_prior, settings, seed, first, eta,
                          sampler.solver)


# Who runs a chunk, by the solver's family and the sampler's dynamics.
RUNNERS = {("noise", ODE): _on_noise_grid, ("noise", SDE): _on_noise_grid,
           ("time", ODE): _ode_on_time_grid, ("time", SDE): _sde_on_time_grid,
           ("time", ETA): _sde_on_time_grid}


def uniform_steps(settings: SamplingSettings, steps: int) -> SamplingSettings:
    """`settings` with `steps` uniform steps and no refinement: the grid of a budgeted sampler
    on grid `sampling`."""
    return dataclasses.replace(settings, steps=steps, refine_last=0, refine_factor=1)


def _description(sampler: SamplerSettings, budget) -> str:
    at = f" (NFE {budget})" if budget else ""
    if SOLVERS[sampler.solver].family == "noise":
        return f"{sampler.solver} sampling{at}"
    if sampler.dynamics == ETA:
        return f"{sampler.solver} sampling (eta {sampler.eta:g}){at}"
    return f"{sampler.dynamics} sampling{at}"


def _integrate_ode(score, process, x_prior, settings: SamplingSettings, method: str
                   ) -> torch.Tensor:
    flow = ProbabilityFlow(score, process)
    if method in ODE_ADAPTIVE_METHODS:
        times = torch.tensor([process.t_max, process.t_min], device=x_prior.device)
        path = torchdiffeq.odeint(flow, x_prior, times, method=method,
                                  rtol=settings.ode_rtol, atol=settings.ode_atol)
    else:
        grid = TimeGrid.of_sampling(settings, process)
        path = torchdiffeq.odeint(flow, x_prior, grid.points().to(x_prior.device),
                                  method=method)
    return path[-1]


def _integrate_sde(score, process, x_prior, settings: SamplingSettings, seed: int,
                   first: int, eta: float, method: str) -> torch.Tensor:
    """Euler–Maruyama (or another torchsde method) over the grid's segments. Without
    `sde_final_step_noise` the very last step is the drift's Euler step alone (the authors'
    sampler, and score_sde's `denoise` convention): it returns the last step's mean."""
    sde = ReverseSDE(score, process, eta=eta)
    final_step_noise = settings.sde_final_step_noise
    levy_area = "space-time" if method == "srk" else "none"
    segments = TimeGrid.of_sampling(settings, process).segments()
    if not final_step_noise:
        t_start, t_end, n_steps = segments[-1]
        t_last = t_start + (t_end - t_start) * (n_steps - 1) / n_steps
        segments = segments[:-1] + ([(t_start, t_last, n_steps - 1)] if n_steps > 1 else [])
        final_step = (t_last, t_end)
    x = x_prior
    for segment_index, (t_start, t_end, n_steps) in enumerate(segments):
        # Solver times in float64: torchsde advances its clock by adding dt, and in float32 the
        # sum falls short of the segment's end by more than the margin below, which costs one
        # extra, tiny step (and one extra NFE).
        times = torch.tensor([process.t_max - t_start, process.t_max - t_end],
                             dtype=torch.float64, device=x.device)
        s_start, s_end = times.tolist()
        brownian = SampleBrownian(s_start, s_end, first=first, count=x.shape[0],
                                  dim=x.shape[1], sample_seed=seed, segment=segment_index,
                                  device=x.device, dtype=x.dtype, dt=(s_end - s_start) / n_steps,
                                  levy_area_approximation=levy_area)
        # torchsde steps by dt until it passes the segment's end; a hair over the exact step
        # keeps round-off from adding a step (the last one is clipped to the end).
        step = (s_end - s_start) / n_steps * (1 + 1e-6)
        x = torchsde.sdeint(sde, x, times, bm=brownian, method=method, dt=step)[-1]
    if not final_step_noise:
        # one noise-free Euler step of the reverse SDE's drift (torchdiffeq, one evaluation)
        times = torch.tensor([process.t_max - t for t in final_step],
                             dtype=torch.float64, device=x.device)
        x = torchdiffeq.odeint(lambda s, y: sde.f(s, y), x, times, method="euler")[-1]
    return x
