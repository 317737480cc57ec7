"""Training: it learns, a killed run resumes to the same weights, and NaN stops it cleanly."""

import contextlib

import pytest
import torch

from odesdegap.config import from_schema_defaults
from odesdegap.data.datasets import sample_dataset
from odesdegap.diffusion.processes import OrnsteinUhlenbeck
from odesdegap.diffusion.training import NonFiniteLossError, train, weight_at
from odesdegap.engine import REFERENCE
from odesdegap.models import PotentialMLP
from odesdegap.settings import TrainingSettings

PROCESS = OrnsteinUhlenbeck()
CPU = torch.device("cpu")
DATA = torch.as_tensor(sample_dataset("mixture", 2000, 0))


def _settings(**changes) -> TrainingSettings:
    """Small, fast settings: the schema's defaults with a short run, box collocation and no
    learning-rate drops."""
    base = dict(steps=40, batch_size=64, learning_rate=1e-3, lr_milestones=[], log_every=10,
                checkpoint_every=10,
                residual=dict(collocation_points=64, points_per_time=16, noised_fraction=0.0))
    return from_schema_defaults(TrainingSettings, "training", **{**base, **changes})


def _model():
    torch.manual_seed(0)
    return PotentialMLP(2, hidden_width=16, hidden_layers=3, softplus_beta=100.0,
                        gaussian_baseline=False)


@pytest.mark.slow
def test_training_reduces_both_losses(tmp_path):
    history = train(_model(), PROCESS, DATA, _settings(steps=300, log_every=50,
                                                        checkpoint_every=1000),
                    1.0, 0, CPU, tmp_path / "c.pt", {}, engine=REFERENCE)
    assert history[-1]["dsm"] < history[0]["dsm"]
    assert history[-1]["residual_total"] < 0.5 * history[0]["residual_total"]


@contextlib.contextmanager
def _killed_after_25_steps(monkeypatch):
    """Within the block, the 26th optimiser step raises KeyboardInterrupt, as a killed job."""
    calls = {"n": 0}
    original_step = torch.optim.Adam.step

    def dying_step(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 25:
            raise KeyboardInterrupt("killed")
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", dying_step)
    try:
        yield
    finally:
        monkeypatch.setattr(torch.optim.Adam, "step", original_step)


def test_killed_run_resumes_to_identical_weights(tmp_path, monkeypatch):
    straight = _model()
    train(straight, PROCESS, DATA, _settings(), 1.0, 0, CPU, tmp_path / "straight.pt", {"run": 1},
          engine=REFERENCE)

    with _killed_after_25_steps(monkeypatch), pytest.raises(KeyboardInterrupt):
        train(_model(), PROCESS, DATA, _settings(), 1.0, 0, CPU, tmp_path / "resume.pt", {"run": 1},
              engine=REFERENCE)
    resumed = _model()
    history = train(resumed, PROCESS, DATA, _settings(), 1.0, 0, CPU, tmp_path / "resume.pt",
                    {"run": 1}, engine=REFERENCE)
    assert history[0]["step"] == 0 and history[-1]["step"] == 39
    for a, b in zip(straight.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b)


def test_non_finite_loss_stops_and_keeps_the_last_checkpoint(tmp_path):
    poisoned = DATA.clone()
    poisoned[:] = float("nan")
    checkpoint = tmp_path / "c.pt"
    with pytest.raises(NonFiniteLossError, match="non-finite loss"):
        train(_model(), PROCESS, poisoned, _settings(), 1.0, 0, CPU, checkpoint, {},
              engine=REFERENCE)
    assert not checkpoint.exists()  # it died at step 0: nothing good to keep


def test_weight_ramp():
    assert [weight_at(2.0, 10, s) for s in (0, 5, 10, 50)] == [0.0, 1.0, 2.0, 2.0]
    assert weight_at(2.0, 0, 0) == 2.0


def _recording_adam(monkeypatch, snapshots):
    """Record every parameter vector and Adam's step count right after each optimiser step."""
    original_step = torch.optim.Adam.step

    def recording_step(self, *args, **kwargs):
        result = original_step(self, *args, **kwargs)
        params = [p for group in self.param_groups for p in group["params"]]
        snapshots.append(([p.detach().clone() for p in params],
                          int(self.state[params[0]]["step"])))
        return result

    monkeypatch.setattr(torch.optim.Adam, "step", recording_step)


def test_ema_is_the_exponential_average_of_the_raw_steps(tmp_path, monkeypatch):
    decay = 0.8
    raw = []
    _recording_adam(monkeypatch, raw)
    averaged = _model()
    train(averaged, PROCESS, DATA, _settings(steps=12, ema_decay=decay), 1.0, 0, CPU,
          tmp_path / "c.pt", {}, engine=REFERENCE)
    # the first update copies the weights, every later one is e <- d e + (1 - d) p
    expected = raw[0][0]
    for params, _ in raw[1:]:
        expected = [decay * e + (1 - decay) * p for e, p in zip(expected, params, strict=True)]
    for got, want in zip(averaged.parameters(), expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    assert not torch.equal(next(averaged.parameters()), raw[-1][0][0])  # it did average


def test_ema_off_returns_exactly_the_raw_weights_and_ema_does_not_perturb_training(
        tmp_path, monkeypatch):
    plain = _model()
    train(plain, PROCESS, DATA, _settings(steps=12), 1.0, 0, CPU, tmp_path / "a.pt", {},
          engine=REFERENCE)
    raw = []
    _recording_adam(monkeypatch, raw)
    train(_model(), PROCESS, DATA, _settings(steps=12, ema_decay=0.9), 1.0, 0, CPU,
          tmp_path / "b.pt", {}, engine=REFERENCE)
    # same draws, same raw trajectory: ema_decay = 0 is the raw end point of the same run
    for a, b in zip(plain.parameters(), raw[-1][0], strict=True):
        assert torch.equal(a, b)


def test_killed_run_resumes_its_moving_average(tmp_path, monkeypatch):
    settings = _settings(ema_decay=0.9)
    straight = _model()
    train(straight, PROCESS, DATA, settings, 1.0, 0, CPU, tmp_path / "straight.pt", {"run": 2},
          engine=REFERENCE)
    with _killed_after_25_steps(monkeypatch), pytest.raises(KeyboardInterrupt):
        train(_model(), PROCESS, DATA, settings, 1.0, 0, CPU, tmp_path / "resume.pt", {"run": 2},
              engine=REFERENCE)
    assert "ema" in torch.load(tmp_path / "resume.pt", weights_only=True)
    resumed = _model()
    train(resumed, PROCESS, DATA, settings, 1.0, 0, CPU, tmp_path / "resume.pt", {"run": 2},
          engine=REFERENCE)
    for a, b in zip(straight.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("restart", [False, True])
def test_adam_restarts_at_each_milestone_only_when_asked(tmp_path, monkeypatch, restart):
    steps = []
    _recording_adam(monkeypatch, steps)
    train(_model(), PROCESS, DATA,
          _settings(steps=10, lr_milestones=[4, 7], restart_optimizer_at_milestones=restart),
          1.0, 0, CPU, tmp_path / "c.pt", {}, engine=REFERENCE)
    counts = [count for _, count in steps]
    assert counts == ([1, 2, 3, 4, 1, 2, 3, 1, 2, 3] if restart else list(range(1, 11)))
