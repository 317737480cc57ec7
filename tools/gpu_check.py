"""The GPU check (`make gpu-check`): what a GPU machine gives this workflow, as a Markdown record.

1. the CUDA-marked tests (`pytest -m cuda`; they skip without CUDA),
2. the speed benchmark (benchmarks/speed.py) on `cuda` at the preset's shapes,
3. a short run at the preset's real shapes (batch size, collocation points, points per time,
   model) of one data set: training steps per second (DSM only, and DSM + FP residual),
   sampling samples per second (ODE and SDE, the preset's time grid), peak GPU memory,
4. the hours presets/paper.yaml would take, projected from those figures,

plus the machine (GPU model, driver, torch and CUDA versions). Without CUDA it still runs:
parts 1 and 2 are reported as skipped, and part 3 runs on the CPU at reduced shapes (--tiny
sizes), labelled as such and not projected. Writes results/gpu_check.md by default.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow_scripts"))

from odesdegap.config_checks import checked  # noqa: E402
from odesdegap.data.datasets import image_shape, sample_dataset  # noqa: E402
from odesdegap.diffusion.processes import build_process  # noqa: E402
from odesdegap.diffusion.samplers import TimeGrid, sample, sampler  # noqa: E402
from odesdegap.diffusion.training import train  # noqa: E402
from odesdegap.engine import REFERENCE  # noqa: E402
from odesdegap.models import build_model  # noqa: E402
from odesdegap.settings import SamplingSettings, TrainingSettings  # noqa: E402

# Reduced shapes of the CPU path (and of the test that runs it).
TINY = {"batch_size": 256, "collocation_points": 256, "points_per_time": 16,
        "sample_points": 2000, "sampler_steps": 50}


def preset_config(path: Path) -> dict:
    base = yaml.safe_load((REPO / "config.yaml").read_text())
    return checked({**base, **yaml.safe_load(Path(path).read_text())})


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def machine(device: torch.device) -> dict:
    facts = {
        "date (UTC)": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M"),
        "host": platform.node(),
        "CPU cores visible": str(len(__import__("os").sched_getaffinity(0))),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torch CUDA build": torch.version.cuda or "CPU-only build",
        "CUDA available": str(torch.cuda.is_available()),
    }
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        facts["GPU"] = f"{properties.name} ({properties.total_memory / 2**30:.0f} GiB)"
        facts["GPU count"] = str(torch.cuda.device_count())
        facts["cuDNN"] = str(torch.backends.cudnn.version())
        facts["NVIDIA driver"] = nvidia_driver()
    return facts


def nvidia_driver() -> str:
    if shutil.which("nvidia-smi") is None:
        return "unknown (nvidia-smi not found)"
    result = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                            capture_output=True, text=True)
    return result.stdout.strip().splitlines()[0] if result.returncode == 0 else "unknown"


def cuda_tests() -> tuple[str, int]:
    """`pytest -m cuda`: its summary line and exit status (5 = nothing collected)."""
    result = subprocess.run([sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-rs",
                             "-p", "no:cacheprovider"], cwd=REPO, capture_output=True, text=True)
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    return (lines[-1] if lines else result.stderr.strip()[-500:]), result.returncode


def benchmark(preset: Path, threads: int) -> tuple[str, int]:
    result = subprocess.run([sys.executable, str(REPO / "benchmarks/speed.py"),
                             "--device", "cuda", "--config", str(preset),
                             "--threads", str(threads)], cwd=REPO, capture_output=True,
                            text=True)
    return (result.stdout + result.stderr[-3000:]).strip(), result.returncode


def short_run(config: dict, dataset: str, device: torch.device, steps: int, tiny: bool) -> dict:
    """Training and sampling speed at the config's shapes (or TINY ones), on one data set."""
    process = build_process(config["process"])
    shape = image_shape(dataset)
    training, sampling = dict(config["training"]), dict(config["sampling"])
    residual = dict(training["residual"])
    n_samples = min(sampling["n_samples"], 200_000)
    if tiny:
        training["batch_size"] = TINY["batch_size"]
        residual.update(collocation_points=TINY["collocation_points"],
                        points_per_time=TINY["points_per_time"])
        n_samples = TINY["sample_points"]
        sampling.update(steps=TINY["sampler_steps"], refine_last=0)
    training["residual"] = residual
    n_data = max(training["batch_size"], 10_000 if tiny else 200_000)
    data = torch.as_tensor(sample_dataset(dataset, n_data, 0)) if shape is None else None
    if data is None:
        raise SystemExit(f"the short run takes a point data set; {dataset} is an image data set")
    dim = data.shape[1]
    figures = {"data set": dataset, "batch size": training["batch_size"],
               "collocation points": residual["collocation_points"],
               "points per time": residual["points_per_time"], "steps timed": steps}
    model = None
    with tempfile.TemporaryDirectory() as scratch:
        for label, weight in (("DSM only", 0.0), ("DSM + FP residual", 1.0)):
            torch.manual_seed(0)
            model = build_model(config["model"], dim=dim, process=process, image_shape=shape)
            model.fit_baseline(data)
            common = {**training, "checkpoint_every": 10**9, "log_every": 10**9,
                      "lr_milestones": []}
            warm = TrainingSettings.from_config({**common, "steps": 3}, "training")
            train(model, process, data, warm, weight, 0, device, Path(scratch) / "warm.pt", {},
                  engine=REFERENCE)
            settings = TrainingSettings.from_config({**common, "steps": steps}, "training")
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            synchronise(device)
            started = time.perf_counter()
            train(model, process, data, settings, weight, 0, device, Path(scratch) / "run.pt", {},
                  engine=REFERENCE)
            synchronise(device)
            figures[f"training steps/s, {label}"] = steps / (time.perf_counter() - started)
            if device.type == "cuda":
                figures[f"peak GPU memory, training {label} (MiB)"] = (
                    torch.cuda.max_memory_allocated(device) / 2**20)
    sampler_settings = SamplingSettings.from_config(
        {**sampling, "n_samples": n_samples,
         "chunk_size": min(sampling["chunk_size"], n_samples)}, "sampling")
    grid = TimeGrid.of_sampling(sampler_settings, process)
    figures["sampler time steps"] = len(grid.points()) - 1
    figures["samples drawn per sampler"] = n_samples
    for kind in ("ode", "sde"):
        synchronise(device)
        started = time.perf_counter()
        sample(sampler(kind), model, process, dim, sampler_settings, 0, device,
               engine=REFERENCE)
        synchronise(device)
        figures[f"sampling samples/s, {kind.upper()}"] = n_samples / (time.perf_counter()
                                                                      - started)
    return figures


def projected_hours(paper: dict, figures: dict) -> dict:
    """Training and sampling hours of presets/paper.yaml from the measured speeds (evaluation,
    data preparation and figures not included)."""
    n_runs = len(paper["datasets"]) * len(paper["seeds"])
    weights = [float(w) for w in paper["fp_weights"]]
    steps = paper["training"]["steps"]
    train_seconds = sum(
        steps / figures["training steps/s, " + ("DSM only" if w == 0 else "DSM + FP residual")]
        for w in weights) * n_runs
    per_run_samples = paper["sampling"]["n_samples"]
    sample_seconds = len(weights) * n_runs * per_run_samples * (
        1 / figures["sampling samples/s, ODE"] + 1 / figures["sampling samples/s, SDE"])
    return {"models": len(weights) * n_runs,
            "training (GPU-hours)": train_seconds / 3600,
            "sampling, ODE and SDE (GPU-hours)": sample_seconds / 3600,
            "total (GPU-hours)": (train_seconds + sample_seconds) / 3600}


def render(facts: dict, tests: tuple[str, int] | None, bench: tuple[str, int] | None,
           figures: dict, projection: dict | None, notes: list[str], preset: Path) -> str:
    lines = ["# GPU check", "", f"Written by `make gpu-check` (tools/gpu_check.py) from "
             f"{preset.relative_to(REPO) if preset.is_relative_to(REPO) else preset}.", ""]
    lines += [f"> {note}" for note in notes] + ([""] if notes else [])
    lines += ["## Machine", "", "| | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in facts.items()]
    lines += ["", "## CUDA-marked tests (`pytest -m cuda`)", ""]
    lines += [f"`{tests[0]}` (exit status {tests[1]})" if tests else "not run (--skip-tests)"]
    lines += ["", "## Speed benchmark on cuda (benchmarks/speed.py)", ""]
    if bench is None:
        lines += ["skipped: no CUDA device"]
    else:
        lines += [f"exit status {bench[1]}", "", "```", bench[0], "```"]
    lines += ["", "## Short run", "", "| measure | value |", "|---|---|"]
    lines += [f"| {key} | {value:,.1f} |" if isinstance(value, float) else f"| {key} | {value} |"
              for key, value in figures.items()]
    lines += ["", "## Projected cost of presets/paper.yaml", ""]
    if projection is None:
        lines += ["not projected: the short run did not use the paper's shapes on a GPU"]
    else:
        lines += ["Training and sampling only (evaluation, data preparation and figures are "
                  "extra), one job at a time on this GPU.", "", "| | |", "|---|---|"]
        lines += [f"| {key} | {value:,.1f} |" if isinstance(value, float)
                  else f"| {key} | {value} |" for key, value in projection.items()]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines += ["", f"Peak resident memory of the check: {peak:.0f} MB.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", type=Path, default=REPO / "presets/paper.yaml")
    parser.add_argument("--dataset", help="point data set of the short run (default: the "
                        "preset's first)")
    parser.add_argument("--steps", type=int, default=2000,
                        help="training steps timed per setting on CUDA")
    parser.add_argument("--cpu-steps", type=int, default=20,
                        help="training steps timed per setting on the CPU (reduced shapes)")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--output", type=Path, default=REPO / "results/gpu_check.md")
    parser.add_argument("--skip-tests", action="store_true",
                        help="do not run pytest -m cuda (the test of this script uses it)")
    arguments = parser.parse_args(argv)

    torch.set_num_threads(arguments.threads)
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    config = preset_config(arguments.preset)
    paper = preset_config(REPO / "presets/paper.yaml")
    dataset = arguments.dataset or config["datasets"][0]
    notes = []
    if not cuda:
        notes.append(f"No CUDA device here (torch {torch.__version__}, "
                     f"{torch.version.cuda and 'CUDA ' + torch.version.cuda or 'CPU-only build'})"
                     ": the CUDA tests skip, the cuda benchmark is skipped, and the short run "
                     "ran on the CPU at reduced shapes (not the preset's), so nothing is "
                     "projected. Run `make gpu-check` on a GPU machine for the real figures.")
    tests = None if arguments.skip_tests else cuda_tests()
    bench = benchmark(arguments.preset, arguments.threads) if cuda else None
    figures = short_run(config, dataset, device, arguments.steps if cuda else arguments.cpu_steps,
                        tiny=not cuda)
    projection = projected_hours(paper, figures) if cuda else None
    record = render(machine(device), tests, bench, figures, projection, notes,
                    arguments.preset.resolve())
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(record)
    print(record)
    print(f"written: {arguments.output}")
    return arguments.output


if __name__ == "__main__":
    main()
