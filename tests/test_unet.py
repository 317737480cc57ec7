"""The image U-Nets: flat shapes in and out, the potential's score is its gradient, both FP
residuals' Hutchinson forms agree with the exact ones within the estimator's own standard error,
construction is seeded and checked, and DSM training lowers the loss."""

import pytest
import torch

from odesdegap.diffusion.losses import draw_dsm_batch, dsm_loss
from odesdegap.diffusion.processes import build_process
from odesdegap.diffusion.residual import fp_residual
from odesdegap.diffusion.score_residual import score_fp_residual
from odesdegap.models.unet import UNetPotential, UNetScore

PROCESS = build_process({"name": "ou", "t_min": 1e-3, "t_max": 10.0})
MODELS = [UNetPotential, UNetScore]


def _model(cls, image_shape, seed=0, perturb=0.0, **kwargs):
    """A small model; `perturb` adds seeded noise to every weight, so that the zero-initialised
    output layer no longer makes the model its (trivially smooth) reference score."""
    torch.manual_seed(seed)
    dim = image_shape[0] * image_shape[1] * image_shape[2]
    kwargs = {"channel_multipliers": (1, 2), **kwargs}
    model = cls(dim, image_shape, channels=8, process=PROCESS, **kwargs)
    if perturb:
        generator = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(perturb * torch.randn(parameter.shape, generator=generator))
    return model


def _points(n, dim, seed=0, dtype=torch.float32):
    generator = torch.Generator().manual_seed(seed)
    x = (2 * torch.rand(n, dim, generator=generator) - 1).to(dtype)
    t = (0.05 + 2 * torch.rand(n, generator=generator)).to(dtype)
    return x, t


@pytest.mark.parametrize("image_shape", [(1, 8, 8), (3, 8, 8)])
@pytest.mark.parametrize("cls", MODELS)
def test_flat_shapes(cls, image_shape):
    model = _model(cls, image_shape, perturb=0.05)
    dim = model.dim
    x, t = _points(5, dim)
    assert model.score(x, t).shape == (5, dim)
    assert model.score(x, torch.tensor(0.3)).shape == (5, dim)
    if cls is UNetPotential:
        assert model.potential(x, t).shape == (5,)
    model.fit_baseline(x)  # a no-op, present for the trainer


def test_potential_score_is_its_gradient():
    model = _model(UNetPotential, (1, 8, 8), perturb=0.05).double()
    x, t = _points(4, 64, dtype=torch.float64)
    x.requires_grad_(True)
    (expected,) = torch.autograd.grad(model.potential(x, t).sum(), x)
    torch.testing.assert_close(model.score(x.detach(), t), expected)


def test_initial_models_are_the_reference_scores():
    """Zero output layer: the potential is the Gaussian N(0, data_std^2) pushed forward, whose
    exact FP residual vanishes; the score model starts at that Gaussian's score too, whose
    score FP residual vanishes as well."""
    potential = _model(UNetPotential, (1, 4, 4)).double()
    x, t = _points(6, 16, dtype=torch.float64)
    variance = PROCESS.mean_scale(t) ** 2 * 0.25 + PROCESS.marginal_std(t) ** 2
    torch.testing.assert_close(potential.score(x, t), -x / variance[:, None])
    residual = fp_residual(potential, PROCESS, x, t, create_graph=False)
    torch.testing.assert_close(residual, torch.zeros_like(residual), atol=1e-10, rtol=0)
    score = _model(UNetScore, (1, 4, 4)).double()
    torch.testing.assert_close(score.score(x, t), -x / variance[:, None])
    residual = score_fp_residual(score, PROCESS, x, t, create_graph=False)
    torch.testing.assert_close(residual, torch.zeros_like(residual), atol=1e-9, rtol=0)


def _hutchinson_against_exact(residual_fn, model, n_points=3, replicas=300, probes=4):
    """Exact residual at n_points points, and the Hutchinson one at `replicas` copies of each
    (every copy gets its own `probes` probes). Returns |mean estimate - exact| and the standard
    error of the mean, estimated from the spread across copies."""
    x, t = _points(n_points, model.dim, seed=3, dtype=torch.float64)
    exact = residual_fn(model, PROCESS, x, t, create_graph=False)
    generator = torch.Generator().manual_seed(7)
    estimate = residual_fn(model, PROCESS, x.repeat(replicas, 1), t.repeat(replicas),
                           create_graph=False, hutchinson_probes=probes, generator=generator)
    estimate = estimate.reshape(replicas, *exact.shape)
    standard_error = estimate.std(dim=0) / replicas**0.5
    return (estimate.mean(dim=0) - exact).abs(), standard_error, exact


@pytest.mark.slow
@pytest.mark.parametrize("cls, residual_fn", [(UNetPotential, fp_residual),
                                              (UNetScore, score_fp_residual)],
                         ids=["potential", "score"])
def test_hutchinson_residual_agrees_with_exact(cls, residual_fn):
    """D = 16, 1200 probes per point: the mean estimate is within 5 standard errors of the exact
    residual (at 5 sigma a false alarm is ~1e-6 per coordinate), and that bound is tight
    enough to matter (the estimator has real variance, smaller than the residual itself)."""
    model = _model(cls, (1, 4, 4), perturb=0.3).double()
    error, standard_error, exact = _hutchinson_against_exact(residual_fn, model)
    assert (standard_error > 0).all()
    assert (error <= 5 * standard_error).all(), (error / standard_error).max()
    assert standard_error.max() < 0.2 * exact.abs().max()


def test_seeded_construction_is_deterministic():
    x, t = _points(4, 64)
    for cls in MODELS:
        first = _model(cls, (1, 8, 8), seed=3, perturb=0.05)
        second = _model(cls, (1, 8, 8), seed=3, perturb=0.05)
        assert torch.equal(first.score(x, t), second.score(x, t))
        other = _model(cls, (1, 8, 8), seed=4, perturb=0.05)
        assert not torch.equal(first.score(x, t), other.score(x, t))


@pytest.mark.parametrize("dim, kwargs, message", [
    (64, {"image_shape": (8, 8)}, "3 positive ints"),
    (64, {"image_shape": (1, 8, 0)}, "3 positive ints"),
    (63, {"image_shape": (1, 8, 8)}, "dim = 63"),
    (36, {"image_shape": (1, 6, 6), "channel_multipliers": (1, 2, 2)}, "divisible by"),
    (64, {"image_shape": (1, 8, 8), "channel_multipliers": ()}, "channel_multipliers"),
    (64, {"image_shape": (1, 8, 8), "channels": 0}, "channels"),
    (64, {"image_shape": (1, 8, 8), "process": None}, "forward process"),
])
@pytest.mark.parametrize("cls", MODELS)
def test_bad_arguments_are_named(cls, dim, kwargs, message):
    kwargs = {"process": PROCESS, "channels": 32, "channel_multipliers": (1, 2), **kwargs}
    with pytest.raises(ValueError, match=message):
        cls(dim, **kwargs)


def _binary_images(n, seed=0):
    """4x4 images of +-1 stripes: far from the Gaussian both models start at."""
    generator = torch.Generator().manual_seed(seed)
    rows = torch.randint(0, 2, (n, 1, 4, 1), generator=generator).float() * 2 - 1
    return rows.expand(n, 1, 4, 4).reshape(n, 16).contiguous()


@pytest.mark.slow
@pytest.mark.parametrize("cls", MODELS)
def test_dsm_training_lowers_the_loss(cls):
    data = _binary_images(256)
    model = _model(cls, (1, 4, 4))
    generator = torch.Generator().manual_seed(0)
    # Held-out times on a grid in [0.1, 3]: below, the rare small-t draws (score ~ 1/s) make the
    # loss noise; above, every model is already near the Gaussian prior's score.
    held_out = (_binary_images(512, seed=1), torch.linspace(0.1, 3.0, 512),
                torch.randn(512, 16, generator=generator))

    def held_out_loss():
        return float(dsm_loss(model, PROCESS, *held_out, create_graph=False).detach())

    before = held_out_loss()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(200):
        optimiser.zero_grad()
        dsm_loss(model, PROCESS, *draw_dsm_batch(data, 64, PROCESS, generator)).backward()
        optimiser.step()
    after = held_out_loss()
    assert after < 0.7 * before, (before, after)
