"""Rule import_published: one of the authors' published checkpoints, read without executing
anything it contains, checked to be the paper's network and saved as our PotentialMLP's
weights (a state dict, like a trained model), with its source and SHA-256 in model.json."""

import torch

from odesdegap import runtime
from odesdegap.diffusion.processes import build_process
from odesdegap.io import artifacts, weights
from odesdegap.models import build_model
from odesdegap.published import checkpoints

sm, _ = runtime.job(snakemake, computes=False)  # noqa: F821 (injected by Snakemake)
params = sm.params
source = sm.input.checkpoint

net = checkpoints.load_authors_net(source)
model = build_model(params.model, dim=2, process=build_process(params.process))
model.load_state_dict(checkpoints.to_potential_mlp_state(net))
# The converted model must be their function: check it on a few points before writing.
probe_x = torch.linspace(-3.5, 3.5, 16)[:, None].repeat(1, 2)
probe_t = torch.linspace(1e-5, 10.0, 16)
with torch.no_grad():
    theirs = net(torch.cat([probe_t[:, None], probe_x], dim=1)).squeeze(1)
    ours = model.potential(probe_x, probe_t)
torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-5)

weights.save_state_dict(sm.output.model, model)
artifacts.write_json(sm.output.meta, {
    **runtime.model_identity(sm),
    "training": None,
    "imported_from": str(source),
    "imported_sha256": artifacts.file_digest(source),
    "origin": "published checkpoint of Deveney et al. (GitHub teojd/ODESDEGap, 100,000 "
              "iterations, DSM batch 200,000)",
    "versions": artifacts.environment_versions(),
})
print(f"imported {source} (sha256 {artifacts.file_digest(source)[:12]}...) as our "
      "potential_mlp")
