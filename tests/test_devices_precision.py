"""training.precision on the CPU (bf16 autocast runs there too): the FP residual, which has
second derivatives, against float32, on the exact-score Gaussian model and on the paper's MLP
with that model as its baseline. The measured errors are printed (pytest -s) and quoted in
docs/gpu.md."""

import pytest
import torch

from odesdegap import devices
from odesdegap.config import from_schema_defaults
from odesdegap.diffusion.losses import draw_dsm_batch, dsm_loss
from odesdegap.diffusion.processes import OrnsteinUhlenbeck
from odesdegap.diffusion.residual import CollocationSampler, fp_residual, residual_penalty
from odesdegap.diffusion.training import train
from odesdegap.engine import REFERENCE
from odesdegap.models import GaussianPotential, PotentialMLP
from odesdegap.settings import TrainingSettings

PROCESS = OrnsteinUhlenbeck()
CPU = torch.device("cpu")
MEAN, STD = torch.tensor([0.5, -0.5]), 0.3


def _points(n=2048, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return CollocationSampler(2, n, 32, 3.5, "uniform", 0.0, None).sample(PROCESS, generator)


def _both(function):
    full = function()
    with devices.precision_context("bf16", CPU):
        half = function()
    return full, half


def test_bf16_on_the_exact_gaussian_keeps_its_residual_at_zero():
    model = GaussianPotential(PROCESS, MEAN, STD)
    x, t = _points()
    full, half = _both(lambda: fp_residual(model, PROCESS, x, t, create_graph=False))
    print(f"\nexact Gaussian: max |R| float32 {full.abs().max():.2e}, bf16 {half.abs().max():.2e}")
    assert half.dtype == torch.float32
    assert half.abs().max() < 1e-4 and full.abs().max() < 1e-4


def test_bf16_residual_of_the_mlp_stays_close_to_float32():
    """The paper's MLP (3 x 80, Softplus beta 100) on top of the exact Gaussian baseline: the
    bf16 residual's pointwise error is small against the residual's own size, and the
    penalty (its mean square) and the DSM loss move by well under a percent."""
    torch.manual_seed(0)
    data = torch.randn(4000, 2) * STD + MEAN
    model = PotentialMLP(2, gaussian_baseline=True, process=PROCESS, hidden_width=80,
                         hidden_layers=3, softplus_beta=100.0)
    model.fit_baseline(data)
    x, t = _points()
    full, half = _both(lambda: fp_residual(model, PROCESS, x, t, create_graph=False))
    pointwise = ((half - full).abs().mean() / full.abs().mean()).item()
    penalties = _both(lambda: residual_penalty(
        model, PROCESS, x, t, points_per_time=32, form="full", hutchinson_probes=0,
        generator=None, weighting="none", derivatives="autograd")["penalty"])
    penalty = abs(penalties[1].item() / penalties[0].item() - 1)
    x0, times, noise = draw_dsm_batch(data, 4096, PROCESS, torch.Generator().manual_seed(1))
    losses = _both(lambda: dsm_loss(model, PROCESS, x0, times, noise))
    dsm = abs(losses[1].item() / losses[0].item() - 1)
    print(f"\nMLP + Gaussian baseline, bf16 vs float32: residual mean |error| / mean |R| "
          f"{pointwise:.2%}, penalty {penalty:.3%}, DSM loss {dsm:.3%}")
    assert pointwise < 0.1 and penalty < 0.01 and dsm < 0.01
    assert pointwise > 0  # bf16 did take effect: this is not the float32 path twice


@pytest.mark.parametrize("precision", ["tf32", "bf16"])
def test_training_runs_at_each_precision_and_float32_is_unchanged(precision, tmp_path):
    data = torch.randn(2000, 2) * STD + MEAN

    def trained(chosen):
        torch.manual_seed(0)
        model = PotentialMLP(2, hidden_width=16, hidden_layers=3, softplus_beta=100.0,
                             gaussian_baseline=False)
        settings = from_schema_defaults(
            TrainingSettings, "training", steps=30, batch_size=64, learning_rate=1e-3,
            lr_milestones=[], precision=chosen, log_every=10,
            residual=dict(collocation_points=64, points_per_time=16, noised_fraction=0.0))
        history = train(model, PROCESS, data, settings, 1.0, 0, CPU, tmp_path / f"{chosen}.pt",
                        {}, engine=REFERENCE)
        return model, history

    reference, _ = trained("float32")
    model, history = trained(precision)
    assert all(torch.isfinite(torch.tensor(row["loss"])) for row in history)
    same = all(torch.equal(a, b) for a, b in zip(model.parameters(), reference.parameters(),
                                                 strict=True))
    # tf32 is a CUDA setting: on the CPU it changes nothing; bf16 does change the arithmetic.
    assert same == (precision == "tf32" and not torch.cuda.is_available())


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="precision must be one of"):
        with devices.precision_context("fp8", CPU):
            pass
