"""`profiles/slurm` end to end on a real SLURM: the throwaway one-node cluster of
tools/slurm_one_node.py (the `slurm_cluster` fixture; skips where it cannot start, fails in CI).

A run sized for the scheduler (.test/smoke_slurm.yaml: the smoke preset's sizes, one data set,
both weights, one seed, the ode and sde samplers) goes once through the profile: every compute
job goes through sbatch, the localrules stay local, the metrics equal the matching rows of the
session's shared local smoke run (fixture `smoke_run`), and `--report` works after it. Then the
failure drills: a training job cancelled mid-run and one past its time limit both resume from
their checkpoints on the retry (with more time after a time limit), and `compute.gpus: 1`
sends the torch jobs (only those) to the gpu partition with a GPU request, where each stops,
finding no CUDA, with the project's own message and without losing anything already computed.
What SLURM recorded is read with `scontrol show job` (the test cluster keeps finished jobs for
an hour: MinJobAge).
"""

import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from test_cluster import LOCAL_RULES, TORCH_RULES
from workflow_runs import make_checkout, rows_of, without_timing

REPO = Path(__file__).resolve().parents[1]
# The preset of every run here: the smoke preset's sizes on fewer runs and samplers (the
# scheduler's behaviour does not need all of them); its runs are runs of the smoke preset.
PRESET = ".test/smoke_slurm.yaml"
MODEL = "results/models/mixture/w1/seed0/model.pt"
TRAIN_LOG = "results/logs/train/mixture/w1/seed0.log"
CHECKPOINT = "results/checkpoints/mixture/w1/seed0.pt"
# The profile as it is; only the first status check comes after 2 s instead of 40, for speed
# (the test cluster's MinJobAge keeps the plugin on squeue, as the profile asks).
PROFILE = ["--profile", "profiles/slurm", "--slurm-init-seconds-before-status-checks", "2"]
SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (\d+)")
RESUMED = re.compile(r"resuming from checkpoint at step (\d+)")

pytestmark = [pytest.mark.slurm, pytest.mark.workflow]


def snakemake(checkout: Path, *args: str, env=None, check=True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=checkout, env=env,
                            capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout}\n"
                             f"{result.stderr[-8000:]}")
    return result


def on_cluster(cluster, checkout: Path, *args: str, check=True) -> subprocess.CompletedProcess:
    return snakemake(checkout, *PROFILE, "--configfile", PRESET, *args, env=cluster.env,
                     check=check)


def rule_of(record: dict) -> str:
    """The rule of a job the plugin submitted (its comment: rule_<name>_wildcards_<values>)."""
    return re.fullmatch(r"rule_(.+?)(?:_wildcards_.*)?", record["Comment"]).group(1)


def submitted(cluster, log: str) -> dict[str, dict]:
    """SLURM job id -> what SLURM recorded (`scontrol show job`), for each job in the log."""
    return {job_id: cluster.job(job_id) for job_id in SUBMITTED.findall(log)}


def rules_run(log: str, kind: str) -> Counter:
    """How many jobs of each rule Snakemake's log started as `rule` or as `localrule`."""
    return Counter(re.findall(rf"^{kind} (\w+):$", log, flags=re.M))


@pytest.fixture(scope="module")
def cluster_run(slurm_cluster, tmp_path_factory):
    """PRESET through profiles/slurm: (checkout, Snakemake's log, its jobs)."""
    checkout = make_checkout(tmp_path_factory.mktemp("cluster"))
    started = time.monotonic()
    result = on_cluster(slurm_cluster, checkout)
    print(f"{PRESET} on SLURM: {time.monotonic() - started:.0f} s")
    return checkout, result.stderr, submitted(slurm_cluster, result.stderr)


def test_every_compute_job_is_submitted_and_local_rules_stay_local(cluster_run):
    checkout, log, jobs = cluster_run
    remote, local = rules_run(log, "rule"), rules_run(log, "localrule")
    assert remote and local and sum(remote.values()) == len(jobs)
    assert Counter(rule_of(record) for record in jobs.values()) == remote
    assert set(local) <= LOCAL_RULES | {"all"} and not set(remote) & LOCAL_RULES
    for record in jobs.values():
        assert record["JobState"] == "COMPLETED", record
        assert record["Partition"] == "cpu" and "gpu" not in record.get("TresPerJob", ""), record
    assert (checkout / "results/tables/metrics.csv").exists()


def test_the_metrics_equal_the_local_smoke_runs_rows(cluster_run, smoke_run):
    """Value by value: each run's row on SLURM is that run's row in the shared local smoke run
    (a run's results do not depend on the other runs of its config)."""
    on_slurm = pd.read_csv(cluster_run[0] / "results/tables/metrics.csv")
    preset = yaml.safe_load((REPO / PRESET).read_text())
    assert len(on_slurm) == len(preset["datasets"]) * len(preset["fp_weights"]) * len(
        preset["seeds"]) == 2
    here = rows_of(pd.read_csv(smoke_run / "results/tables/metrics.csv"), on_slurm)
    pd.testing.assert_frame_equal(without_timing(here), without_timing(on_slurm))


def test_the_report_builds_after_the_cluster_run(cluster_run, slurm_cluster):
    checkout = cluster_run[0]
    on_cluster(slurm_cluster, checkout, "--report", "results/report.html")
    report = (checkout / "results/report.html").read_text()
    assert "metrics.csv" in report and "headline" in report


def test_gpu_jobs_go_to_the_gpu_partition_and_stop_without_cuda(cluster_run, slurm_cluster):
    """compute.gpus: 1 with a second seed to compute: the new torch jobs are submitted to the
    gpu partition with a GPU, find no CUDA on the node and stop with the project's message; the
    finished results are untouched."""
    checkout = cluster_run[0]
    (checkout / "gpu.yaml").write_text("seeds: [0, 1]\ncompute: {gpus: 1}\n")
    before = {path: path.read_bytes() for path in (checkout / "results").rglob("*")
              if path.is_file()}
    result = on_cluster(slurm_cluster, checkout, "gpu.yaml", check=False)
    assert result.returncode != 0
    jobs = submitted(slurm_cluster, result.stderr)
    rules = {job_id: rule_of(record) for job_id, record in jobs.items()}
    assert "train" in rules.values() and not set(rules.values()) & LOCAL_RULES
    for job_id, record in jobs.items():
        if rules[job_id] in TORCH_RULES:
            assert record["Partition"] == "gpu" and "gres:gpu:1" in record["TresPerJob"], record
            assert record["JobState"] == "FAILED", record
            slurm_log = Path(record["StdOut"]).read_text()
            assert "finds no usable CUDA device" in slurm_log and "Traceback" not in slurm_log
        else:
            assert record["Partition"] == "cpu" and "TresPerJob" not in record, record
    for dataset in yaml.safe_load((REPO / PRESET).read_text())["datasets"]:
        log = (checkout / f"results/logs/train/{dataset}/w1/seed1.log").read_text()
        assert "the config asks for a GPU (compute.gpus is 1)" in log, log
        assert "Traceback" not in log
    assert "Traceback" not in result.stderr
    assert {path: path.read_bytes() for path in before} == before


def cancel_when(cluster, process: subprocess.Popen, ready, timeout: float = 600) -> str:
    """Wait for `ready()`, then scancel the running training job; its SLURM job id."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, "the run ended before the job could be cancelled"
        assert time.monotonic() < deadline, "timed out waiting to cancel"
        time.sleep(0.1)
    running = cluster.run("squeue", "-h", "-t", "R", "-o", "%i|%k").stdout.split()
    (job_id,) = [line.split("|")[0] for line in running if "rule_train_" in line]
    cluster.run("scancel", job_id)
    return job_id


def test_a_cancelled_training_job_resumes_to_the_uninterrupted_weights(slurm_cluster, smoke_run,
                                                                      tmp_path):
    checkout = make_checkout(tmp_path / "cancelled")
    (checkout / "often.yaml").write_text("training: {checkpoint_every: 10}\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "snakemake", *PROFILE, "--configfile", PRESET, "often.yaml",
         "--", MODEL], cwd=checkout, env=slurm_cluster.env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    try:
        cancelled = cancel_when(slurm_cluster, process, (checkout / CHECKPOINT).exists)
        log = process.communicate(timeout=600)[1]
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)
    assert process.returncode == 0, log[-5000:]
    jobs = submitted(slurm_cluster, log)
    assert list(jobs)[0] == cancelled and len(jobs) == 2, log[-5000:]
    assert [record["JobState"] for record in jobs.values()] == ["CANCELLED", "COMPLETED"]
    step = int(RESUMED.search((checkout / TRAIN_LOG).read_text()).group(1))
    assert 0 < step < 200
    print(f"scancel drill: job {cancelled} cancelled, the retry resumed from step {step}")
    a = torch.load(smoke_run / MODEL, weights_only=True)
    b = torch.load(checkout / MODEL, weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_training_job_past_its_time_limit_resumes_with_more_time(slurm_cluster, cluster_run,
                                                                   tmp_path):
    """Training of about 200 s under a 1-minute limit: SLURM sends SIGTERM at the limit
    (checked every 30 s or so: 60 to 90 s after the start), training checkpoints where it is (it
    has no periodic checkpoint) and exits; the retry asks for 2 minutes and resumes, and should
    that end at its limit too, the next asks for 3 and resumes again. The steps are paced by
    the same training in this module's cluster run, minutes before on the same node (the shared
    local smoke run may have run long before, under another load). The pace of a later minute
    can differ by the load of the other test worker (`make test` runs two): 200 s at that pace
    leave room for twice the speed (still past 90 s) and for 1.8 times the slowness (3 attempts
    give at least 60 + 120 + 180 s)."""
    history = pd.read_csv(cluster_run[0] / "results/models/mixture/w1/seed0/training_log.csv")
    steps = int(200 * history.step.iloc[-1] / history.elapsed_s.iloc[-1])
    checkout = make_checkout(tmp_path / "timeout")
    (checkout / "long.yaml").write_text(
        f"compute: {{runtime_minutes: 1}}\ntraining: {{steps: {steps}, "
        f"checkpoint_every: {10 * steps}}}\n")
    result = on_cluster(slurm_cluster, checkout, "long.yaml", "--retries", "2", "--", MODEL)
    jobs = list(submitted(slurm_cluster, result.stderr).values())
    states = [(r["JobState"], r["TimeLimit"]) for r in jobs]
    assert 2 <= len(jobs) <= 3, states
    assert states == [("TIMEOUT", f"00:0{minutes}:00") for minutes in range(1, len(jobs))] + [
        ("COMPLETED", f"00:0{len(jobs)}:00")], result.stderr[-5000:]
    saved = []
    for record in jobs[:-1]:
        slurm_log = Path(record["StdOut"]).read_text()
        assert "DUE TO TIME LIMIT" in slurm_log
        saved.append(int(re.search(r"SIGTERM received: training state saved at step (\d+)",
                                   slurm_log).group(1)))
    resumed = [int(step) for step in RESUMED.findall((checkout / TRAIN_LOG).read_text())]
    assert resumed == saved  # each retry starts where the attempt before it stopped
    assert all(a < b for a, b in zip([0, *saved], [*saved, steps], strict=True)), (saved, steps)
    assert (checkout / MODEL).exists() and not (checkout / CHECKPOINT).exists()
    print(f"time limit drill: {steps} steps, {len(jobs)} jobs, SIGTERM at steps {saved}")


def test_stop_leaves_no_daemon_running(slurm_cluster, tmp_path):
    """The session's cluster is stopped at the session's end (and .ci/run checks that no daemon
    is left); here a second one is started and stopped: none of its PIDs is left."""
    from slurm_one_node import OneNodeSlurm

    cluster = OneNodeSlurm.start(tmp_path / "cluster")
    pids = cluster.pids()
    assert set(pids) == {"munged", "slurmctld", "slurmd"}
    cluster.stop()
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids.values())
    assert not cluster.pidfile.exists()
