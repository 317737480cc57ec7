"""Speed figures at the default config's sizes (a script, not a test: `make bench`).

Prints training steps per second with and without the FP residual, samples per second for each
sampler, and the time of the W2 evaluation (and of FID features, for image data sets), on the
config's first data set. Pass --device cuda on a GPU machine and --config to measure another
config (e.g. presets/paper.yaml, presets/images.yaml, presets/images_gpu.yaml).
"""

import argparse
import resource
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow_scripts"))

from odesdegap.config import resolve  # noqa: E402
from odesdegap.data.datasets import image_shape, sample_dataset  # noqa: E402
from odesdegap.data.images import load_image_dataset  # noqa: E402
from odesdegap.diffusion.processes import build_process  # noqa: E402
from odesdegap.diffusion.residual import CollocationSampler  # noqa: E402
from odesdegap.diffusion.samplers import sample  # noqa: E402
from odesdegap.diffusion.training import train  # noqa: E402
from odesdegap.evaluation import fid, metrics  # noqa: E402
from odesdegap.evaluation.classifier import ImageClassifier  # noqa: E402
from odesdegap.evaluation.run import chunk_points  # noqa: E402
from odesdegap.models import build_model  # noqa: E402
from odesdegap.settings import (  # noqa: E402
    EvaluationSettings,
    SamplingSettings,
    TrainingSettings,
)


def timed(function):
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = function()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default=str(REPO / "config.yaml"))
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--train-steps", type=int, default=100, help="steps timed per setting")
    arguments = parser.parse_args()

    torch.set_num_threads(arguments.threads)
    device = torch.device(arguments.device)
    # merged over config.yaml exactly as `snakemake --configfile` merges it
    config = resolve(arguments.config)
    process = build_process(config["process"])
    name, shape = config["datasets"][0], image_shape(config["datasets"][0])
    if shape is None:
        data = torch.as_tensor(sample_dataset(name, config["data"]["n_train"], 0))
        reference = sample_dataset(name, config["data"]["n_reference"], 1)
    else:
        arrays = load_image_dataset(name, config["data"]["n_train"],
                                    config["data"]["n_reference"], 0, config["data"]["root"])
        data, reference = torch.as_tensor(arrays["train"]), arrays["reference"]
    dim = data.shape[1]
    print(f"device {device}, {arguments.threads} thread(s), torch {torch.__version__}, "
          f"config {arguments.config}, data set {name} (d = {dim})")

    def new_model():
        return build_model(config["model"], dim=dim, process=process, image_shape=shape)

    warm_up = TrainingSettings.from_config({**config["training"], "steps": 5}, "training")
    train(new_model(), process, data, warm_up, 1.0, 0, device, Path("/nonexistent/benchmark.pt"),
          {})
    for weight in (0.0, 1.0):
        torch.manual_seed(0)
        model = new_model()
        model.fit_baseline(data)
        settings = TrainingSettings.from_config(
            {**config["training"], "steps": arguments.train_steps,
             "checkpoint_every": 10**9, "log_every": 10**9}, "training")
        _, seconds = timed(lambda m=model, s=settings, w=weight: train(
            m, process, data, s, w, 0, device, Path("/nonexistent/benchmark.pt"), {}))
        label = "DSM only" if weight == 0 else "DSM + FP residual"
        print(f"training, {label:18s}: {arguments.train_steps / seconds:8.1f} steps/s "
              f"(batch {settings.batch_size}, {settings.residual.collocation_points} "
              "collocation points)")

    sampling = SamplingSettings.from_config(config["sampling"], "sampling")
    samples = {}
    for kind in ("ode", "sde"):
        method = getattr(sampling, f"{kind}_method")
        result, seconds = timed(lambda k=kind: sample(k, model, process, dim, sampling, 0,
                                                      device, eta=1.0))
        samples[kind] = result["samples"]
        print(f"sampling, {kind.upper()} ({method}, NFE {result['nfe']}): "
              f"{len(result['samples']) / seconds:10.0f} samples/s")

    evaluation = EvaluationSettings.from_config(config["evaluation"], "evaluation")
    if dim == 2:
        w2_grid = metrics.Grid.from_settings(evaluation)

        def w2_pair():
            return metrics.grid_w2sq(samples["sde"], "model", reference, "data", w2_grid)

        _, seconds = timed(w2_pair)
        print(f"W2^2 on the {evaluation.grid_bins}^2 grid (one pair, binning + emd2): "
              f"{seconds:.2f} s")
    else:
        n = evaluation.w2_subsample_points
        _, seconds = timed(lambda: metrics.exact_w2sq_subsample(samples["sde"], reference, n, 0))
        print(f"W2^2 by exact OT between {n}-point subsamples (one pair): {seconds:.2f} s")
    collocation = CollocationSampler(
        dim, evaluation.residual_points, evaluation.residual_points_per_time,
        evaluation.box_half_width, evaluation.residual_time_distribution,
        noised_fraction=1.0, data=data)
    _, seconds = timed(lambda: metrics.residual_summary(
        model, process, collocation, 0, device, prefix="fp_residual_data",
        hutchinson_probes=evaluation.hutchinson_probes, chunk_points=chunk_points(dim)))
    print(f"FP residual metric ({evaluation.residual_points} points near the data): "
          f"{seconds:.2f} s")
    if shape is not None:  # features of one sample set (an untrained classifier: speed only)
        extractor = fid.build_extractor("classifier", shape, device,
                                        classifier=ImageClassifier(shape, 10).to(device))
        _, seconds = timed(lambda: fid.image_features(samples["sde"], shape, extractor, device,
                                                      config["evaluation"]["fid"]["batch_size"]))
        print(f"FID features, classifier ({len(samples['sde'])} images): {seconds:.2f} s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak:.0f} MB"
          + (f", peak GPU memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MB"
             if device.type == "cuda" else ""))


if __name__ == "__main__":
    main()
