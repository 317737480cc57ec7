"""The Fokker–Planck residual of a potential model, used both as the training regulariser and as
the reported metric (one implementation for both, by design).

For dX = f dt + g dW and phi = log p, the FP equation reads
    d phi/dt = -div f - f . grad phi + g^2/2 (Lap phi + |grad phi|^2),
so the model's residual is
    R = d phi/dt + div f + f . grad phi - g^2/2 (Lap phi + |grad phi|^2).

Collocation points come in groups that share one time. That makes the split of mean(R^2) into
a time-only part (the per-time mean of R, squared) and a centred part exact. The time-only part
is what shifting phi by a function c(t) produces: it leaves the score, and therefore both
samplers, unchanged. The `centred` form penalises only what can move the samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from odesdegap.diffusion.divergence import (
    exact_divergence,
    hutchinson_divergence,
    rademacher_probes,
)
from odesdegap.diffusion.processes import ForwardProcess
from odesdegap.engine import uses_forward_jet
from odesdegap.models import potential_jet
from odesdegap.settings import ResidualSettings


def fp_residual(model, process: ForwardProcess, x: torch.Tensor, t: torch.Tensor,
                create_graph: bool = True, hutchinson_probes: int = 0,
                generator: torch.Generator | None = None,
                derivatives: str = "autograd") -> torch.Tensor:
    """R(x, t). The Laplacian is exact by default (one extra backward pass per dimension); with
    `hutchinson_probes` = k > 0 it is Hutchinson's unbiased estimate from k Rademacher probes
    (one extra backward pass per probe), which is what makes high dimensions affordable.
    `derivatives` = "forward" takes the exact derivatives from one forward pass
    (potential_jet) where the model allows it; "autograd" is the reference."""
    if uses_forward_jet(model, derivatives, hutchinson_probes):
        with torch.set_grad_enabled(create_graph and torch.is_grad_enabled()):
            jet = potential_jet.potential_jet(model, x, t)
            return residual_from_derivatives(process, x, t, jet["time_derivative"],
                                             jet["gradient"], jet["laplacian"])
    x = x.detach().requires_grad_(True)
    t = t.detach().requires_grad_(True)
    with torch.enable_grad():
        phi = model.potential(x, t)
        grad_x, dphi_dt = torch.autograd.grad(phi.sum(), (x, t), create_graph=True)
        if hutchinson_probes > 0:
            probes = rademacher_probes(hutchinson_probes, x, generator)
            laplacian = hutchinson_divergence(grad_x, x, probes, create_graph=create_graph)
        else:
            laplacian = exact_divergence(grad_x, x, create_graph=create_graph)
        residual = residual_from_derivatives(process, x, t, dphi_dt, grad_x, laplacian)
    return residual if create_graph else residual.detach()


def residual_from_derivatives(process: ForwardProcess, x: torch.Tensor, t: torch.Tensor,
                              time_derivative: torch.Tensor, gradient: torch.Tensor,
                              laplacian: torch.Tensor) -> torch.Tensor:
    """R = d phi/dt + div f + f . grad phi - g^2/2 (Lap phi + |grad phi|^2), from phi's
    derivatives however they were computed."""
    g_squared = process.diffusion(t) ** 2
    return (
        time_derivative
        + process.drift_divergence(x, t)
        + (process.drift(x, t) * gradient).sum(dim=1)
        - 0.5 * g_squared * (laplacian + (gradient**2).sum(dim=1))
    )


@dataclass(frozen=True)
class CollocationSampler:
    """Draws collocation points: `collocation_points` in groups of `points_per_time` sharing one
    time (field names are training.residual's keys).

    Times are uniform on [t_min, t_max] (the paper) or drawn like the DSM times. Space is
    uniform on the box [-box_half_width, box_half_width]^d (the paper), except for the first
    `noised_fraction` of each group, which are noised data a(t) x0 + s(t) z: points where the
    forward marginal p_t, and so the samplers' trajectories, put their mass.
    """

    dim: int
    collocation_points: int
    points_per_time: int
    box_half_width: float
    time_distribution: str
    noised_fraction: float
    data: torch.Tensor | None = field(compare=False, repr=False)

    def __post_init__(self):
        if self.noised_fraction > 0 and self.data is None:
            raise ValueError("collocation points near the data need the data (noised_fraction > 0)")

    @classmethod
    def from_settings(cls, residual: ResidualSettings, dim: int,
                      data: torch.Tensor | None) -> CollocationSampler:
        """The collocation points of training.residual."""
        return cls(dim=dim, collocation_points=residual.collocation_points,
                   points_per_time=residual.points_per_time,
                   box_half_width=residual.box_half_width,
                   time_distribution=residual.time_distribution,
                   noised_fraction=residual.noised_fraction, data=data)

    @property
    def n_times(self) -> int:
        return max(1, self.collocation_points // self.points_per_time)

    def sample(self, process: ForwardProcess, generator: torch.Generator):
        n = self.n_times * self.points_per_time
        if self.time_distribution == "dsm":
            times = sample_dsm_times(self.n_times, process, generator)
        else:
            u = torch.rand(self.n_times, generator=generator)
            times = process.t_min + (process.t_max - process.t_min) * u
        t = times.repeat_interleave(self.points_per_time)
        noised = (torch.arange(n) % self.points_per_time) < round(
            self.noised_fraction * self.points_per_time)
        x = torch.empty(n, self.dim)
        n_box, n_noised = int((~noised).sum()), int(noised.sum())
        box = 2 * torch.rand(n_box, self.dim, generator=generator) - 1
        x[~noised] = box * self.box_half_width
        if n_noised:
            index = torch.randint(len(self.data), (n_noised,), generator=generator)
            noise = torch.randn(n_noised, self.dim, generator=generator)
            x[noised], _ = process.perturb(self.data[index].to(x.dtype), t[noised], noise)
        return x, t


def sample_dsm_times(n: int, process: ForwardProcess, generator: torch.Generator):
    """t = t_min + (t_max - t_min) Beta(1, 2), by inverting its CDF 1 - (1 - u)^2.

    The paper weights small t more this way; inverting the CDF keeps every draw on the explicit
    generator, which makes training reproducible and resumable.
    """
    u = torch.rand(n, generator=generator)
    return process.t_min + (process.t_max - process.t_min) * (1 - torch.sqrt(1 - u))


def split_residual(residual: torch.Tensor, points_per_time: int) -> dict[str, torch.Tensor]:
    """mean R^2 = time-only part + centred part, for R grouped by shared time."""
    grouped = residual.reshape(-1, points_per_time)
    time_mean = grouped.mean(dim=1, keepdim=True)
    return {
        "total": (grouped**2).mean(),
        "time_only": (time_mean**2).mean(),
        "centred": ((grouped - time_mean) ** 2).mean(),
    }


RESIDUAL_WEIGHTINGS = ("none", "variance")


def time_weight(process: ForwardProcess, t: torch.Tensor, weighting: str,
                power: int) -> torch.Tensor | float:
    """The factor a residual is multiplied by before squaring: 1, or std(t)^power with `power`
    the rate at which the residual's small-t terms grow (2 for R, whose Laplacian and |grad phi|^2
    grow like d / std^2; 3 for the score residual, one gradient more). Without it, the rare
    collocation times near t_min give gradients orders of magnitude above the rest, which on
    images wrecks training at any weight; the analogue of the DSM's `variance` weighting."""
    if weighting not in RESIDUAL_WEIGHTINGS:
        raise ValueError(f"residual weighting must be one of {RESIDUAL_WEIGHTINGS}, "
                         f"got {weighting!r}")
    return 1.0 if weighting == "none" else process.marginal_std(t) ** power


def residual_penalty(model, process, x, t, *, points_per_time: int, form: str,
                     hutchinson_probes: int, generator: torch.Generator | None,
                     weighting: str, derivatives: str) -> dict:
    """The regulariser and its parts (arguments named as training.residual's keys); `form`
    picks which part is penalised, `weighting` how times are weighed (see time_weight).
    `hutchinson_probes` (0: the exact Laplacian), `generator` and `derivatives` (engine's) go
    to fp_residual."""
    residual = fp_residual(model, process, x, t, hutchinson_probes=hutchinson_probes,
                           generator=generator, derivatives=derivatives)
    residual = residual * time_weight(process, t, weighting, power=2)
    parts = split_residual(residual, points_per_time)
    parts["penalty"] = parts[form] if form == "centred" else parts["total"]
    return parts
