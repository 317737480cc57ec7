"""The divergence (trace of the input-Jacobian) of a vector field, by autograd.

Exact: one backward pass per dimension. Hutchinson: tr J = E[v^T J v] for probes v with
E[v v^T] = I, one backward pass (a vector-Jacobian product) per probe; Rademacher (+-1) probes
give the smallest variance, and none at all where J is diagonal. Both the FP residual (the
Laplacian is the divergence of the score) and the ODE likelihood use these.
"""

from __future__ import annotations

import torch


def exact_divergence(field: torch.Tensor, x: torch.Tensor,
                     create_graph: bool = False) -> torch.Tensor:
    """sum_i d field_i / d x_i for field (n, d) computed from x (n, d); returns (n,)."""
    return sum(
        torch.autograd.grad(field[:, i].sum(), x, create_graph=create_graph,
                            retain_graph=True)[0][:, i]
        for i in range(x.shape[1])
    )


def rademacher_probes(n_probes: int, like: torch.Tensor,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """(n_probes, *like.shape) independent +-1 entries, drawn on the generator's device so that
    a CPU generator seeds them identically whatever device `like` lives on."""
    device = generator.device if generator is not None else like.device
    signs = torch.randint(0, 2, (n_probes, *like.shape), generator=generator, device=device)
    return (2 * signs - 1).to(like)


def hutchinson_divergence(field: torch.Tensor, x: torch.Tensor, probes: torch.Tensor,
                          create_graph: bool = False) -> torch.Tensor:
    """Mean over probes v (shape (k, n, d)) of v^T (d field / dx) v: unbiased for the
    divergence; returns (n,)."""
    estimate = torch.zeros_like(field[:, 0])
    for probe in probes:
        (jacobian_probe,) = torch.autograd.grad((field * probe).sum(), x,
                                                create_graph=create_graph, retain_graph=True)
        estimate = estimate + (jacobian_probe * probe).sum(dim=1)
    return estimate / len(probes)
