"""Speed of the reference paths against the fast ones, side by side in one process (`make
bench`; a script, not a test: speed targets live here, not in timed tests). Absolute times on
a shared machine are noisy: read the ratios.

For each target of issue 10 it prints the reference (autograd derivatives, the square W2
problem), the forward engine eagerly and through torch.compile, and their ratios:
1. a training step (DSM + FP residual, exact Laplacian) at the config's batch and collocation
   sizes and at the issue's (DSM batch 20,000 + 5,000 collocation points);
2. ODE and SDE sampling at the config's grid and at 10,000 points x 190 Euler steps;
3. W2^2 on the grid (binning + emd2) at the config's sample size and for 200,000 points, and
   at the config's size the plug-in against the plug-in with its debiased estimate;
4. one evaluation job (workflow_scripts/evaluate.py, all metrics of one run at the config's
   settings) in a fresh process, start-up and imports included: the reference paths
   (autograd, W2 on the union support, sliced W2 in one call of POT) against the fast ones;
and the cost of torch.compile per process, with inductor's on-disk cache cold and warm;
6. start-up per job kind: for each script the rules run, the seconds a fresh process takes to
   import what it imports (best of 3) and whether it loads torch, and what torch.compile adds to
   a sample job with a warm cache (and how many graphs it compiles).
Pass --config for another config (the first data set is used), --device cuda on a GPU.
"""

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The table is the output: no progress bars (tqdm reads this when it is imported, here and in
# the fresh processes the benchmark starts, which inherit the environment).
os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow_scripts"))

from odesdegap.config_checks import resolve  # noqa: E402
from odesdegap.data.datasets import image_shape, sample_dataset  # noqa: E402
from odesdegap.diffusion.processes import build_process  # noqa: E402
from odesdegap.diffusion.samplers import sample, sampler  # noqa: E402
from odesdegap.diffusion.training import train  # noqa: E402
from odesdegap.engine import REFERENCE  # noqa: E402
from odesdegap.evaluation import distances, noise_floor  # noqa: E402
from odesdegap.io import artifacts, weights  # noqa: E402
from odesdegap.models import build_model  # noqa: E402
from odesdegap.settings import (  # noqa: E402
    EngineSettings,
    GridSettings,
    SamplingSettings,
    TrainingSettings,
    W2Settings,
)

ENGINES = {
    "reference (autograd)": REFERENCE,
    "forward, eager": EngineSettings(derivatives="forward", compile=()),
    "forward, compiled": EngineSettings(derivatives="forward", compile=("train", "sample")),
}


def synchronise(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(function, device):
    synchronise(device)
    start = time.perf_counter()
    result = function()
    synchronise(device)
    return result, time.perf_counter() - start


def report(title, seconds: dict, unit="s"):
    reference = next(iter(seconds.values()))
    cells = [f"{name} {value:8.3f} {unit}" + ("" if value is reference else
                                                f" ({reference / value:4.2f}x)")
             for name, value in seconds.items()]
    print(f"  {title}\n    " + "\n    ".join(cells))


def training_step(config, process, data, batch, collocation, steps, repeats, device):
    """Seconds per training step (min over repeats of `steps` steps), per engine."""
    training = {**config["training"], "steps": steps, "batch_size": batch, "lr_milestones": [],
                "log_every": 10**9, "checkpoint_every": 10**9,
                "residual": {**config["training"]["residual"],
                             "collocation_points": collocation}}
    best = {}

    def run(engine, n_steps):
        settings = TrainingSettings.from_config({**training, "steps": n_steps}, "training")
        torch.manual_seed(0)
        model = build_model(config["model"], dim=data.shape[1], process=process)
        train(model, process, data, settings, 1.0, 0, device, Path("/nonexistent/bench.pt"), {},
              engine=engine)

    for engine in ENGINES.values():  # warm-up (and compilation) outside the timings
        run(engine, 2)
    for _ in range(repeats):
        for name, engine in ENGINES.items():
            _, seconds = timed(lambda e=engine: run(e, steps), device)
            best[name] = min(best.get(name, np.inf), seconds / steps)
    return best


def euler_sampling(config, n: int, steps: int, refine_last: int, refine_factor: int):
    """The config's sampling settings with n points in one chunk and Euler for both samplers
    on the given time grid."""
    return dataclasses.replace(
        SamplingSettings.from_config(config["sampling"], "sampling"), n_samples=n, chunk_size=n,
        steps=steps, refine_last=refine_last, refine_factor=refine_factor)


def sampling(model, process, settings: SamplingSettings, device):
    """Seconds per sampling run (10,000 points: one chunk), per sampler and engine."""
    result = {}
    warm = dataclasses.replace(settings, steps=2, refine_last=0, refine_factor=1)
    for kind in ("ode", "sde"):
        seconds = {}
        for name, engine in ENGINES.items():
            if engine.compile:  # compile on a short grid first
                sample(sampler(kind), model, process, 2, warm, 0, device, engine=engine)
            run, seconds[name] = timed(
                lambda k=kind, e=engine: sample(sampler(k), model, process, 2, settings, 0,
                                                device, engine=e), device)
        result[kind] = (seconds, run["nfe"])
    return result


def w2_seconds(samples, reference, grid, repeats=2):
    """Seconds of one W2^2 (both histograms + emd2), reference (square) and rectangular."""
    paths = {"reference (union support)": distances.w2sq_between_histograms_union,
             "each side's support": distances.w2sq_between_histograms}
    best, values = {}, {}
    for _ in range(repeats):
        for name, between in paths.items():
            start = time.perf_counter()
            weights_a, _ = grid.histogram(samples, "model")
            weights_b, _ = grid.histogram(reference, "data")
            values[name] = between(weights_a, weights_b, grid.support)
            best[name] = min(best.get(name, np.inf), time.perf_counter() - start)
    return best, values


def debiased_seconds(samples, reference, evaluation, repeats=2):
    """Seconds of the plug-in W2^2 alone and of the plug-in with its debiased estimate
    (W2Measure.w2sq_with_debiased: the halves' histograms, the two half problems and the
    c-transforms), each from the raw sets, as a sampler's evaluation measures them."""
    measure = distances.W2Measure(evaluation, 2)
    best = {}
    for _ in range(repeats):
        start = time.perf_counter()
        measure.w2sq(measure.prepare(samples, "model"), measure.prepare(reference, "data"))
        plug_in = time.perf_counter() - start
        start = time.perf_counter()
        measure.w2sq_with_debiased(measure.prepare(samples, "model"),
                                   measure.prepare(reference, "data"))
        both = time.perf_counter() - start
        best["plug-in"] = min(best.get("plug-in", np.inf), plug_in)
        best["plug-in + debiased"] = min(best.get("plug-in + debiased", np.inf), both)
    return best


EVALUATE_JOB = """
import runpy, sys, time, types, json
sys.path.insert(0, {scripts!r})
inputs = json.loads({inputs!r})
class Params(types.SimpleNamespace):
    def get(self, key, default=None):
        return getattr(self, key, default)
sm = types.SimpleNamespace(
    input=types.SimpleNamespace(**inputs["input"]),
    output=types.SimpleNamespace(**inputs["output"]),
    params=Params(**inputs["params"]), log=[inputs["log"]],
    wildcards=types.SimpleNamespace(dataset=inputs["dataset"]), config=inputs["config"],
    threads=1, resources=types.SimpleNamespace(gpu=0))
if inputs["reference_metrics"]:  # the reference paths of W2 and sliced W2
    import functools
    from odesdegap.evaluation import distances
    distances.w2sq_between_histograms = distances.w2sq_between_histograms_union
    distances.sliced_w2sq = functools.partial(distances.sliced_w2sq, chunk_values=10**18)
runpy.run_path({script!r}, init_globals={{"snakemake": sm}})
"""


def evaluation_job(config, name, process, data, workdir: Path):
    """Wall seconds of workflow_scripts/evaluate.py in a fresh process per engine (imports and
    compilation included), on a model trained briefly and its samples at the config's size."""
    dim = data.shape[1]
    torch.manual_seed(0)
    model = build_model(config["model"], dim=dim, process=process)
    settings = TrainingSettings.from_config({**config["training"], "steps": 200}, "training")
    train(model, process, data, settings, 1.0, 0, torch.device("cpu"),
          Path("/nonexistent/bench.pt"), {}, engine=REFERENCE)
    weights.save_state_dict(workdir / "model.pt", model)
    reference = sample_dataset(name, config["data"]["n_reference"], 1)
    artifacts.save_arrays(workdir / "data.npz", train=data.numpy(), reference=reference)
    sampling_config = config["sampling"]
    n = sampling_config["n_samples"]
    settings = euler_sampling(config, n, sampling_config["steps"], sampling_config["refine_last"],
                              sampling_config["refine_factor"])
    for kind in ("ode", "sde"):
        result = sample(sampler(kind), model, process, dim, settings, 0, torch.device("cpu"),
                        engine=ENGINES["forward, eager"])
        artifacts.save_arrays(workdir / f"{kind}.npz", samples=result["samples"],
                              nfe=result["nfe"], wall_time_s=result["wall_time_s"])
    evaluation = {k: v for k, v in config["evaluation"].items() if k != "fid"}
    floor = noise_floor.noise_floor(name, n, reference,
                                    W2Settings.from_config(evaluation, "evaluation"),
                                    config["data"]["seed"])
    artifacts.write_json(workdir / "floor.json", floor)
    seconds, results = {}, {}
    # the reference job: autograd, W2 on the union support, sliced W2 in one call of POT;
    # the fast one: the config's engine, W2 on each side's support, sliced W2 in chunks
    jobs = {"reference (autograd, union W2, one-call sliced)": (REFERENCE, True),
            "fast (the config's engine)": (EngineSettings.from_config(config["engine"],
                                                                     "engine"), False)}
    for label, (engine, reference_metrics) in jobs.items():
        inputs = {
            "input": {key: str(workdir / f"{key}.{ext}") for key, ext in
                      (("data", "npz"), ("floor", "json"), ("model", "pt"), ("ode", "npz"),
                       ("sde", "npz"))},
            "output": {"metrics": str(workdir / f"metrics_{len(seconds)}.json")},
            "params": {"process": config["process"], "model": config["model"],
                       "image_shape": None, "evaluation": evaluation,
                       "dsm_weighting": config["training"]["dsm_weighting"], "fp_weight": 1.0,
                       "seed": 0, "engine": engine.as_dict(), "n_samples": n},
            "log": str(workdir / "evaluate.log"), "dataset": name, "config": config,
            "reference_metrics": reference_metrics,
        }
        code = EVALUATE_JOB.format(scripts=str(REPO / "workflow_scripts"),
                                   inputs=json.dumps(inputs),
                                   script=str(REPO / "workflow_scripts/evaluate.py"))
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
        seconds[label] = time.perf_counter() - start
        results[label] = artifacts.read_json(inputs["output"]["metrics"])
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, 'workflow_scripts');"
                    "import torch, ot, torchdiffeq, torchsde, odesdegap.evaluation.run, "
                    "odesdegap.diffusion.likelihood"], check=True, cwd=REPO)
    imports = time.perf_counter() - start
    return seconds, results, imports


# One compiled training loss (DSM + FP residual, forward engine) and its gradients, from the
# library alone: what a fresh training job pays to compile.
COMPILE_PROBE = """
import sys, time
start = time.perf_counter()
sys.path.insert(0, {scripts!r})
import torch
torch.set_num_threads(1)
from odesdegap.diffusion.losses import draw_dsm_batch, dsm_loss
from odesdegap.diffusion.processes import OrnsteinUhlenbeck
from odesdegap.diffusion.residual import CollocationSampler, residual_penalty
from odesdegap.engine import MaybeCompiled
from odesdegap.models.mlp import PotentialMLP
process = OrnsteinUhlenbeck()
torch.manual_seed(0)
model = PotentialMLP(2, hidden_width=80, hidden_layers=3, softplus_beta=10.0,
                     gaussian_baseline=False, process=None)
generator = torch.Generator().manual_seed(3)
data = torch.randn(500, 2, generator=generator)
x0, t, noise = draw_dsm_batch(data, 512, process, generator)
x_col, t_col = CollocationSampler(dim=2, collocation_points=256, points_per_time=32,
                                  box_half_width=3.5, time_distribution="uniform",
                                  noised_fraction=0.5, data=data).sample(process, generator)
def loss(x0, t, noise, x_col, t_col):
    dsm = dsm_loss(model, process, x0, t, noise, derivatives="forward")
    parts = residual_penalty(model, process, x_col, t_col, points_per_time=32, form="centred",
                             hutchinson_probes=0, generator=None, weighting="none",
                             derivatives="forward")
    return dsm + 0.7 * parts["penalty"]
MaybeCompiled(loss, True)(x0, t, noise, x_col, t_col).backward()
print(time.perf_counter() - start)
"""


def compile_seconds(cache_dir: Path) -> float:
    """Seconds of a fresh process that compiles and runs one small training loss."""
    code = COMPILE_PROBE.format(scripts=str(REPO / "workflow_scripts"))
    environment = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(cache_dir)}
    result = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                            text=True, env=environment)
    return float(result.stdout.strip().splitlines()[-1])


# One sample job's work (workflow_scripts/sample.py at the smoke config's size: 500 points in
# two chunks, the config's grid, an untrained MLP potential) with torch.compile on or off.
SAMPLE_PROBE = """
import sys, time
sys.path.insert(0, {scripts!r})
import torch
torch.set_num_threads(1)
from torch._dynamo.utils import counters
from odesdegap.config_checks import resolve
from odesdegap.diffusion.processes import build_process
from odesdegap.diffusion.samplers import sample, sampler
from odesdegap.models import build_model
from odesdegap.settings import EngineSettings, SamplingSettings
config = resolve({config!r})
process = build_process(config["process"])
torch.manual_seed(0)
model = build_model(config["model"], dim=2, process=process)
settings = SamplingSettings.from_config({{**config["sampling"], "n_samples": 500,
                                          "chunk_size": 250}}, "sampling")
engine = EngineSettings.from_config({{**config["engine"], "compile": {stages!r}}}, "engine")
start = time.perf_counter()
sample(sampler("sde"), model, process, 2, settings, 0, torch.device("cpu"), engine=engine)
print(time.perf_counter() - start, counters["stats"].get("unique_graphs", 0))
"""


def sample_job_seconds(cache_dir: Path, config: str, compiled: bool) -> tuple[float, int]:
    """Seconds of one sample job's sampling in a fresh process, and the graphs it compiled."""
    code = SAMPLE_PROBE.format(scripts=str(REPO / "workflow_scripts"), config=config,
                               stages=["sample"] if compiled else [])
    environment = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(cache_dir)}
    result = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                            text=True, env=environment)
    seconds, graphs = result.stdout.strip().splitlines()[-1].split()
    return float(seconds), int(graphs)


def startup_table(config: str, repeats: int = 3) -> None:
    """Section 6: the import seconds of every job kind (tools/job_imports.py, which the start-up
    test shares), and the warm compile cost of sampling."""
    sys.stdout.flush()  # the table comes from a child process, after what is printed so far
    subprocess.run([sys.executable, str(REPO / "tools" / "job_imports.py")], check=True)
    with tempfile.TemporaryDirectory() as cache:
        sample_job_seconds(Path(cache), config, compiled=True)  # fills the cache
        eager = min(sample_job_seconds(Path(cache), config, False)[0] for _ in range(repeats))
        warm = [sample_job_seconds(Path(cache), config, True) for _ in range(repeats)]
    compiled, graphs = min(warm)
    print(f"  sample job, sampling 500 points in 2 chunks: eager {eager:.2f} s, compiled with a "
          f"warm cache {compiled:.2f} s ({graphs} graph(s)): torch.compile adds "
          f"{compiled - eager:.2f} s per process")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default=str(REPO / "config.yaml"))
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2, help="timings keep the best of these")
    parser.add_argument("--skip-job", action="store_true",
                        help="leave out the evaluation job and the compile-cache probe")
    arguments = parser.parse_args()

    torch.set_num_threads(arguments.threads)
    device = torch.device(arguments.device)
    config = resolve(arguments.config)
    process = build_process(config["process"])
    name = config["datasets"][0]
    if image_shape(name) is not None:
        name = "checkerboard"  # the targets are the 2-D MLP's; images keep autograd anyway
    data = torch.as_tensor(sample_dataset(name, config["data"]["n_train"], 0))
    print(f"device {device}, {arguments.threads} thread(s), torch {torch.__version__}, "
          f"config {arguments.config}, data set {name}, model {config['model']['kind']} "
          f"{config['model'].get('hidden_layers')} x {config['model'].get('hidden_width')}, "
          f"softplus beta {config['model'].get('softplus_beta')}; best of {arguments.repeats}")

    print("\n1. training step, DSM + FP residual (exact Laplacian), seconds per step")
    residual = config["training"]["residual"]
    for batch, collocation, steps in ((config["training"]["batch_size"],
                                       residual["collocation_points"], 50),
                                      (20_000, 5_000, 5)):
        best = training_step(config, process, data, batch, collocation, steps,
                             arguments.repeats, device)
        report(f"DSM batch {batch} + {collocation} collocation points", best)

    print("\n2. sampling, 10,000 points, seconds per run")
    torch.manual_seed(0)
    model = build_model(config["model"], dim=2, process=process).to(device)
    sampling_config = config["sampling"]
    grids = {"the config's grid": euler_sampling(config, 10_000, sampling_config["steps"],
                                                 sampling_config["refine_last"],
                                                 sampling_config["refine_factor"]),
             "190 uniform Euler steps": euler_sampling(config, 10_000, 190, 0, 1)}
    for label, settings in grids.items():
        for kind, (seconds, nfe) in sampling(model, process, settings, device).items():
            report(f"{kind.upper()} on {label} (NFE {nfe})", seconds)

    print("\n3. W2^2 on the grid (both histograms + emd2), seconds")
    w2_grid = distances.Grid.from_settings(GridSettings.from_config(config["evaluation"],
                                                                  "evaluation"))
    rng = np.random.default_rng(0)
    for n in (sampling_config["n_samples"], 200_000):
        reference = sample_dataset(name, n, 1)
        # model-like samples: the data set blurred a little, so the two histograms differ
        samples = (sample_dataset(name, n, 2) + 0.05 * rng.standard_normal((n, 2))).astype(
            np.float32)
        best, values = w2_seconds(samples, reference, w2_grid, arguments.repeats)
        report(f"{n} points per set (values: "
               + ", ".join(f"{v:.15g}" for v in values.values()) + ")", best)
        if n == sampling_config["n_samples"]:
            evaluation = W2Settings.from_config(config["evaluation"], "evaluation")
            report(f"{n} points per set, the plug-in and its debiased estimate (w2_debiased)",
                   debiased_seconds(samples, reference, evaluation, arguments.repeats))

    if arguments.skip_job or device.type != "cpu":
        return
    print("\n4. one evaluation job (evaluate.py in a fresh process, imports included), seconds")
    with tempfile.TemporaryDirectory() as workdir:
        seconds, results, imports = evaluation_job(config, name, process, data, Path(workdir))
    report("all metrics of one run at the config's settings", seconds)
    print(f"    start-up: python + imports of the evaluation job's modules {imports:.2f} s")
    keys = [k for k in next(iter(results.values())) if k.startswith(("fp_residual", "nll_nats",
                                                                     "dsm_loss", "w2sq"))]
    for key in keys:
        print(f"    {key:28s} " + "  ".join(f"{r[key]:.6g}" for r in results.values()))

    print("\n5. torch.compile per process (compile and run one small training loss)")
    with tempfile.TemporaryDirectory() as cache:
        cold = compile_seconds(Path(cache))
        warm = compile_seconds(Path(cache))
    print(f"    fresh inductor cache {cold:.1f} s; the same cache in a new process {warm:.1f} s")

    print("\n6. start-up per job kind (a fresh process importing what the script imports, "
          "best of 3)")
    startup_table(arguments.config)


if __name__ == "__main__":
    main()
