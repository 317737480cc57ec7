"""Rules sample and sample_eta: draw samples from one trained model with the probability-flow
ODE, the reverse SDE, or another member (eta) of the SDE family between them."""

from odesdegap import runtime
from odesdegap.diffusion.processes import build_process
from odesdegap.diffusion.samplers import sample
from odesdegap.io import artifacts
from odesdegap.settings import EngineSettings, SamplingSettings

sm, device = runtime.job(snakemake)  # noqa: F821 (injected by Snakemake)
params = sm.params

process = build_process(params.process)
model = artifacts.load_model(sm.input.model, params.model, params.dim, process,
                             params.image_shape)
# The params carry only the keys this sampler reads (so that, say, an ODE tolerance does not
# resample the SDE); the other sampler's keys, which this job never reads, come from the config.
settings = SamplingSettings.from_config({**sm.config["sampling"], **params.sampling},
                                        "sampling")
result = sample(params.kind, model, process, params.dim, settings, params.sample_seed, device,
                eta=params.eta, engine=EngineSettings.from_config(params.engine, "engine"))
print(f"{params.kind} (eta {params.eta}): {len(result['samples'])} samples, NFE {result['nfe']}, "
      f"{result['wall_time_s']:.1f} s on {device}")
artifacts.save_arrays(sm.output.samples, samples=result["samples"], nfe=result["nfe"],
                      wall_time_s=result["wall_time_s"])
