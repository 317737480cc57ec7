"""Devices, checked on the CPU with fake GPU counts: the config's device and GPU request are
refused before any job when the machine cannot meet them, `cuda:N` is honoured, concurrent jobs
on a multi-GPU machine take distinct GPUs, and CUDA-only checks run where CUDA exists."""

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from odesdegap import devices, runtime
from odesdegap.config_checks import ConfigError, checked
from odesdegap.engine import REFERENCE

REPO = Path(__file__).resolve().parents[1]
requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def test_gpu_request_without_cuda_names_the_build_and_what_it_needs(monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    (problem,) = devices.device_problems("auto", 1, cuda_available=False, device_count=0)
    assert "compute.gpus is 1" in problem and "CUDA 13.0" in problem
    assert "driver recent enough for CUDA 13.0" in problem
    monkeypatch.setattr(torch.version, "cuda", None)
    (problem,) = devices.device_problems("cuda", 0, cuda_available=False, device_count=0)
    assert "CPU-only build" in problem and "device is 'cuda'" in problem


@pytest.mark.parametrize(("device", "gpus", "count", "expected"), [
    ("auto", 0, 0, []), ("cpu", 0, 2, []), ("cuda:1", 1, 2, []), ("auto", 1, 1, []),
    ("cuda:2", 1, 2, ["this machine has 2 CUDA device(s)"]),
    ("cpu", 1, 2, ["expected 0 with device 'cpu'"]),
    ("gpu", 0, 1, ["expected auto, cpu, cuda or cuda:N"]),
])
def test_device_problems(device, gpus, count, expected):
    problems = devices.device_problems(device, gpus, cuda_available=count > 0,
                                       device_count=count)
    assert len(problems) == len(expected)
    for problem, text in zip(problems, expected, strict=True):
        assert text in problem


def test_the_schema_accepts_cuda_n_and_refuses_other_names():
    base = {"datasets": ["mixture"], "fp_weights": [0.0], "seeds": [0]}
    assert checked({**base, "device": "cuda:3"})["device"] == "cuda:3"
    with pytest.raises(ConfigError, match="'device' has value 'cuda3': expected one of 'auto', "
                       "'cpu', 'cuda', a name matching"):
        checked({**base, "device": "cuda3"})


def test_a_gpu_job_on_a_node_without_cuda_stops_with_the_message(monkeypatch, capfd):
    """On a cluster the submitting node skips the device check (workflow/Snakefile); the job's
    own check on its node stops it with that message and exit status 1, no traceback."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    sm = SimpleNamespace(threads=1, config={"device": "auto"}, resources=SimpleNamespace(gpu=1))
    with pytest.raises(SystemExit) as stopped:
        runtime.job_device(sm)
    assert stopped.value.code == 1
    assert "Error: the config asks for a GPU (compute.gpus is 1)" in capfd.readouterr().err


def test_resolve_device_without_cuda(tmp_path):
    assert devices.resolve_device("auto", 0, cuda_available=False, device_count=0) \
        == torch.device("cpu")
    with pytest.raises(RuntimeError, match="finds no usable CUDA device"):
        devices.resolve_device("auto", 1, cuda_available=False, device_count=0)
    assert devices.resolve_device("cuda:1", 1, cuda_available=True, device_count=2) \
        == torch.device("cuda:1")
    # A scheduler that pinned the job (CUDA_VISIBLE_DEVICES): its first visible GPU, no pool.
    assert devices.resolve_device("cuda", 1, cuda_available=True, device_count=4,
                                  scheduler_pinned=True, directory=tmp_path) \
        == torch.device("cuda:0")
    assert not list(tmp_path.iterdir())


def test_concurrent_jobs_claim_distinct_gpus(tmp_path):
    held = [devices.claim_gpu(3, tmp_path, timeout_seconds=0) for _ in range(3)]
    assert sorted(index for index, _ in held) == [0, 1, 2]
    with pytest.raises(TimeoutError, match="all 3 GPU"):
        devices.claim_gpu(3, tmp_path, poll_seconds=0.01, timeout_seconds=0.05)
    held[1][1].close()  # the job on GPU 1 ends
    index, handle = devices.claim_gpu(3, tmp_path, timeout_seconds=0)
    assert index == 1
    for _, other in [*held[:1], *held[2:], (index, handle)]:
        other.close()


CLAIM = """
import sys, time
sys.path.insert(0, {scripts!r})
from odesdegap import devices
index, handle = devices.claim_gpu(4, {directory!r}, poll_seconds=0.05, timeout_seconds=30)
print(index, flush=True)
time.sleep({hold})
"""


@pytest.mark.slow
def test_separate_processes_get_distinct_gpus_and_a_dead_job_frees_its_gpu(tmp_path):
    """Four jobs on a fake 4-GPU machine, as Snakemake would start them: each its own GPU; a
    fifth waits, and gets the GPU of the first job that ends (killed, here)."""
    script = CLAIM.format(scripts=str(REPO / "workflow_scripts"), directory=str(tmp_path),
                          hold=60)
    jobs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
            for _ in range(4)]
    try:
        indices = [int(job.stdout.readline()) for job in jobs]
        assert sorted(indices) == [0, 1, 2, 3]
        fifth = subprocess.Popen(
            [sys.executable, "-c", script.replace("time.sleep(60)", "time.sleep(0)")],
            stdout=subprocess.PIPE, text=True)
        jobs[2].kill()
        jobs[2].wait()
        assert int(fifth.stdout.readline()) == indices[2]
        fifth.wait(timeout=30)
    finally:
        for job in jobs:
            job.kill()
            job.wait()


@pytest.mark.slow
def test_a_gpu_config_on_a_machine_without_cuda_stops_before_any_job(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    (tmp_path / "gpu.yaml").write_text("compute: {gpus: 1}\n")
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "-s", str(REPO / "Snakefile"),
         "-d", str(tmp_path), "--configfile", str(REPO / ".test/smoke.yaml"),
         str(tmp_path / "gpu.yaml")], capture_output=True, text=True)
    assert result.returncode != 0
    assert "finds no usable CUDA device" in result.stderr
    assert (torch.version.cuda or "CPU-only build") in result.stderr
    assert not (tmp_path / "results").exists()  # no job ran


def test_determinism_settings_are_recorded():
    record = devices.determinism_record(torch.device("cpu"), "bf16")
    assert record["precision"] == "bf16" and record["device"] == "cpu"
    assert {"cudnn_deterministic", "cudnn_benchmark", "deterministic_algorithms",
            "cublas_workspace_config", "torch_cuda_build"} <= set(record)


@pytest.mark.cuda
@requires_cuda
def test_setup_on_cuda_applies_the_determinism_settings():
    device = devices.setup(1, "cuda", gpus=1)
    try:
        assert device.type == "cuda"
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        assert torch.are_deterministic_algorithms_enabled()
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == devices.CUBLAS_WORKSPACE
        record = devices.determinism_record(device)
        assert record["gpu"] == torch.cuda.get_device_name(device)
    finally:
        torch.use_deterministic_algorithms(False)


@pytest.mark.cuda
@requires_cuda
def test_training_on_cuda_repeats_exactly(tmp_path):
    from odesdegap.config import from_schema_defaults
    from odesdegap.diffusion.processes import OrnsteinUhlenbeck
    from odesdegap.diffusion.training import train
    from odesdegap.models import PotentialMLP
    from odesdegap.settings import TrainingSettings

    device = devices.setup(1, "cuda", gpus=1)
    data = torch.randn(2000, 2)
    settings = from_schema_defaults(
        TrainingSettings, "training", steps=30, batch_size=256, learning_rate=1e-3,
        lr_milestones=[],
        residual=dict(collocation_points=128, points_per_time=16, noised_fraction=0.0))
    weights = []
    for run in range(2):
        torch.manual_seed(0)
        model = PotentialMLP(2, hidden_width=32, hidden_layers=3, softplus_beta=100.0,
                             gaussian_baseline=False)
        train(model, OrnsteinUhlenbeck(), data, settings, 1.0, 0, device, tmp_path / f"{run}.pt",
              {}, engine=REFERENCE)
        weights.append([p.detach().cpu() for p in model.parameters()])
    torch.use_deterministic_algorithms(False)
    assert all(torch.equal(a, b) for a, b in zip(*weights, strict=True))
