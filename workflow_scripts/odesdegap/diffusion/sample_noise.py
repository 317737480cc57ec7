"""Noise that belongs to the sample, not to the chunk that holds it.

A sampling job draws its samples in chunks (`sampling.chunk_size`, sized to the machine's
memory). Its stochastic draws (torchsde's Brownian paths, a fast solver's Gaussian noise) are
made per block of `seeds.NOISE_BLOCK` consecutive samples, each block from a seed of its own, and
a chunk takes the rows it holds from the blocks it overlaps. A sample's noise thus depends on the
job's seed and on the sample's index only: the same seed gives the same samples at any chunk
size, as EDM's per-sample seeds do. A block is always drawn whole, so its rows do not depend on
the job's number of samples either.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torchsde

from odesdegap.seeds import NOISE_BLOCK, brownian_entropy, solver_noise_seed


def _blocks(first: int, count: int) -> list[tuple[int, slice]]:
    """[(block index, the rows of that block that samples first .. first + count - 1 are)]."""
    end = first + count
    return [(block, slice(max(first - start, 0), min(end - start, NOISE_BLOCK)))
            for block in range(first // NOISE_BLOCK, (end - 1) // NOISE_BLOCK + 1)
            for start in [block * NOISE_BLOCK]]


class SampleBrownian(torchsde.BaseBrownian):
    """torchsde's Brownian motion on [t0, t1] for samples first .. first + count - 1 of a job
    with seed `sample_seed`, in time segment `segment` of its grid: one torchsde
    BrownianInterval per block of samples (entropy from the block's index), each queried at the
    solver's times and cut to the chunk's rows. Lévy areas, when asked for, are cut the same
    way. `dt`, the solver's fixed step, lets BrownianInterval build its tree for those queries
    up front (torchsde's hint for fixed-step solvers; about a tenth faster here)."""

    __slots__ = ("_parts", "_shape")

    def __init__(self, t0: float, t1: float, *, first: int, count: int, dim: int,
                 sample_seed: int, segment: int, device, dtype, dt: float | None = None,
                 levy_area_approximation: str = "none"):
        self._parts = [
            (torchsde.BrownianInterval(
                t0=t0, t1=t1, size=(NOISE_BLOCK, dim), device=device, dtype=dtype, dt=dt,
                entropy=brownian_entropy(sample_seed, block, segment),
                levy_area_approximation=levy_area_approximation), rows)
            for block, rows in _blocks(first, count)]
        self._shape = torch.Size((count, dim))

    def __call__(self, ta, tb=None, return_U=False, return_A=False):
        values = [(brownian(ta, tb, return_U=return_U, return_A=return_A), rows)
                  for brownian, rows in self._parts]
        if isinstance(values[0][0], tuple):
            return tuple(torch.cat([value[k][rows] for value, rows in values])
                         for k in range(len(values[0][0])))
        return torch.cat([value[rows] for value, rows in values])

    def __repr__(self):
        return f"SampleBrownian(shape={tuple(self._shape)}, blocks={len(self._parts)})"

    @property
    def dtype(self):
        return self._parts[0][0].dtype

    @property
    def device(self):
        return self._parts[0][0].device

    @property
    def shape(self):
        return self._shape

    @property
    def levy_area_approximation(self):
        return self._parts[0][0].levy_area_approximation


def sample_gaussian_noise(sample_seed: int, first: int, count: int
                          ) -> Callable[[int, torch.Tensor], torch.Tensor]:
    """A fast solver's noise (fast_solvers.NoiseSampler) for samples first .. first + count - 1
    of a job with seed `sample_seed`: at each call every overlapping block draws a whole block of
    standard normals in float32 on the CPU from its own generator, and the chunk takes its rows,
    moved to x's dtype and device (the same noise for float32 and float64 runs, on any
    device)."""
    generators = [(torch.Generator().manual_seed(solver_noise_seed(sample_seed, block)), rows)
                  for block, rows in _blocks(first, count)]

    def draw(_step: int, like: torch.Tensor) -> torch.Tensor:
        if like.shape[0] != count:
            raise ValueError(f"noise for {count} samples asked for a batch of {like.shape[0]}")
        z = torch.cat([torch.randn((NOISE_BLOCK, *like.shape[1:]), generator=generator,
                                   dtype=torch.float32)[rows] for generator, rows in generators])
        return z.to(dtype=like.dtype, device=like.device)

    return draw
