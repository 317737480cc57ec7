"""Rule sample: draw samples from one trained model with one configured sampler
(samplers.<name>: the probability-flow ODE, the reverse SDE, a member eta of the SDE family
between them, or a few-step solver)."""

from odesdegap import runtime
from odesdegap.diffusion.processes import build_process
from odesdegap.diffusion.samplers import sample
from odesdegap.io import artifacts, weights
from odesdegap.settings import EngineSettings, SamplerSettings, SamplingSettings

sm, device = runtime.job(snakemake)  # noqa: F821 (injected by Snakemake)
params = sm.params

process = build_process(params.process)
model = weights.load_model(sm.input.model, params.model, params.dim, process,
                           params.image_shape)
# The params carry only the keys this sampler reads (so that, say, an ODE tolerance does not
# resample the SDE); the other keys, which this job never reads, come from the config.
settings = SamplingSettings.from_config({**sm.config["sampling"], **params.sampling},
                                        "sampling")
sampler = SamplerSettings.from_config(params.sampler, "sampler")
result = sample(sampler, model, process, params.dim, settings, params.sample_seed, device,
                engine=EngineSettings.from_config(params.engine, "engine"))
print(f"{params.name}: {len(result['samples'])} samples, NFE {result['nfe']}, "
      f"{result['wall_time_s']:.1f} s on {device}")
artifacts.save_arrays(sm.output.samples, samples=result["samples"], nfe=result["nfe"],
                      wall_time_s=result["wall_time_s"])
