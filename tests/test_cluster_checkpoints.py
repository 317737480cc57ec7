"""Checkpoints under a scheduler: SIGTERM (SLURM's time limit or pre-emption) saves the state
and exits non-zero so that the retry resumes; the final state stays as a checkpoint, so that a
job judged failed after it finished (SLURM's grace window) resumes at its last step; a
checkpoint that cannot be read (truncated by a node failure, written by another torch version)
is set aside with a warning instead of wedging every retry."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from odesdegap.config import from_schema_defaults
from odesdegap.data.datasets import sample_dataset
from odesdegap.diffusion.processes import OrnsteinUhlenbeck
from odesdegap.diffusion.training import HOLD_VARIABLE, train
from odesdegap.engine import REFERENCE
from odesdegap.io import weights
from odesdegap.models import PotentialMLP
from odesdegap.settings import TrainingSettings

REPO = Path(__file__).resolve().parents[1]
PROCESS = OrnsteinUhlenbeck()
CPU = torch.device("cpu")
DATA = torch.as_tensor(sample_dataset("mixture", 2000, 0))
FINGERPRINT = {"job": "sigterm-test"}


def _settings(steps, checkpoint_every=10**9):
    return from_schema_defaults(
        TrainingSettings, "training", steps=steps, batch_size=64, learning_rate=1e-3,
        lr_milestones=[], log_every=10, checkpoint_every=checkpoint_every,
        residual=dict(collocation_points=64, points_per_time=16, noised_fraction=0.0))


def _model():
    torch.manual_seed(0)
    return PotentialMLP(2, hidden_width=16, hidden_layers=3, softplus_beta=100.0,
                        gaussian_baseline=False)


def test_a_truncated_checkpoint_is_set_aside_and_training_starts_over(tmp_path, capsys):
    checkpoint = tmp_path / "run.pt"
    train(_model(), PROCESS, DATA, _settings(20, checkpoint_every=10), 1.0, 0, CPU, checkpoint,
          FINGERPRINT, engine=REFERENCE)
    # The final checkpoint (step 20) is still there; cut it short as a node failure would.
    data = checkpoint.read_bytes()
    checkpoint.write_bytes(data[: len(data) // 3])
    capsys.readouterr()

    straight = _model()
    history = train(straight, PROCESS, DATA, _settings(20), 1.0, 0, CPU, checkpoint, FINGERPRINT,
                    engine=REFERENCE)
    warning = capsys.readouterr().err
    aside = list(tmp_path.glob("run.pt.unreadable-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == data[: len(data) // 3]
    assert f"cannot read checkpoint {checkpoint}" in warning and str(aside[0]) in warning
    assert "resuming" not in warning
    assert history[0]["step"] == 0  # started over

    fresh = _model()
    train(fresh, PROCESS, DATA, _settings(20), 1.0, 0, CPU, tmp_path / "fresh.pt", FINGERPRINT,
          engine=REFERENCE)
    assert all(torch.equal(a, b) for a, b in zip(straight.parameters(), fresh.parameters(),
                                                 strict=True))


def test_the_final_state_stays_as_a_checkpoint_and_a_retry_ends_at_once(tmp_path, capsys):
    """A job that finished and was then judged failed (TIMEOUT in SLURM's grace window, its
    outputs deleted by Snakemake) is retried: it resumes at the last step, trains no step and
    returns the same weights and history. The checkpoint stays tied to its settings: a job with
    other settings does not resume from it."""
    checkpoint = tmp_path / "run.pt"
    finished = _model()
    history = train(finished, PROCESS, DATA, _settings(20), 1.0, 0, CPU, checkpoint,
                    FINGERPRINT, engine=REFERENCE)
    assert weights.load_checkpoint(checkpoint, FINGERPRINT)["step"] == 20
    capsys.readouterr()

    retried = _model()
    assert train(retried, PROCESS, DATA, _settings(20), 1.0, 0, CPU, checkpoint, FINGERPRINT,
                 engine=REFERENCE) == history
    assert "resuming from checkpoint at step 20" in capsys.readouterr().err
    assert all(torch.equal(a, b) for a, b in zip(finished.parameters(), retried.parameters(),
                                                 strict=True))

    other = train(_model(), PROCESS, DATA, _settings(30), 1.0, 0, CPU, checkpoint,
                  {"job": "other settings"}, engine=REFERENCE)
    assert "written for other settings" in capsys.readouterr().err and other[0]["step"] == 0


def test_sigterm_after_the_last_step_lets_training_finish_with_its_final_checkpoint(
        tmp_path, monkeypatch):
    """SLURM's grace window: SIGTERM arrives once every step is done (the drill hook holds
    training there until it does). Nothing is interrupted: train returns the trained model, and
    the final state is already the checkpoint, for a retry should the job be judged failed."""
    checkpoint, marker = tmp_path / "run.pt", tmp_path / "held"
    monkeypatch.setenv(HOLD_VARIABLE, f"20:{marker}")

    def terminate_when_held():
        while not marker.exists():
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=terminate_when_held, daemon=True).start()
    held = _model()
    train(held, PROCESS, DATA, _settings(20), 1.0, 0, CPU, checkpoint, FINGERPRINT,
          engine=REFERENCE)
    assert marker.read_text().split() == [str(os.getpid()), "20"]
    assert weights.load_checkpoint(checkpoint, FINGERPRINT)["step"] == 20
    straight = _model()
    train(straight, PROCESS, DATA, _settings(20), 1.0, 0, CPU, tmp_path / "straight.pt",
          FINGERPRINT, engine=REFERENCE)
    assert all(torch.equal(a, b) for a, b in zip(held.parameters(), straight.parameters(),
                                                 strict=True))
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_checkpoint_of_foreign_content_is_set_aside(tmp_path):
    checkpoint = tmp_path / "foreign.pt"
    torch.save([1, 2, 3], checkpoint)  # readable, but not a training state
    assert weights.load_checkpoint(checkpoint, FINGERPRINT) is None
    assert not checkpoint.exists() and len(list(tmp_path.glob("foreign.pt.unreadable-*"))) == 1


CHILD = """
import sys
from pathlib import Path
import torch
sys.path.insert(0, {scripts!r})
sys.path.insert(0, {tests!r})
torch.set_num_threads(1)
from test_cluster_checkpoints import CPU, DATA, FINGERPRINT, PROCESS, _model, _settings
from odesdegap.diffusion.training import TrainingInterrupted, train
from odesdegap.engine import REFERENCE
try:
    train(_model(), PROCESS, DATA, _settings(10**7, checkpoint_every=20), 1.0, 0, CPU,
          Path({checkpoint!r}), FINGERPRINT, engine=REFERENCE)
except TrainingInterrupted as error:
    print(error, file=sys.stderr)
    raise SystemExit(error.exit_code)
"""


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_exits_non_zero_then_training_resumes(tmp_path):
    """The child's training holds before step 50 (the drill hook, HOLD_VARIABLE) until SIGTERM,
    so the signal lands at a known step whatever the machine's pace: the step it is in finishes
    and the state is saved at 51."""
    checkpoint, marker = tmp_path / "run.pt", tmp_path / "held"
    script = CHILD.format(scripts=str(REPO / "workflow_scripts"), tests=str(REPO / "tests"),
                          checkpoint=str(checkpoint))
    child = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True,
                             env={**os.environ, HOLD_VARIABLE: f"50:{marker}"})
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert child.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    assert marker.read_text().split() == [str(child.pid), "50"]
    os.kill(child.pid, signal.SIGTERM)
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == 128 + signal.SIGTERM, stderr
    assert "SIGTERM received: training state saved at step 51" in stderr
    state = weights.load_checkpoint(checkpoint, FINGERPRINT)
    assert state is not None and state["step"] == 51

    # The retry resumes from the saved step, to the weights of an uninterrupted run.
    steps = state["step"] + 5
    resumed, straight = _model(), _model()
    train(resumed, PROCESS, DATA, _settings(steps), 1.0, 0, CPU, checkpoint, FINGERPRINT,
          engine=REFERENCE)
    train(straight, PROCESS, DATA, _settings(steps), 1.0, 0, CPU, tmp_path / "straight.pt",
          FINGERPRINT, engine=REFERENCE)
    assert all(torch.equal(a, b) for a, b in zip(resumed.parameters(), straight.parameters(),
                                                 strict=True))
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
