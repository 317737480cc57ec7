"""Rule reference_features: feature-extractor features of one data set's held-out images, the
'data' side of every FID of that data set."""

from odesdegap import runtime
from odesdegap.evaluation import fid
from odesdegap.io import artifacts

sm, device = runtime.job(snakemake)  # noqa: F821 (injected by Snakemake)
params = sm.params
shape = tuple(params.image_shape)
extractor = fid.job_extractor(sm, device)
reference = artifacts.load_arrays(sm.input.data)["reference"]
features, n_dropped = fid.image_features(reference, shape, extractor, device, params.batch_size)
print(f"{len(features)} reference images -> {features.shape[1]} features ({n_dropped} dropped)")
artifacts.save_arrays(sm.output.features, features=features, n_dropped=n_dropped)
