"""Distances between sample sets and the model's own diagnostics.

W2 follows the paper: bin both sample sets on a 64 x 64 grid over [-3.5, 3.5]^2, then solve the
exact optimal-transport problem between the two histograms (POT's emd2) with the squared
Euclidean cost between bin centres. Tables report the squared distance W2^2. In d > 2, where
the grid does not apply, `exact_w2sq_subsample` solves the same exact problem between seeded
subsamples of the raw points instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import ot
import torch

from .losses import dsm_loss
from .processes import ForwardProcess
from .residual import CollocationSampler, fp_residual, sample_dsm_times, split_residual
from .score_residual import score_fp_residual


@dataclass(frozen=True)
class Grid:
    bins: int = 64
    half_width: float = 3.5

    @property
    def edges(self) -> np.ndarray:
        return np.linspace(-self.half_width, self.half_width, self.bins + 1)

    @property
    def centres(self) -> np.ndarray:
        """(bins^2, 2) bin centres, in the order of `histogram(...).ravel()`."""
        mid = 0.5 * (self.edges[:-1] + self.edges[1:])
        xx, yy = np.meshgrid(mid, mid, indexing="ij")
        return np.stack([xx.ravel(), yy.ravel()], axis=1)

    def inside(self, samples: np.ndarray) -> np.ndarray:
        """Mask of the finite samples within the grid's box."""
        finite = np.isfinite(samples).all(axis=1)
        return finite & (np.abs(np.where(finite[:, None], samples, 0)) <= self.half_width).all(
            axis=1)

    def histogram(self, samples: np.ndarray) -> tuple[np.ndarray, dict]:
        """Normalised bin weights of the finite in-box samples (None if there are none), and
        what was dropped."""
        finite = np.isfinite(samples).all(axis=1)
        inside = self.inside(samples)
        counts, _, _ = np.histogram2d(samples[inside, 0], samples[inside, 1],
                                      bins=[self.edges, self.edges])
        kept = counts.sum()
        dropped = {"n_nonfinite": int((~finite).sum()), "n_outside": int((finite & ~inside).sum())}
        return (counts.ravel() / kept if kept else None), dropped


def w2sq_between_histograms(weights_a: np.ndarray | None, weights_b: np.ndarray | None,
                            centres: np.ndarray) -> float:
    """Exact W2^2 between two histograms on shared support points (NaN if either is empty,
    e.g. a diverged model whose every sample left the grid).

    Only bins holding mass on either side enter the transport problem: empty bins carry no mass,
    so the optimum is unchanged and the problem is much smaller.
    """
    if weights_a is None or weights_b is None:
        return float("nan")
    support = (weights_a > 0) | (weights_b > 0)
    a, b = weights_a[support], weights_b[support]
    a, b = a / a.sum(), b / b.sum()
    cost = ot.dist(centres[support], centres[support], metric="sqeuclidean")
    return float(ot.emd2(a, b, cost, numItermax=10_000_000))


def sliced_w2sq(samples_a: np.ndarray, samples_b: np.ndarray, n_projections: int,
                seed: int, max_points: int | None = None) -> float:
    """Sliced W2^2 on the raw (finite) samples: a grid-free cross-check.

    POT projects every point on every direction at once, so paper-sized sets (millions of
    points) are first subsampled, seeded, to `max_points` each.
    """
    rng = np.random.default_rng(seed)
    a, b = (_finite_subsample(s, max_points, rng) for s in (samples_a, samples_b))
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    distance = ot.sliced_wasserstein_distance(a, b, n_projections=n_projections, p=2, seed=seed)
    return float(distance) ** 2


def exact_w2sq_subsample(samples_a: np.ndarray, samples_b: np.ndarray, n: int,
                         seed: int) -> float:
    """Exact W2^2 (POT's emd2, squared Euclidean cost, uniform weights) between seeded
    subsamples of at most n finite points of each set; NaN if either has none.

    Works in any dimension. The empirical distance overestimates the true one by a bias that
    shrinks slowly with n in high d (like n^(-2/d)), so compare values at equal n only.
    """
    rng = np.random.default_rng(seed)
    a, b = (_finite_subsample(s, n, rng) for s in (samples_a, samples_b))
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    cost = ot.dist(a, b, metric="sqeuclidean")
    return float(ot.emd2(ot.unif(len(a)), ot.unif(len(b)), cost, numItermax=10_000_000))


def _finite_subsample(samples: np.ndarray, max_points: int | None, rng) -> np.ndarray:
    finite = samples[np.isfinite(samples).all(axis=1)].astype(np.float64)
    if max_points is not None and len(finite) > max_points:
        finite = finite[rng.choice(len(finite), max_points, replace=False)]
    return finite


def residual_summary(model, process: ForwardProcess, sampler: CollocationSampler, seed: int,
                     device: torch.device, prefix: str = "fp_residual",
                     hutchinson_probes: int = 0, chunk_points: int = 8192) -> dict:
    """mean R^2 of the model on a fixed, seeded collocation set, with its time-only and
    centred parts (see residual.py); the Laplacian by Hutchinson when probes > 0. For a vector
    score, the mean squared residual of the score FP equation (it has no time-only part)."""
    generator = torch.Generator().manual_seed(seed)
    x, t = sampler.sample(process, generator)
    per_time = sampler.points_per_time
    chunk = max(per_time, chunk_points - chunk_points % per_time)
    residual_of = fp_residual if hasattr(model, "potential") else score_fp_residual
    residuals = torch.cat([
        residual_of(model, process, x[i:i + chunk].to(device), t[i:i + chunk].to(device),
                    create_graph=False, hutchinson_probes=hutchinson_probes,
                    generator=generator).cpu()
        for i in range(0, len(x), chunk)
    ])
    if residuals.dim() > 1:
        return {prefix: (residuals**2).mean().item()}
    parts = split_residual(residuals, per_time)
    return {f"{prefix}{'' if k == 'total' else '_' + k}": v.item() for k, v in parts.items()}


def heldout_dsm(model, process: ForwardProcess, data: np.ndarray, seed: int,
                device: torch.device, chunk_points: int = 8192,
                weighting: str = "uniform") -> float:
    """DSM loss (weighted over time like training's) on held-out data with fixed, seeded times
    and noise."""
    generator = torch.Generator().manual_seed(seed)
    x0 = torch.as_tensor(data)
    t = sample_dsm_times(len(x0), process, generator)
    noise = torch.randn(x0.shape, generator=generator)
    total = 0.0
    for i in range(0, len(x0), chunk_points):
        parts = (v[i:i + chunk_points].to(device) for v in (x0, t, noise))
        loss = dsm_loss(model, process, *parts, create_graph=False, weighting=weighting)
        total += loss.item() * min(chunk_points, len(x0) - i)
    return total / len(x0)
