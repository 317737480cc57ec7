"""Rule evaluate_fid: FID and KID (clean-fid) between the samples of the gap's two samplers (the
ODE's and the SDE's by default) and the held-out images of one run, with one feature extractor;
keyed by sampler name (fid_ode_sde, fid_ode_data, ...)."""

import itertools

from odesdegap import runtime
from odesdegap.evaluation import fid
from odesdegap.io import artifacts
from odesdegap.reporting.gap import Gap

sm, device = runtime.job(snakemake)  # noqa: F821 (injected by Snakemake)
params = sm.params
shape = tuple(params.image_shape)
extractor = fid.job_extractor(sm, device)

features = {"data": artifacts.load_arrays(sm.input.reference)["features"]}
result = {
    "dataset": sm.wildcards.dataset,
    "extractor": sm.wildcards.extractor,
    "fp_weight": params.fp_weight,
    "seed": params.seed,
}
gap = params.gap
for role, sampler in Gap(*gap)._asdict().items():  # the rule's input names (rules/common.smk)
    samples = artifacts.load_arrays(sm.input[role])["samples"]
    features[sampler], result[f"n_nonfinite_{sampler}"] = fid.image_features(
        samples, shape, extractor, device, params.batch_size)
    result[f"n_images_{sampler}"] = len(samples)
result["n_images_data"] = len(features["data"])
for a, b in itertools.combinations((*gap, "data"), 2):
    result[f"fid_{a}_{b}"] = fid.fid(features[a], features[b])
    result[f"kid_{a}_{b}"] = fid.kid(features[a], features[b], params.evaluation_seed,
                                     params.kid_subsets, params.kid_subset_size)
print(result)
artifacts.write_json(sm.output.metrics, result)
