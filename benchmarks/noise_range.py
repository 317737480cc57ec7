"""The fast solvers' noise range on the exact lane (docs/studies.md, "Where the fast solvers
start"): W2^2 between each solver's output and the exact law at t_min, for a few choices of
sigma_max (the grid's first level, samplers.<name>.sigma_max) at NFE 10, 20 and 50.

Two measures. The closed form (odesdegap.evaluation.studies.exact_lane_solver_w2sq): the
deterministic solvers are affine on the exact lane, so their output law is Gaussian and its W2^2
to the exact law is exact, free of samples and bins. The binned W2^2 of the workflow (64 x 64
nodes, --n samples, the NFE study's code path) for the NFE study's samplers, the stochastic one
included, next to the noise floor at that size (data set exact_gaussian's, as rule noise_floor
measures it, on the grid). The start law's own mismatch (the exact flow
from N(0, sigma_max^2) in the EDM variables) is printed per choice, and the floor rule's value:
the smallest sigma_max whose mismatch stays below a tenth of the floor.
  PYTHONPATH=workflow_scripts python benchmarks/noise_range.py [--n 40000] [--no-binned]
"""

import argparse
import dataclasses
import os

os.environ.setdefault("TQDM_DISABLE", "1")

import torch  # noqa: E402

from odesdegap.data.datasets import EXACT_GAUSSIAN, EXACT_LANE, point_draws  # noqa: E402
from odesdegap.diffusion.edm import EDMView, edm_sigma_max  # noqa: E402
from odesdegap.diffusion.processes import OrnsteinUhlenbeck  # noqa: E402
from odesdegap.diffusion.samplers import sampler  # noqa: E402
from odesdegap.engine import REFERENCE  # noqa: E402
from odesdegap.evaluation.noise_floor import noise_floor  # noqa: E402
from odesdegap.evaluation.studies import (  # noqa: E402
    exact_gaussian_model,
    exact_lane_solver_w2sq,
    nfe_sweep,
)
from odesdegap.settings import (  # noqa: E402
    SamplerEvaluationSettings,
    SamplingSettings,
    W2Settings,
)

PROCESS = OrnsteinUhlenbeck()
W2 = W2Settings(grid_bins=64, box_half_width=3.5, grid_convention="nodes", w2_method="grid",
                w2_subsample_points=2000, seed=12345)
# The NFE rows' measure: W2 on the grid above, with the sliced cross-check.
EVALUATION = SamplerEvaluationSettings(**dataclasses.asdict(W2), sliced_projections=100,
                                       sliced_max_points=200_000)
BUDGETS = (10, 20, 50)
# The NFE study's samplers (presets/studies/nfe.yaml) and their grids, plus dpmpp_3m
SOLVERS = {"ddim": "logsnr", "heun": "edm", "dpmpp_2m": "logsnr", "dpmpp_3m": "logsnr",
           "unipc": "logsnr"}
STOCHASTIC = {"dpmpp_2m_sde": "logsnr"}


def floor_rule(floor: float) -> float:
    """The smallest sigma_max (bisection in log sigma) whose start-law mismatch on the exact
    lane stays below a tenth of `floor`."""
    low, high = 1.0, EDMView(PROCESS).sigma_max
    for _ in range(60):
        middle = (low * high) ** 0.5
        if exact_lane_solver_w2sq("exact", PROCESS, None, sigma_max=middle) < floor / 10:
            high = middle
        else:
            low = middle
    return high


def label(sigma_max) -> str:
    return "sigma~(t_max)" if sigma_max is None else f"{sigma_max:.4g}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40000, help="samples (the default config's)")
    parser.add_argument("--seed", type=int, default=2023, help="data.seed (the default config's)")
    parser.add_argument("--no-binned", action="store_true", help="the closed form only")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = point_draws(EXACT_LANE, 0, args.n, args.seed)["reference"]
    floor = noise_floor(EXACT_LANE, args.n, data, W2, args.seed)["w2sq_floor_data"]
    rule = floor_rule(floor)
    choices = [None, 160.0, edm_sigma_max(EXACT_GAUSSIAN["std"]), 40.0, 20.0, rule]
    print(f"exact lane: data N({EXACT_GAUSSIAN['mean']}, {EXACT_GAUSSIAN['std']}^2 I), OU "
          f"t_max {PROCESS.t_max} (sigma~(t_max) = {EDMView(PROCESS).sigma_max:.6g}); floor "
          f"(n = {args.n}, data.seed {args.seed}) = {floor:.3g}; floor rule "
          f"sigma_max = {rule:.3g}; EDM rule 160 x std = {choices[2]:g}")
    print("\nstart-law mismatch (exact flow), closed-form W2^2:")
    for choice in choices:
        mismatch = exact_lane_solver_w2sq("exact", PROCESS, None, sigma_max=choice)
        print(f"  {label(choice):>14}  {mismatch:.2g}")
    print("\nclosed-form W2^2 to the exact law (solver, grid, NFE) x sigma_max:")
    header = " ".join(f"{label(c):>14}" for c in choices)
    print(f"{'solver':>12} {'grid':>7} {'nfe':>4} {header}")
    for solver, grid in SOLVERS.items():
        for budget in BUDGETS:
            for grid_used in dict.fromkeys((grid, "edm")):
                values = [exact_lane_solver_w2sq(solver, PROCESS, budget, grid=grid_used,
                                                 sigma_max=c) for c in choices]
                print(f"{solver:>12} {grid_used:>7} {budget:>4} "
                      + " ".join(f"{v:>14.2g}" for v in values))
    if args.no_binned:
        return
    print(f"\nbinned W2^2 to {args.n} data points (the NFE study's measure; floor {floor:.3g}):")
    model = exact_gaussian_model(PROCESS)
    settings = SamplingSettings(n_samples=args.n, chunk_size=args.n, steps=1, refine_last=0,
                                refine_factor=1, sde_final_step_noise=True, ode_rtol=1e-5,
                                ode_atol=1e-5)
    print(f"{'solver':>12} {'grid':>7} {'nfe':>4} {header}")
    for solver, grid in {**SOLVERS, **STOCHASTIC}.items():
        dynamics = "sde" if solver in STOCHASTIC else "ode"
        columns = [[row["w2sq_data"] for row in nfe_sweep(
            solver, sampler(dynamics, solver, grid=grid, nfe=list(BUDGETS), sigma_max=c),
            model, PROCESS, 2, settings, 1, torch.device("cpu"), data=data, reference=None,
            evaluation=EVALUATION, engine=REFERENCE)] for c in choices]
        for index, budget in enumerate(BUDGETS):
            print(f"{solver:>12} {grid:>7} {budget:>4} "
                  + " ".join(f"{column[index]:>14.2g}" for column in columns))


if __name__ == "__main__":
    main()
