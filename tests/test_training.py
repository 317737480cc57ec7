"""Training: it learns, a killed run resumes to the same weights, and NaN stops it cleanly."""

import pytest
import torch

from odesdegap.datasets import sample_dataset
from odesdegap.models import PotentialMLP
from odesdegap.processes import OrnsteinUhlenbeck
from odesdegap.training import NonFiniteLossError, TrainingSettings, train

PROCESS = OrnsteinUhlenbeck()
CPU = torch.device("cpu")
DATA = torch.as_tensor(sample_dataset("mixture", 2000, 0))


def _settings(**overrides):
    base = dict(steps=40, batch_size=64, learning_rate=1e-3, fp_weight=1.0,
                collocation_points=64, points_per_time=16, log_every=10, checkpoint_every=10)
    return TrainingSettings(**{**base, **overrides})


def _model():
    torch.manual_seed(0)
    return PotentialMLP(2, hidden_width=16)


def test_training_reduces_both_losses(tmp_path):
    history = train(_model(), PROCESS, DATA, _settings(steps=300, log_every=50,
                                                        checkpoint_every=1000),
                    0, CPU, tmp_path / "c.pt", {})
    assert history[-1]["dsm"] < history[0]["dsm"]
    assert history[-1]["residual_total"] < 0.5 * history[0]["residual_total"]


def test_killed_run_resumes_to_identical_weights(tmp_path, monkeypatch):
    straight = _model()
    train(straight, PROCESS, DATA, _settings(), 0, CPU, tmp_path / "straight.pt", {"run": 1})

    calls = {"n": 0}
    original_step = torch.optim.Adam.step

    def dying_step(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 25:
            raise KeyboardInterrupt("killed")
        return original_step(self, *args, **kwargs)

    interrupted = _model()
    monkeypatch.setattr(torch.optim.Adam, "step", dying_step)
    with pytest.raises(KeyboardInterrupt):
        train(interrupted, PROCESS, DATA, _settings(), 0, CPU, tmp_path / "resume.pt", {"run": 1})
    monkeypatch.setattr(torch.optim.Adam, "step", original_step)
    resumed = _model()
    history = train(resumed, PROCESS, DATA, _settings(), 0, CPU, tmp_path / "resume.pt",
                    {"run": 1})
    assert history[0]["step"] == 0 and history[-1]["step"] == 39
    for a, b in zip(straight.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b)


def test_non_finite_loss_stops_and_keeps_the_last_checkpoint(tmp_path):
    poisoned = DATA.clone()
    poisoned[:] = float("nan")
    checkpoint = tmp_path / "c.pt"
    with pytest.raises(NonFiniteLossError, match="non-finite loss"):
        train(_model(), PROCESS, poisoned, _settings(), 0, CPU, checkpoint, {})
    assert not checkpoint.exists()  # it died at step 0: nothing good to keep


def test_weight_ramp():
    settings = _settings(fp_weight=2.0, weight_ramp_steps=10)
    assert [settings.weight_at(s) for s in (0, 5, 10, 50)] == [0.0, 1.0, 2.0, 2.0]
    assert _settings(fp_weight=2.0).weight_at(0) == 2.0
