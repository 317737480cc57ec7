"""Derivatives of the MLP potential phi(x, t) in closed form, without nested autograd passes.

The FP residual needs grad_x phi, d phi/dt and Lap_x phi; the samplers and the DSM loss need
only grad_x phi. Autograd gets them by reverse passes over reverse passes (one more per
dimension for the Laplacian), each through Softplus, whose CPU kernel is scalar code. Here:

- `potential_jet` pushes the value, the d + 1 input tangents (x_1..x_d, t) and the Laplacian
  forward through the layers together (the "forward Laplacian", Li et al. 2023): through
  h = W a + b every row is multiplied by W; through a = softplus(h), with s = sigmoid(beta h)
  and c = s' = beta s (1 - s),
      tangent' = s * tangent,   Lap' = s * Lap + c * sum_i tangent_i^2.
  Its backward (for the parameter gradients of a loss built on it) is written by hand per
  activation (`_JetSoftplus`), so one reverse pass of a few formulas follows. Under
  torch.compile plain operations are used instead, whose backward inductor derives and fuses.
- `potential_score` is grad_x phi by the chain rule written out (a forward pass that keeps
  s = sigmoid(beta h), then W^T products back down): the same arithmetic as autograd's
  backward, with no graph to build when gradients are off (sampling), and still
  differentiable for the parameters when they are on (the DSM loss).

Softplus is computed as relu(h) + log(1 + exp(-beta |h|)) / beta, with the exponent clamped
above the float32 denormal range: torch's softplus and log1p run as scalar code on the CPU and
denormal exponentials are slower still, while exp, log and sigmoid are vectorised. The value
differs from nn.Softplus only by float32 round-off.

Only `PotentialMLP`s without the Gaussian baseline have this form (`supports`); every other
model keeps the autograd path, which also stays as the reference the tests compare with.
"""

from __future__ import annotations

import torch
from torch import nn

# exp(-80) ~ 1.8e-35 is still a normal float32 (denormals start near 1.2e-38): the clamp only
# changes log(1 + exp(-|z|)) where it already rounds to 0.
_EXPONENT_FLOOR = -80.0


def supports(model) -> bool:
    """Whether `model` is an MLP potential this module can differentiate (Softplus hidden
    layers, no Gaussian baseline)."""
    from odesdegap.models.mlp import PotentialMLP

    return isinstance(model, PotentialMLP) and model.baseline is None


def _layers(model) -> tuple[list[nn.Linear], float]:
    modules = list(model.network)
    linears = [m for m in modules if isinstance(m, nn.Linear)]
    betas = {m.beta for m in modules if isinstance(m, nn.Softplus)}
    if len(betas) != 1 or len(linears) != len(modules) - len(linears) + 1:
        raise ValueError("potential_jet needs Linear layers with one Softplus between each pair")
    return linears, float(betas.pop())


def _softplus_parts(h: torch.Tensor, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(softplus_beta(h), sigmoid(beta h)) from vectorised kernels (see the module docstring)."""
    z = beta * h
    s = torch.sigmoid(z)
    value = torch.relu(h) + torch.log(1 + torch.exp((-z.abs()).clamp_min(_EXPONENT_FLOOR))) / beta
    return value, s


class _SoftplusSlope(torch.autograd.Function):
    """(a, s) = (softplus_beta(h), sigmoid(beta h)); backward: dh = da s + ds beta s (1 - s)."""

    @staticmethod
    def forward(ctx, h, beta):
        value, s = _softplus_parts(h, beta)
        ctx.save_for_backward(s)
        ctx.beta = beta
        return value, s

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_value, grad_s):
        (s,) = ctx.saved_tensors
        grad_h = None
        if grad_value is not None:
            grad_h = grad_value * s
        if grad_s is not None:
            term = grad_s * (ctx.beta * s * (1 - s))
            grad_h = term if grad_h is None else grad_h + term
        return grad_h, None


def _jet_softplus(stack, bias, beta, n_space):
    """_JetSoftplus in plain operations, for torch.compile: there autograd derives the backward
    and inductor fuses it, which beats the hand-written one."""
    h = stack[0] + bias
    tangents, laplacian = stack[1:-1], stack[-1]
    value, s = _softplus_parts(h, beta)
    spatial = tangents[:n_space]
    curvature = beta * s * (1 - s) * (spatial * spatial).sum(0)
    return torch.cat([value[None], s * tangents, (s * laplacian + curvature)[None]])


class _JetSoftplus(torch.autograd.Function):
    """Softplus on a stack of rows [value, tangents (k of them, the first `n_space` spatial),
    Laplacian], each (n, width); `bias` is added to the value row first. See the module
    docstring for the forward rules; backward, with Q = sum_i tangent_i^2 over spatial rows and
    c' = beta c (1 - 2 s):
        d tangent = s d tangent' (+ 2 c dLap' tangent for spatial rows),  dLap = s dLap',
        dh = d value' s + c (sum_k d tangent'_k tangent_k + dLap' Lap) + c' dLap' Q."""

    @staticmethod
    def forward(ctx, stack, bias, beta, n_space):
        h = stack[0] + bias
        tangents, laplacian = stack[1:-1], stack[-1]
        value, s = _softplus_parts(h, beta)
        c = beta * s * (1 - s)
        spatial = tangents[:n_space]
        squares = (spatial * spatial).sum(0)
        out = torch.empty_like(stack)
        out[0] = value
        torch.mul(s, tangents, out=out[1:-1])
        torch.addcmul(s * laplacian, c, squares, out=out[-1])
        ctx.save_for_backward(s, tangents, laplacian, squares)
        ctx.beta, ctx.n_space = beta, n_space
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        s, tangents, laplacian, squares = ctx.saved_tensors
        beta, n_space = ctx.beta, ctx.n_space
        c = beta * s * (1 - s)
        grad_value, grad_tangents, grad_laplacian = grad_out[0], grad_out[1:-1], grad_out[-1]
        grad_stack = torch.empty_like(grad_out)
        torch.mul(s, grad_tangents, out=grad_stack[1:-1])
        curvature_grad = 2 * c * grad_laplacian
        grad_stack[1:1 + n_space].addcmul_(curvature_grad, tangents[:n_space])
        torch.mul(s, grad_laplacian, out=grad_stack[-1])
        slope_grad = (grad_tangents * tangents).sum(0) + grad_laplacian * laplacian
        curvature_slope = beta * c * (1 - 2 * s)
        grad_h = grad_value * s + c * slope_grad + curvature_slope * grad_laplacian * squares
        grad_stack[0] = grad_h
        return grad_stack, grad_h.sum(0), None, None


def potential_jet(model, x: torch.Tensor, t: torch.Tensor, time_derivative: bool = True
                  ) -> dict[str, torch.Tensor]:
    """phi, grad_x phi (n, d), d phi/dt (if asked) and Lap_x phi of an MLP potential at x (n, d),
    t (n,) or a scalar, in one forward pass; differentiable for the parameters."""
    linears, beta = _layers(model)
    n, dim = x.shape
    t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(n)
    first = linears[0]
    width = first.out_features
    # First layer: the tangents of h = W (t, x) + b are W's columns, its Laplacian is zero.
    rows = [(torch.cat([t[:, None], x], dim=1) @ first.weight.t())[None]]
    directions = first.weight[:, 1:].t()
    if time_derivative:
        directions = torch.cat([directions, first.weight[:, :1].t()])
    rows.append(directions[:, None, :].expand(-1, n, width))
    rows.append(x.new_zeros(1, n, width))
    stack = torch.cat(rows)
    bias = first.bias
    activation = _jet_softplus if torch.compiler.is_compiling() else _JetSoftplus.apply
    for linear in linears[1:]:
        stack = activation(stack, bias, beta, dim)
        m = stack.shape[0]
        stack = (stack.reshape(m * n, -1) @ linear.weight.t()).reshape(m, n, -1)
        bias = linear.bias
    out = stack[..., 0]
    result = {"potential": out[0] + bias[0], "gradient": out[1:1 + dim].t(),
              "laplacian": out[-1]}
    if time_derivative:
        result["time_derivative"] = out[1 + dim]
    return result


def potential_score(model, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """grad_x phi(x, t) (n, d) by the chain rule written out; differentiable for the parameters
    when autograd is on, graph-free under no_grad."""
    linears, beta = _layers(model)
    n = x.shape[0]
    t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(n)
    a = torch.cat([t[:, None], x], dim=1)
    slopes = []
    for linear in linears[:-1]:
        h = torch.addmm(linear.bias, a, linear.weight.t())
        if torch.is_grad_enabled() and not torch.compiler.is_compiling():
            a, s = _SoftplusSlope.apply(h, beta)
        else:
            a, s = _softplus_parts(h, beta)
        slopes.append(s)
    # back down: d phi / d a_L = w_out; d phi / d h_l = s_l * d phi / d a_l
    grad = slopes[-1] * linears[-1].weight
    for linear, s in zip(reversed(linears[1:-1]), reversed(slopes[:-1]), strict=True):
        grad = s * (grad @ linear.weight)
    return grad @ linears[0].weight[:, 1:]
