"""`profiles/slurm` end to end on a real SLURM: the throwaway one-node cluster of
tools/slurm_one_node.py (the `slurm_cluster` fixture; skips where it cannot start, fails in CI).

A run sized for the scheduler (.test/smoke_slurm.yaml: the smoke preset's sizes, one data set,
both weights, one seed, the ode and sde samplers) goes once through the profile: every compute
job goes through sbatch, the localrules stay local, the metrics equal the matching rows of the
session's shared local smoke run (fixture `smoke_run`), and `--report` works after it;
`compute.gpus: 1` sends the torch jobs (only those) to the gpu partition with a GPU request,
where each stops, finding no CUDA, with the project's own message and without losing anything
already computed.

Then the scheduler's edges (docs/clusters.md), each on one training job whose training holds
before a chosen step until SIGTERM (HeldRun): scancel; the time limit mid-training; a training
that finishes in the grace window between its time limit and the kill (SLURM records TIMEOUT
and Snakemake deletes the model; the retry resumes at the last step); `scontrol requeue`; the
training SIGKILLed (a lost node); a second Snakemake on the same results. Each retry ends with
the uninterrupted run's weights. Nothing here waits on the machine's pace but the jobs'
start-up. What SLURM recorded is read with `scontrol show job` (the test cluster keeps finished
jobs for an hour: MinJobAge).
"""

import os
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

from odesdegap.diffusion.training import HOLD_VARIABLE
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
STEPS = yaml.safe_load((REPO / PRESET).read_text())["training"]["steps"]

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


class HeldRun:
    """MODEL through the profile in a checkout of its own, in the background, with its training
    held once `hold_step` steps are done, until SIGTERM (the drill hook, HOLD_VARIABLE): the
    drill acts on the job at a step it chose, and SLURM's signal (a time limit, scancel, requeue)
    is what lets the training go on, whatever the machine's pace. Snakemake's log goes to a
    file (a pipe could fill while the drill waits)."""

    def __init__(self, cluster, checkout: Path, hold_step: int, overlay: str):
        self.cluster, self.checkout = cluster, checkout
        self.marker = checkout / "held"
        (checkout / "drill.yaml").write_text(overlay)
        self.log_path = checkout / "snakemake.log"
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "snakemake", *PROFILE, "--configfile", PRESET,
                 "drill.yaml", "--", MODEL], cwd=checkout, stdout=subprocess.DEVNULL,
                stderr=log, env={**cluster.env, HOLD_VARIABLE: f"{hold_step}:{self.marker}"})

    def held(self, timeout: float = 300) -> int:
        """Wait until the training holds; the PID of its process."""
        deadline = time.monotonic() + timeout
        while not self.marker.exists():
            assert self.process.poll() is None, f"the run ended first:\n{self.log()[-5000:]}"
            assert time.monotonic() < deadline, "the training never reached its hold"
            time.sleep(0.1)
        return int(self.marker.read_text().split()[0])

    def training_job(self) -> str:
        """The SLURM job id of the running training job."""
        running = self.cluster.run("squeue", "-h", "-t", "R", "-o", "%i|%k").stdout.split()
        (job_id,) = [line.split("|")[0] for line in running if "rule_train_" in line]
        return job_id

    def finish(self, timeout: float = 600) -> str:
        """Wait for the run to end; Snakemake's log."""
        self.process.wait(timeout=timeout)
        return self.log()

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # Snakemake cancels its SLURM jobs
            self.process.wait(timeout=60)


@pytest.fixture
def held_runs(slurm_cluster, tmp_path):
    """Start HeldRuns by name (`start(name, hold_step, overlay)`); each is stopped at the end."""
    runs = []

    def start(name: str, hold_step: int, overlay: str = "{}\n") -> HeldRun:
        runs.append(HeldRun(slurm_cluster, make_checkout(tmp_path / name), hold_step, overlay))
        return runs[-1]

    yield start
    for run in runs:
        run.stop()


def same_weights(a: Path, b: Path) -> bool:
    a, b = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def resumed_at(checkout: Path) -> list[int]:
    """The steps the training job's log says it resumed at (the last attempt writes it)."""
    return [int(step) for step in RESUMED.findall((checkout / TRAIN_LOG).read_text())]


def assert_nothing_corrupt_was_read(checkout: Path) -> None:
    assert "cannot read checkpoint" not in (checkout / TRAIN_LOG).read_text()
    assert not list((checkout / "results/checkpoints").rglob("*.unreadable-*"))


def test_a_cancelled_training_job_resumes_to_the_uninterrupted_weights(held_runs, smoke_run):
    """scancel of the training held before step 120: it finishes that step, saves its state at
    121 and exits; the retry resumes there and ends with the uninterrupted run's weights."""
    run = held_runs("cancelled", 120)
    run.held()
    cancelled = run.training_job()
    run.cluster.run("scancel", cancelled)
    log = run.finish()
    assert run.process.returncode == 0, log[-5000:]
    jobs = submitted(run.cluster, log)
    assert list(jobs)[0] == cancelled and len(jobs) == 2, log[-5000:]
    assert [record["JobState"] for record in jobs.values()] == ["CANCELLED", "COMPLETED"]
    assert resumed_at(run.checkout) == [121]
    assert same_weights(smoke_run / MODEL, run.checkout / MODEL)
    assert not (run.checkout / CHECKPOINT).exists()  # accepted: the checkpoint has served


@pytest.fixture(scope="module")
def time_limited_runs(slurm_cluster, tmp_path_factory):
    """The two time-limit drills' runs, side by side (each waits for the same minute): the
    training held mid-way (before step 120) and the training held after its last step (and its
    final checkpoint), both under a 1-minute limit. Only SLURM's SIGTERM at the limit lets
    either go on. Their runs, logs and SLURM's records, by name."""
    root = tmp_path_factory.mktemp("time_limits")
    # no periodic checkpoint in the grace run: what the retry finds is the final state or nothing
    runs = {name: HeldRun(slurm_cluster, make_checkout(root / name), step,
                          f"compute: {{runtime_minutes: 1}}\ntraining: {{checkpoint_every: "
                          f"{every}}}\n")
            for name, step, every in (("mid_way", 120, 50), ("grace", STEPS, 1000))}
    try:
        started = time.monotonic()
        logs = {name: run.finish(timeout=900) for name, run in runs.items()}
        print(f"the time-limit drills: {time.monotonic() - started:.0f} s")
    finally:
        for run in runs.values():
            run.stop()
    return {name: (run, logs[name], list(submitted(slurm_cluster, logs[name]).values()))
            for name, run in runs.items()}


def test_a_training_job_past_its_time_limit_resumes_with_more_time(time_limited_runs,
                                                                   smoke_run):
    """SLURM ends the held training at its 1-minute limit (SIGTERM: it saves its state at step
    121 and exits); the retry asks for 2 minutes, resumes at 121 and completes."""
    run, log, jobs = time_limited_runs["mid_way"]
    assert run.process.returncode == 0, log[-5000:]
    states = [(r["JobState"], r["TimeLimit"]) for r in jobs]
    assert states == [("TIMEOUT", "00:01:00"), ("COMPLETED", "00:02:00")], log[-5000:]
    slurm_log = Path(jobs[0]["StdOut"]).read_text()
    assert "DUE TO TIME LIMIT" in slurm_log
    assert "SIGTERM received: training state saved at step 121" in slurm_log
    assert resumed_at(run.checkout) == [121]
    assert same_weights(smoke_run / MODEL, run.checkout / MODEL)
    assert not (run.checkout / CHECKPOINT).exists()


def test_a_training_that_finishes_in_the_grace_window_keeps_its_work(time_limited_runs,
                                                                    smoke_run):
    """The training held after its last step: SLURM's SIGTERM at the limit finds every step
    done, so the job goes on to write its model in the grace window (no `SIGTERM received`:
    nothing was interrupted), but SLURM records TIMEOUT and Snakemake deletes the model. The
    final state is still the checkpoint, so the retry resumes at the last step (its log says
    so) and ends at once, with the uninterrupted run's weights. (Whether the first job gets to
    exit 0 before the kill is up to srun: on getting SIGTERM itself it may kill the step at once,
    "forcing job termination"; either way its work is the final checkpoint's, and the drill
    prints which it was.)"""
    run, log, jobs = time_limited_runs["grace"]
    assert run.process.returncode == 0, log[-5000:]
    states = [(r["JobState"], r["TimeLimit"]) for r in jobs]
    assert states == [("TIMEOUT", "00:01:00"), ("COMPLETED", "00:02:00")], log[-5000:]
    slurm_log = Path(jobs[0]["StdOut"]).read_text()
    assert "DUE TO TIME LIMIT" in slurm_log and "SIGTERM received" not in slurm_log
    assert resumed_at(run.checkout) == [STEPS]
    assert same_weights(smoke_run / MODEL, run.checkout / MODEL)
    assert not (run.checkout / CHECKPOINT).exists()
    finished = "Finished jobid: 0 (Rule: train)" in slurm_log
    print(f"grace window drill: the first job {'exited 0' if finished else 'was killed'} "
          "after its limit; the retry resumed at the last step")


@pytest.fixture(scope="module")
def requeued_run(slurm_cluster, tmp_path_factory):
    """A training held before step 120, and while it holds: a second Snakemake on the same
    checkout (its result), then `scontrol requeue` of the job (pre-emption's requeue). SLURM
    holds a requeued job for its credential lifetime (cred_expire, 120 s) before it may start
    again; the drill lets it start at once (`scontrol update StartTime=now`: "BeginTime" is
    refused)."""
    run = HeldRun(slurm_cluster, make_checkout(tmp_path_factory.mktemp("requeued")), 120, "{}\n")
    try:
        run.held()
        job_id = run.training_job()
        second = on_cluster(slurm_cluster, run.checkout, "--", MODEL, check=False)
        slurm_cluster.run("scontrol", "requeue", job_id)
        deadline = time.monotonic() + 60
        while slurm_cluster.job(job_id)["JobState"] != "PENDING":
            assert time.monotonic() < deadline, slurm_cluster.job(job_id)
            time.sleep(0.2)
        slurm_cluster.run("scontrol", "update", f"JobId={job_id}", "StartTime=now")
        log = run.finish()
    finally:
        run.stop()
    return run, log, second


def test_a_requeued_training_job_resumes_from_its_checkpoint(requeued_run, slurm_cluster,
                                                            smoke_run):
    """The requeued job runs again under the same job id (Snakemake sees it running all along):
    the training saved its state at SIGTERM and the second run of the job resumes there."""
    run, log, _ = requeued_run
    assert run.process.returncode == 0, log[-5000:]
    jobs = submitted(slurm_cluster, log)
    assert len(jobs) == 1, log[-5000:]
    (record,) = jobs.values()
    assert record["JobState"] == "COMPLETED" and record["Restarts"] == "1", record
    assert resumed_at(run.checkout) == [121]
    assert same_weights(smoke_run / MODEL, run.checkout / MODEL)


def test_a_second_invocation_on_the_same_results_stops_at_the_lock(requeued_run, slurm_cluster,
                                                                   smoke_run):
    """The second Snakemake stops with Snakemake's lock message and submits nothing; the first
    goes on to the uninterrupted run's weights."""
    run, log, second = requeued_run
    assert second.returncode != 0
    assert "Error: Directory cannot be locked" in second.stderr, second.stderr[-3000:]
    assert not SUBMITTED.search(second.stderr)
    assert run.process.returncode == 0 and len(submitted(slurm_cluster, log)) == 1
    assert same_weights(smoke_run / MODEL, run.checkout / MODEL)


def test_a_training_killed_without_sigterm_resumes_from_its_last_periodic_checkpoint(
        held_runs, smoke_run):
    """The node lost mid-job, as the job sees it: the training's process SIGKILLed (no SIGTERM,
    no chance to save) while it holds before step 120. The job fails; the retry resumes from the
    last periodic checkpoint (step 100: checkpoint_every 50), written whole (atomically), so
    nothing unreadable is found, and ends with the uninterrupted run's weights."""
    run = held_runs("killed", 120, "training: {checkpoint_every: 50}\n")
    os.kill(run.held(), signal.SIGKILL)
    log = run.finish()
    assert run.process.returncode == 0, log[-5000:]
    jobs = list(submitted(run.cluster, log).values())
    assert [record["JobState"] for record in jobs] == ["FAILED", "COMPLETED"], log[-5000:]
    assert resumed_at(run.checkout) == [100]
    assert_nothing_corrupt_was_read(run.checkout)
    assert same_weights(smoke_run / MODEL, run.checkout / MODEL)


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
