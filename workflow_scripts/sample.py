"""Rules sample and sample_eta: draw samples from one trained model with the probability-flow
ODE, the reverse SDE, or another member (eta) of the SDE family between them."""

from odesdegap import runtime
from odesdegap.diffusion.processes import build_process
from odesdegap.diffusion.samplers import SamplerSettings, TimeGrid, sample
from odesdegap.engine import Engine
from odesdegap.io import artifacts

sm = snakemake  # noqa: F821 (injected by Snakemake)
runtime.log_to(sm.log[0])
device = runtime.job_device(sm)
params = sm.params
sampling = params.sampling

process = build_process(params.process)
model = artifacts.load_model(sm.input.model, params.model, params.dim, process,
                             params.image_shape)
grid = TimeGrid(process.t_max, process.t_min, sampling["steps"], sampling["refine_last"],
                sampling["refine_factor"])
settings = SamplerSettings(
    n_samples=sampling["n_samples"],
    chunk_size=sampling["chunk_size"],
    grid=grid,
    method=params.method,
    rtol=sampling.get("ode_rtol", 0.0),  # only the ODE's params carry tolerances
    atol=sampling.get("ode_atol", 0.0),
    final_step_noise=sampling.get("sde_final_step_noise", True),  # only the SDE's params carry it
)
result = sample(params.kind, model, process, params.dim, settings, params.sample_seed, device,
                eta=params.eta, engine=Engine.from_config(params.engine))
print(f"{params.kind} (eta {params.eta}): {len(result['samples'])} samples, NFE {result['nfe']}, "
      f"{result['wall_time_s']:.1f} s on {device}")
artifacts.save_arrays(sm.output.samples, samples=result["samples"], nfe=result["nfe"],
                      wall_time_s=result["wall_time_s"])
