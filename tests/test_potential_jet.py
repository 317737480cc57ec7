"""The forward engine (potential_jet) against the autograd reference: the potential's
derivatives, the FP residual, the score, the DSM loss and the parameter gradients of the
training loss agree to float32 round-off; models without the closed form fall back."""

import pytest
import torch

from odesdegap.config import from_schema_defaults
from odesdegap.diffusion.losses import draw_dsm_batch, dsm_loss
from odesdegap.diffusion.processes import OrnsteinUhlenbeck, VariancePreserving
from odesdegap.diffusion.residual import CollocationSampler, fp_residual, residual_penalty
from odesdegap.engine import REFERENCE, MaybeCompiled
from odesdegap.models import potential_jet
from odesdegap.models.mlp import PotentialMLP, VectorScoreMLP
from odesdegap.settings import EngineSettings, NllSettings, SamplingSettings

PROCESS = OrnsteinUhlenbeck()


def _model(dim=2, beta=10.0, seed=0, hidden_layers=3, gaussian_baseline=False, process=None):
    torch.manual_seed(seed)
    return PotentialMLP(dim, hidden_width=80, hidden_layers=hidden_layers, softplus_beta=beta,
                        gaussian_baseline=gaussian_baseline, process=process)


def _points(dim=2, n=256, seed=1, process=PROCESS):
    data = torch.randn(1000, dim, generator=torch.Generator().manual_seed(seed))
    sampler = CollocationSampler(dim=dim, collocation_points=n, points_per_time=32,
                                 box_half_width=3.5, time_distribution="uniform",
                                 noised_fraction=0.5, data=data)
    return sampler.sample(process, torch.Generator().manual_seed(seed))


def _close(fast, reference, tolerance=1e-5):
    """Agreement to float32 round-off, relative to the reference's scale."""
    scale = reference.abs().max().clamp_min(1e-6)
    return ((fast - reference).abs().max() / scale).item() < tolerance


def _autograd_derivatives(model, x, t):
    x = x.clone().requires_grad_(True)
    t = t.clone().requires_grad_(True)
    phi = model.potential(x, t)
    gradient, time_derivative = torch.autograd.grad(phi.sum(), (x, t), create_graph=True)
    laplacian = sum(torch.autograd.grad(gradient[:, i].sum(), x, retain_graph=True)[0][:, i]
                    for i in range(x.shape[1]))
    return {"potential": phi, "gradient": gradient, "time_derivative": time_derivative,
            "laplacian": laplacian}


@pytest.mark.parametrize("dim", [1, 2, 3])
@pytest.mark.parametrize("beta", [10.0, 100.0])
def test_jet_matches_autograd(dim, beta):
    model = _model(dim, beta)
    x, t = _points(dim)
    reference = _autograd_derivatives(model, x, t)
    jet = potential_jet.potential_jet(model, x, t)
    for key, value in reference.items():
        assert _close(jet[key], value), key


def test_jet_without_time_derivative_and_with_scalar_time():
    model = _model()
    x, _ = _points()
    jet = potential_jet.potential_jet(model, x, torch.tensor(0.3), time_derivative=False)
    reference = _autograd_derivatives(model, x, torch.full((len(x),), 0.3))
    assert "time_derivative" not in jet
    assert _close(jet["laplacian"], reference["laplacian"])


@pytest.mark.parametrize("grad_enabled", [True, False])
def test_score_matches_autograd(grad_enabled):
    model = _model(hidden_layers=4, beta=100.0)
    x, t = _points()
    reference = model.score(x, t)
    with torch.set_grad_enabled(grad_enabled):
        fast = potential_jet.potential_score(model, x, t)
    assert fast.requires_grad == grad_enabled
    assert _close(fast, reference)


@pytest.mark.parametrize("process", [OrnsteinUhlenbeck(), VariancePreserving()],
                         ids=["ou", "vp"])
def test_residual_matches_autograd(process):
    model = _model()
    x, t = _points(process=process)
    reference = fp_residual(model, process, x, t, create_graph=False)
    fast = fp_residual(model, process, x, t, create_graph=False, derivatives="forward")
    assert not fast.requires_grad
    assert _close(fast, reference)


def _loss_and_gradients(model, derivatives, compiled=False):
    generator = torch.Generator().manual_seed(3)
    data = torch.randn(500, 2, generator=generator)
    x0, t, noise = draw_dsm_batch(data, 512, PROCESS, generator)
    x_col, t_col = _points(n=256)

    def loss(x0, t, noise, x_col, t_col):
        dsm = dsm_loss(model, PROCESS, x0, t, noise, derivatives=derivatives)
        parts = residual_penalty(model, PROCESS, x_col, t_col, points_per_time=32,
                                 form="centred", hutchinson_probes=0, generator=None,
                                 weighting="none", derivatives=derivatives)
        return dsm + 0.7 * parts["penalty"]

    value = MaybeCompiled(loss, compiled)(x0, t, noise, x_col, t_col)
    model.zero_grad(set_to_none=True)
    value.backward()
    # the output bias moves no derivative of phi: no gradient on either path
    return value, [torch.zeros_like(p) if p.grad is None else p.grad.clone()
                   for p in model.parameters()]


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_parameter_gradients_match_autograd(compiled):
    model = _model()
    reference_loss, reference_grads = _loss_and_gradients(model, "autograd")
    fast_loss, fast_grads = _loss_and_gradients(model, "forward", compiled)
    assert _close(fast_loss, reference_loss)
    for fast, reference in zip(fast_grads, reference_grads, strict=True):
        assert _close(fast, reference, 1e-4)


def test_models_without_the_closed_form_fall_back():
    baseline = _model(gaussian_baseline=True, process=PROCESS)
    vector = VectorScoreMLP(2, hidden_width=16, hidden_layers=2, softplus_beta=10.0,
                            gaussian_baseline=False)
    assert not potential_jet.supports(baseline) and not potential_jet.supports(vector)
    assert potential_jet.supports(_model())
    x, t = _points()
    assert torch.equal(fp_residual(baseline, PROCESS, x, t, create_graph=False),
                       fp_residual(baseline, PROCESS, x, t, create_graph=False,
                                   derivatives="forward"))


def test_an_unknown_derivative_engine_is_an_error():
    with pytest.raises(ValueError, match="engine.derivatives"):
        fp_residual(_model(), PROCESS, *_points(), derivatives="jet")


def _sample(kind, engine, steps=20):
    from odesdegap.diffusion.samplers import sample, sampler

    settings = from_schema_defaults(SamplingSettings, "sampling", n_samples=300, chunk_size=300,
                                    steps=steps, refine_last=0, refine_factor=1)
    return sample(sampler(kind), _model(), PROCESS, 2, settings, 7, torch.device("cpu"),
                  engine=engine)


@pytest.mark.parametrize(("kind", "compiled"), [("ode", False), ("sde", False), ("ode", True)])
def test_samplers_match_autograd_at_equal_seeds(kind, compiled):
    """Equal seeds give the same samples to round-off (untrained models spread far: relative)."""
    reference = _sample(kind, REFERENCE)
    fast = _sample(kind, EngineSettings(derivatives="forward",
                                        compile=("sample",) if compiled else ()))
    assert fast["nfe"] == reference["nfe"]
    assert _close(torch.as_tensor(fast["samples"]), torch.as_tensor(reference["samples"]))


def test_nll_and_residual_metric_match_autograd():
    from odesdegap.diffusion.likelihood import ode_nll
    from odesdegap.evaluation.metrics import heldout_dsm, residual_summary

    model = _model()
    data = torch.randn(200, 2, generator=torch.Generator().manual_seed(5))
    settings = from_schema_defaults(NllSettings, "evaluation.nll", steps=20)
    cpu = torch.device("cpu")
    sampler = CollocationSampler(dim=2, collocation_points=512, points_per_time=64,
                                 box_half_width=3.5, time_distribution="uniform",
                                 noised_fraction=1.0, data=data)
    found = {}
    # compiled: see the sampler and gradient tests
    for engine in (REFERENCE, EngineSettings(derivatives="forward", compile=())):
        found[engine] = {
            **ode_nll(model, PROCESS, data, settings, 0, cpu, engine=engine),
            **residual_summary(model, PROCESS, sampler, 0, cpu, prefix="fp_residual",
                               hutchinson_probes=0, chunk_points=8192, engine=engine),
            "dsm_loss": heldout_dsm(model, PROCESS, data.numpy(), 0, cpu, chunk_points=8192,
                                    weighting="uniform", engine=engine),
        }
    reference, fast = found.values()
    for key in ("nll_nats", "dsm_loss"):
        assert fast[key] == pytest.approx(reference[key], rel=1e-5), key
    for key in (k for k in reference if k.startswith("fp_residual")):
        assert fast[key] == pytest.approx(reference[key], rel=1e-4), key
