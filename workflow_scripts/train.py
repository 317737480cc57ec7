"""Rules train and pretrain: fit one score model (one data set, FP weight and seed).

Resumes from its checkpoint if a previous attempt of the same job was killed. The checkpoint
outlives the job, holding the final state: the workflow removes it once Snakemake has accepted
the model (rules/train.smk), so a job that finished and was then judged failed (a TIMEOUT in
SLURM's grace window) resumes at its last step on the retry instead of starting over.
"""

import sys
from pathlib import Path

import pandas as pd
import torch

from odesdegap import devices, runtime
from odesdegap.diffusion.processes import build_process
from odesdegap.diffusion.training import (
    NonFiniteLossError,
    TrainingInterrupted,
    settings_record,
    train,
)
from odesdegap.io import artifacts, weights
from odesdegap.models import build_model
from odesdegap.settings import EngineSettings, TrainingSettings

sm, device = runtime.job(snakemake)  # noqa: F821 (injected by Snakemake)
params = sm.params

data = torch.as_tensor(artifacts.load_arrays(sm.input.data)["train"])
process = build_process(params.process)
torch.manual_seed(params.seed)
model = build_model(params.model, dim=data.shape[1], process=process,
                    image_shape=params.image_shape)
model.fit_baseline(data)
initial_weights = sm.input.get("init")
if initial_weights:
    model.load_state_dict(weights.load_state_dict(initial_weights))

# checkpoint_every is not a param (it changes no result), so it comes from the config.
training = {**params.training, "checkpoint_every": sm.config["training"]["checkpoint_every"]}
settings = TrainingSettings.from_config(training, "training")
engine = EngineSettings.from_config(params.engine, "engine")
fingerprint = {
    "process": params.process,
    "model": params.model,
    "training": settings_record(settings, params.fp_weight),
    "engine": engine.as_dict(),
    "seed": params.seed,
    "data": artifacts.file_digest(sm.input.data),
    "init": artifacts.file_digest(initial_weights) if initial_weights else None,
}
checkpoint = Path(params.checkpoint)
try:
    history = train(model, process, data, settings, params.fp_weight, params.seed, device,
                    checkpoint, fingerprint, engine=engine)
except NonFiniteLossError as error:
    raise SystemExit(f"training stopped: {error}") from None
except TrainingInterrupted as error:
    print(error)  # the job's log, which the retry overwrites; the scheduler's log keeps it:
    print(error, file=sys.__stderr__)
    raise SystemExit(error.exit_code) from None

# with training.ema_decay > 0, `model` now holds the averaged weights (see training.train)
weights.save_state_dict(sm.output.model, model)
with artifacts.atomic_path(sm.output.history) as tmp:
    pd.DataFrame(history).to_csv(tmp, index=False)
artifacts.write_json(sm.output.meta, {
    **runtime.model_identity(sm),
    "training": settings_record(settings, params.fp_weight),
    "engine": engine.as_dict(),
    "weights": "ema" if settings.ema_decay > 0 else "final",
    "ema_decay": settings.ema_decay,
    "initialised_from": initial_weights,
    "device": str(device),
    "determinism": devices.determinism_record(device, settings.precision),
    "threads": sm.threads,
    "train_seconds": history[-1]["elapsed_s"] if history else 0.0,
    "versions": artifacts.environment_versions(),
    # the run's whole resolved config (config.yaml, presets and schema defaults merged), so
    # that what a model was made with can be read from one place
    "config": dict(sm.config),
})
