"""Rule noise_floor: W2^2 between independent held-out sets of one data set at the runs' sample
size, with the runs' W2 method, grid and convention (odesdegap.evaluation.noise_floor)."""

from odesdegap import runtime
from odesdegap.evaluation import noise_floor
from odesdegap.io import artifacts
from odesdegap.settings import W2Settings

sm, _ = runtime.job(snakemake, computes=False)  # noqa: F821 (injected by Snakemake)
reference = artifacts.load_arrays(sm.input.data)["reference"]
evaluation = W2Settings.from_config(sm.params.evaluation, "evaluation")
record = noise_floor.noise_floor(sm.wildcards.dataset, sm.params.n_samples, reference,
                                 evaluation, sm.params.seed)
print(record)
artifacts.write_json(sm.output.floor, record)
