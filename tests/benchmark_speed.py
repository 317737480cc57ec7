"""Speed figures at the default config's sizes (a script, not a test: `make bench`).

Prints training steps per second with and without the FP residual, samples per second for each
sampler, and the time of the W2 evaluation. Pass --device cuda on a GPU machine and --config to
measure another config (e.g. presets/paper.yaml).
"""

import argparse
import resource
import sys
import time
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow_scripts"))

from odesdegap import metrics  # noqa: E402
from odesdegap.config import checked  # noqa: E402
from odesdegap.datasets import sample_dataset  # noqa: E402
from odesdegap.models import build_model  # noqa: E402
from odesdegap.processes import build_process  # noqa: E402
from odesdegap.residual import CollocationSampler  # noqa: E402
from odesdegap.samplers import SamplerSettings, TimeGrid, sample  # noqa: E402
from odesdegap.training import TrainingSettings, train  # noqa: E402


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
    base = yaml.safe_load((REPO / "config.yaml").read_text())
    config = checked({**base, **yaml.safe_load(Path(arguments.config).read_text())})
    process = build_process(config["process"])
    data = torch.as_tensor(sample_dataset("checkerboard", config["data"]["n_train"], 0))
    print(f"device {device}, {arguments.threads} thread(s), torch {torch.__version__}, "
          f"config {arguments.config}")

    warm_up = TrainingSettings.from_config({**config["training"], "steps": 5}, 1.0)
    warm_model = build_model(config["model"], dim=2, process=process)
    train(warm_model, process, data, warm_up, 0, device, Path("/nonexistent/benchmark.pt"), {})
    for weight in (0.0, 1.0):
        torch.manual_seed(0)
        model = build_model(config["model"], dim=2, process=process)
        model.fit_baseline(data)
        settings = TrainingSettings.from_config(
            {**config["training"], "steps": arguments.train_steps,
             "checkpoint_every": 10**9, "log_every": 10**9}, weight)
        _, seconds = timed(lambda m=model, s=settings: train(
            m, process, data, s, 0, device, Path("/nonexistent/benchmark.pt"), {}))
        label = "DSM only" if weight == 0 else "DSM + FP residual"
        print(f"training, {label:18s}: {arguments.train_steps / seconds:8.1f} steps/s "
              f"(batch {settings.batch_size}, {settings.collocation_points} collocation points)")

    sampling = config["sampling"]
    grid = TimeGrid(process.t_max, process.t_min, sampling["steps"], sampling["refine_last"],
                    sampling["refine_factor"])
    samples = {}
    for kind in ("ode", "sde"):
        method = sampling[f"{kind}_method"]
        settings = SamplerSettings(sampling["n_samples"], sampling["chunk_size"], grid, method,
                                   sampling["ode_rtol"], sampling["ode_atol"])
        result, seconds = timed(lambda k=kind, s=settings: sample(k, model, process, 2, s, 0,
                                                                  device))
        samples[kind] = result["samples"]
        print(f"sampling, {kind.upper()} ({method}, NFE {result['nfe']}): "
              f"{len(result['samples']) / seconds:10.0f} samples/s")

    evaluation = config["evaluation"]
    w2_grid = metrics.Grid(evaluation["grid_bins"], evaluation["box_half_width"])
    reference = sample_dataset("checkerboard", config["data"]["n_reference"], 1)

    def w2_pair():
        a, _ = w2_grid.histogram(samples["sde"])
        b, _ = w2_grid.histogram(reference)
        return metrics.w2sq_between_histograms(a, b, w2_grid.centres)

    _, seconds = timed(w2_pair)
    print(f"W2^2 on the {evaluation['grid_bins']}^2 grid (one pair, binning + emd2): "
          f"{seconds:.2f} s")
    collocation = CollocationSampler(2, evaluation["residual_points"],
                                     evaluation["residual_points_per_time"],
                                     evaluation["box_half_width"],
                                     evaluation["residual_time_distribution"])
    _, seconds = timed(lambda: metrics.residual_summary(model, process, collocation, 0, device))
    print(f"FP residual metric ({evaluation['residual_points']} points): {seconds:.2f} s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak:.0f} MB"
          + (f", peak GPU memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MB"
             if device.type == "cuda" else ""))


if __name__ == "__main__":
    main()
