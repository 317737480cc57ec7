"""The few-step solvers people sample diffusion models with, in the EDM variables (edm.py), for
every process of the benchmark.

Implemented from the papers' formulas rather than taken from a library: diffusers' schedulers
are tied to discrete training timesteps and pull huggingface_hub and friends; k-diffusion (0.1)
installs accelerate, clip-anytorch, kornia, wandb, scikit-image and more for a few loops of
arithmetic that this benchmark needs in its own variables anyway.
Each solver below is a short loop over a noise grid (edm.EDMView.sigma_grid); the model is
reached only through the denoiser, i.e. one `score_fn(x, t)` call per evaluation, so a
CountingScore counts the NFE that actually happened.

Notation: sigma_i is the grid (decreasing), lambda_i = -log sigma_i, h_i = lambda_{i+1} -
lambda_i > 0, D_i = D(x_i, sigma_i). In these variables the probability-flow ODE is
dx/dlambda = D - x, whose exact step is
    x_{i+1} = e^{-h} x_i + int_0^h e^{-(h - tau)} D(lambda_i + tau) dtau,
and the DPM-Solver++ family approximates D in the integral by a polynomial in lambda.

Entry points: `solve(name, score_fn, process, x_prior, steps=... | nfe=...)` and the registry
FAST_SOLVERS (name -> FastSolver: the integrator, its order, how NFE maps to steps), which
odesdegap.diffusion.solvers registers beside the paper's integrators (names unique across both:
Euler's step in sigma~ is `ddim`, the adaptive Dormand–Prince in lambda `dopri5_edm`):

    name           order (Gaussian lane)   NFE             noise
    ddim           1                       steps
    heun           2                       2 steps - 1
    dpmpp_2m       2                       steps
    dpmpp_3m       3                       steps
    unipc          3 (order=2 predictor)   steps
    dpmpp_2m_sde   2 (weak)                steps           eta
    heun_sde       2 (weak)                2 steps - 1     churn
    dopri5_edm     adaptive                counted
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torchdiffeq

from odesdegap.diffusion.edm import EDMView
from odesdegap.diffusion.processes import ForwardProcess

NoiseSampler = Callable[[int, torch.Tensor], torch.Tensor]


# --- deterministic solvers --------------------------------------------------------------------
def euler(denoise, x, sigmas):
    """DDIM (Song et al. 2021), written as Euler's method in sigma~ (Karras et al. 2022, eq. 4),
    which is also first-order DPM-Solver++ (Lu et al. 2022b): in these variables the three are
    one update, x_{i+1} = (sigma_{i+1} / sigma_i) x_i + (1 - sigma_{i+1} / sigma_i) D_i.
    Global order 1; NFE = steps."""
    for i in range(len(sigmas) - 1):
        ratio = sigmas[i + 1] / sigmas[i]
        x = ratio * x + (1 - ratio) * denoise(x, sigmas[i])
    return x


def heun(denoise, x, sigmas, final_euler: bool = True):
    """Karras et al. 2022, Algorithm 1: an Euler predictor in sigma~ with the slope
    d = (x - D) / sigma, then the trapezoidal corrector averaging the slopes at both ends.
    Global order 2. As in EDM the last step is Euler's alone (there it avoids dividing by
    sigma = 0; here it keeps EDM's NFE count), so NFE = 2 steps - 1; with final_euler=False
    every step is corrected and NFE = 2 steps."""
    n = len(sigmas) - 1
    for i in range(n):
        x = _heun_step(denoise, x, sigmas[i], sigmas[i + 1],
                       corrected=not (final_euler and i == n - 1))
    return x


def _heun_step(denoise, x, s, s_next, corrected: bool):
    """One step of Heun's method in sigma~ from s to s_next: Euler's predictor, then (if
    `corrected`) the trapezoidal corrector with the slope at the predicted point."""
    slope = (x - denoise(x, s)) / s
    x_euler = x + (s_next - s) * slope
    if not corrected:
        return x_euler
    slope_next = (x_euler - denoise(x_euler, s_next)) / s_next
    return x + (s_next - s) * 0.5 * (slope + slope_next)


def _extrapolated(denoised, previous, lambdas, i: int):
    """2M's data prediction for step i: D_i + (D_i - D_{i-1}) / (2 r), r = h_{i-1} / h_i, or
    D_i alone on the first step (no history)."""
    if previous is None:
        return denoised
    r = float(lambdas[i] - lambdas[i - 1]) / float(lambdas[i + 1] - lambdas[i])
    return denoised + (denoised - previous) / (2 * r)


def dpmpp_2m(denoise, x, sigmas):
    """DPM-Solver++(2M), Lu et al. 2022b, Algorithm 2: D is extrapolated linearly in lambda
    from the last two evaluations, D_i + (D_i - D_{i-1}) / (2 r), r = h_{i-1} / h_i, and the
    integral above is taken with D frozen at that value. The first step has no history and is
    DDIM's. Global order 2; NFE = steps."""
    previous = None
    lambdas = -torch.log(sigmas)
    for i in range(len(sigmas) - 1):
        h = float(lambdas[i + 1] - lambdas[i])
        denoised = denoise(x, sigmas[i])
        target = _extrapolated(denoised, previous, lambdas, i)
        x = math.exp(-h) * x - math.expm1(-h) * target
        previous = denoised
    return x


def dpmpp_3m(denoise, x, sigmas):
    """DPM-Solver++(3M), Lu et al. 2022b (multistep, third order): D is expanded to second order
    in lambda, D(lambda_i + tau) ~ D_i + tau D' + tau^2 D'' / 2, with D' and D'' from the
    backward divided differences of the last three evaluations, and each power integrated
    exactly against e^{-(h - tau)}:
        int e^{-(h-tau)} = -phi_1,  int e^{-(h-tau)} tau = h phi_2,
        int e^{-(h-tau)} tau^2 / 2 = -h^2 phi_3,
    phi_1 = e^{-h} - 1, phi_2 = phi_1 / h + 1, phi_3 = phi_2 / h - 1/2. The first two steps are
    DDIM's and 2M's. Global order 3 (the start-up steps are lower order but fall where D barely
    moves, at high noise; see tests); NFE = steps.

    The D'' term's weight is -h^2 phi_3 with D'' itself (twice the second divided difference);
    code that weights the second divided difference by -phi_3 h^2 instead (half as much)
    measures second order on the Gaussian lane."""
    lambdas = -torch.log(sigmas)
    history: list[torch.Tensor] = []
    for i in range(len(sigmas) - 1):
        h = float(lambdas[i + 1] - lambdas[i])
        history = [denoise(x, sigmas[i])] + history[:2]
        phi_1 = math.expm1(-h)
        phi_2 = phi_1 / h + 1
        phi_3 = phi_2 / h - 0.5
        x = math.exp(-h) * x - phi_1 * history[0]
        if len(history) == 2:
            h_0 = float(lambdas[i] - lambdas[i - 1])
            first = (history[0] - history[1]) / h_0
            x = x + h * phi_2 * first
        elif len(history) == 3:
            h_0 = float(lambdas[i] - lambdas[i - 1])
            h_1 = float(lambdas[i - 1] - lambdas[i - 2])
            slope_0 = (history[0] - history[1]) / h_0
            slope_1 = (history[1] - history[2]) / h_1
            second = 2 * (slope_0 - slope_1) / (h_0 + h_1)  # D''
            first = slope_0 + 0.5 * h_0 * second  # D' at lambda_i, to second order
            x = x + h * phi_2 * first - h**2 * phi_3 * second
    return x


def unipc(denoise, x, sigmas, order: int = 2):
    """UniPC with the B(h) = e^{-h} - 1 weights ('bh2'), Zhao et al. 2023, data prediction:
    the UniP-`order` predictor, then the UniC corrector, which reuses the evaluation at the
    predicted point (the one the next step needs anyway), so correcting costs no evaluation.

    Each step writes x_{i+1} = e^{-h} x_i + (1 - e^{-h}) D_i - B(h) sum_k rho_k (D_k - D_i) / r_k
    over earlier points (r_k = (lambda_k - lambda_i) / h < 0) and, in the corrector, the new
    one (r = 1). The rho solve sum_k rho_k r_k^(j-1) = g_j (j = 1..p), with g_j = j! h phi_{j+1}
    (h) / B(h) and phi_{j+1} the exponential integrator's weights, which matches the Taylor
    terms of D to order p; bh2 fixes rho = 1/2 where the system has one unknown. Order
    `order` + 1 (warm-up steps use fewer points); the last step is not corrected (its
    evaluation would not be reused). NFE = steps."""
    if order < 1:
        raise ValueError(f"UniPC's order must be at least 1, got {order}")
    lambdas = -torch.log(sigmas)
    n = len(sigmas) - 1
    history = [denoise(x, sigmas[0])]  # D at the current point first, then earlier ones
    for i in range(n):
        h = float(lambdas[i + 1] - lambdas[i])
        used = min(order, i + 1)
        ratios = [float(lambdas[i - k] - lambdas[i]) / h for k in range(1, used)]
        slopes = [(history[k] - history[0]) / r for k, r in enumerate(ratios, start=1)]
        weights = _unipc_targets(h, used)
        b_h = math.expm1(-h)
        base = math.exp(-h) * x - math.expm1(-h) * history[0]
        if used == 1:
            x_next = base
        else:
            rho = _unipc_rho(ratios, weights[:-1])
            x_next = base - b_h * sum(c * d for c, d in zip(rho, slopes, strict=True))
        if i == n - 1:
            return x_next
        denoised_next = denoise(x_next, sigmas[i + 1])
        rho = _unipc_rho(ratios + [1.0], weights)
        corrections = slopes + [denoised_next - history[0]]
        x = base - b_h * sum(c * d for c, d in zip(rho, corrections, strict=True))
        history = [denoised_next] + history[: order - 1]
    return x


def _unipc_targets(h: float, count: int) -> list[float]:
    """The right-hand sides g_1..g_{count+1} of UniPC's order conditions (data prediction, so
    the recursion runs in -h): g_j = j! phi_{j+1} / B(h), with phi_2 = (e^{-h} - 1) / (-h) - 1
    and phi_{j+1} = phi_j / (-h) - 1 / j!."""
    minus_h = -h
    phi = math.expm1(minus_h) / minus_h - 1
    factorial, targets = 1.0, []
    for j in range(1, count + 2):
        targets.append(phi * factorial / math.expm1(minus_h))
        factorial *= j + 1
        phi = phi / minus_h - 1 / factorial
    return targets


def _unipc_rho(ratios: list[float], targets: list[float]) -> list[float]:
    """Solve sum_k rho_k r_k^(j-1) = g_j; with a single unknown bh2 takes rho = 1/2."""
    if len(ratios) == 1:
        return [0.5]
    matrix = torch.tensor([[r**j for r in ratios] for j in range(len(ratios))],
                          dtype=torch.float64)
    return torch.linalg.solve(matrix, torch.tensor(targets[: len(ratios)],
                                                   dtype=torch.float64)).tolist()


# --- the stochastic solver --------------------------------------------------------------------
def dpmpp_2m_sde(denoise, x, sigmas, eta: float = 1.0, noise: NoiseSampler | None = None):
    """DPM-Solver++(2M) SDE (Lu et al. 2022b, the SDE-DPM-Solver++ family; the 'midpoint'
    variant of k-diffusion's sample_dpmpp_2m_sde), for the member of the benchmark's SDE family
    with noise scale `eta` (samplers.ReverseSDE: eta = 1 the reverse SDE, eta = 0 the ODE).

    In sigma~ that member is dx = -(1 + eta^2) sigma score dsigma + eta sqrt(2 sigma) dW, whose
    linear part is integrated exactly: with k = eta^2 (k-diffusion's eta),
        x_{i+1} = e^{-(1+k) h} x_i + (1 - e^{-(1+k) h}) D~_i
                  + sigma_{i+1} sqrt(1 - e^{-2 k h}) z_i,
    D~ being 2M's extrapolated D (the first step uses D_i). The update is exact for a point mass
    of data, and on the Gaussian lane only the extrapolation of D errs: the output's mean and
    variance converge at order 2 there (tests). That is the registry's `order`; for general
    data no weak order 2 is proven (the papers call the method second order). NFE = steps.
    `noise(i, x)` gives z_i (default: standard normal draws from the generator)."""
    k = eta**2
    lambdas = -torch.log(sigmas)
    previous = None
    for i in range(len(sigmas) - 1):
        h = float(lambdas[i + 1] - lambdas[i])
        denoised = denoise(x, sigmas[i])
        target = _extrapolated(denoised, previous, lambdas, i)
        x = math.exp(-(1 + k) * h) * x - math.expm1(-(1 + k) * h) * target
        if k > 0:
            x = x + float(sigmas[i + 1]) * math.sqrt(-math.expm1(-2 * k * h)) * noise(i, x)
        previous = denoised
    return x


def heun_sde(denoise, x, sigmas, churn: float = 40.0, churn_min: float = 0.0,
             churn_max: float = math.inf, noise_inflation: float = 1.0, final_euler: bool = True,
             noise: NoiseSampler | None = None):
    """EDM's stochastic sampler, Karras et al. 2022, Algorithm 2: before each Heun step, while
    churn_min <= sigma_i <= churn_max, raise the noise level to sigma^ = (1 + gamma) sigma_i,
    gamma = min(churn / steps, sqrt(2) - 1), by adding fresh noise of variance sigma^2 -
    sigma_i^2 (times noise_inflation^2, EDM's S_noise), then take the deterministic Heun step
    from sigma^ to sigma_{i+1}; unlike EDM, sigma^ never exceeds the grid's first level, so the
    score is never asked about t > t_max (the first step is not churned). churn = 0 is `heun`.
    The churn per step shrinks as 1 / steps, so the limit is an SDE whose noise rate depends on
    the grid: compare it with itself at other step counts, not with the benchmark's eta family
    (on the Gaussian lane it converges to that limit at order 2, in mean and variance; tests).
    NFE = 2 steps - 1, as Heun's."""
    n = len(sigmas) - 1
    gamma = min(churn / n, math.sqrt(2) - 1)
    for i in range(n):
        s, s_next = float(sigmas[i]), float(sigmas[i + 1])
        if gamma > 0 and churn_min <= s <= churn_max:
            # capped at the grid's top (t_max): the model knows no noisier level
            s_hat = min(s * (1 + gamma), float(sigmas[0]))
            x = x + noise_inflation * math.sqrt(s_hat**2 - s**2) * noise(i, x)
        else:
            s_hat = s
        x = _heun_step(denoise, x, s_hat, s_next, corrected=not (final_euler and i == n - 1))
    return x


# --- the adaptive reference -------------------------------------------------------------------
def dopri5(denoise, x, sigmas, rtol: float = 1e-5, atol: float = 1e-5):
    """Dormand–Prince 5(4) through torchdiffeq on dx/dlambda = D - x between the grid's end
    points (the same solver as samplers.py's, but in lambda, where the flow is smooth). Adaptive:
    NFE is whatever the error control needs (counted, never predicted)."""
    lambdas = -torch.log(sigmas[[0, -1]])
    low, high = float(lambdas[0]), float(lambdas[1])

    def velocity(lam, y):
        # torchdiffeq steps past the end and interpolates back; like samplers.ProbabilityFlow,
        # keep the model inside the times it knows
        return denoise(y, math.exp(-min(max(float(lam), low), high))) - y

    times = lambdas.to(dtype=x.dtype, device=x.device)
    return torchdiffeq.odeint(velocity, x, times, method="dopri5", rtol=rtol, atol=atol)[-1]


# --- registry -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class FastSolver:
    """A solver and its bookkeeping. `order`: the order the tests hold it to on the exact
    Gaussian lane, global for deterministic solvers, weak (the output's mean and variance) for
    stochastic ones; None: adaptive. `evaluations_per_step` and
    `final_saving`: NFE = evaluations_per_step * steps - final_saving (None: adaptive)."""

    integrate: Callable
    order: int | None
    stochastic: bool
    evaluations_per_step: int | None
    final_saving: int = 0

    @property
    def adaptive(self) -> bool:
        return self.evaluations_per_step is None

    def nfe(self, steps: int) -> int:
        """The score evaluations of one trajectory with `steps` steps."""
        if self.adaptive:
            raise ValueError("an adaptive solver's NFE is counted, not predicted")
        return self.evaluations_per_step * steps - self.final_saving

    def steps(self, nfe: int) -> int:
        """The most steps whose NFE fits in the budget `nfe` (e.g. Heun: (nfe + 1) // 2)."""
        if self.adaptive:
            raise ValueError("an adaptive solver takes tolerances, not an NFE budget")
        steps = (nfe + self.final_saving) // self.evaluations_per_step
        if steps < 1:
            raise ValueError(f"an NFE budget of {nfe} affords no step")
        return steps


FAST_SOLVERS: dict[str, FastSolver] = {
    "ddim": FastSolver(euler, order=1, stochastic=False, evaluations_per_step=1),
    "heun": FastSolver(heun, order=2, stochastic=False, evaluations_per_step=2, final_saving=1),
    "dpmpp_2m": FastSolver(dpmpp_2m, order=2, stochastic=False, evaluations_per_step=1),
    "dpmpp_3m": FastSolver(dpmpp_3m, order=3, stochastic=False, evaluations_per_step=1),
    "unipc": FastSolver(unipc, order=3, stochastic=False, evaluations_per_step=1),
    "dpmpp_2m_sde": FastSolver(dpmpp_2m_sde, order=2, stochastic=True, evaluations_per_step=1),
    "heun_sde": FastSolver(heun_sde, order=2, stochastic=True, evaluations_per_step=2,
                           final_saving=1),
    "dopri5_edm": FastSolver(dopri5, order=None, stochastic=False, evaluations_per_step=None),
}


def solve(name: str, score_fn, process: ForwardProcess, x_prior: torch.Tensor, *,
          steps: int | None = None, nfe: int | None = None,
          generator: torch.Generator | None = None, grid: str = "edm", rho: float = 7.0,
          sigma_max: float | None = None, **options) -> torch.Tensor:
    """Carry prior draws x_prior (the process's variables) to t_min with solver `name`;
    returns x at t_min in the process's variables, in x_prior's dtype. The draws are at t_max,
    or with `sigma_max` (the noise range's top, in sigma~) at t(sigma_max): draw them with
    process.prior_sample(..., t=EDMView(process).start_time(sigma_max)).

    Give `steps` or an NFE budget `nfe` (FastSolver.steps maps it to steps); adaptive solvers
    take neither (only `rtol`, `atol`). `grid` ("edm" with `rho`, or "logsnr") places the noise
    levels. Stochastic solvers draw their noise from `generator` (a CPU generator is fine for
    any device) unless `options` has `noise`; other options go to the solver (Heun's
    `final_euler`, UniPC's `order`, dpmpp_2m_sde's `eta`, heun_sde's `churn`...); one the
    solver does not take is an error, not silently dropped."""
    if name not in FAST_SOLVERS:
        raise ValueError(f"unknown solver {name!r}; expected one of {sorted(FAST_SOLVERS)}")
    solver = FAST_SOLVERS[name]
    view = EDMView(process)
    if solver.adaptive:
        if steps is not None or nfe is not None:
            raise ValueError(f"{name} is adaptive: give rtol/atol, not steps or nfe")
        steps = 1
    elif (steps is None) == (nfe is None):
        raise ValueError("give exactly one of steps and nfe")
    elif steps is None:
        steps = solver.steps(nfe)
    sigmas = view.sigma_grid(steps, grid, rho, sigma_max)
    known = set(inspect.signature(solver.integrate).parameters) - {"denoise", "x", "sigmas"}
    if unknown := set(options) - known:
        raise ValueError(f"{name} takes no option {sorted(unknown)}; its options: "
                         f"{sorted(known)}")
    if solver.stochastic and options.get("noise") is None:
        options["noise"] = _gaussian_noise(generator)

    def denoise(x_edm, sigma):
        return view.denoiser(score_fn, x_edm, float(sigma))

    x = view.to_edm(x_prior, view.start_time(sigma_max))
    x = solver.integrate(denoise, x, sigmas, **options)
    return view.from_edm(x, process.t_min)


def _gaussian_noise(generator: torch.Generator | None) -> NoiseSampler:
    """Standard normal draws in float32 on the generator's device, then moved to x's dtype and
    device: the same seed gives the same noise for float32 and float64 runs, on any device."""

    def draw(_step: int, like: torch.Tensor) -> torch.Tensor:
        device = generator.device if generator is not None else like.device
        z = torch.randn(like.shape, generator=generator, dtype=torch.float32, device=device)
        return z.to(dtype=like.dtype, device=like.device)

    return draw
