"""Every seed the workflow derives, in one place.

A run's random draws (data sets, noise-floor sets, sampler priors, Brownian paths) each get a
seed of their own, derived from the config's seeds and the names involved, so that two draws
never share a stream and every draw is the same whatever else the config asks for. Changing a
formula here changes results: the tests pin them (tests/test_seeds.py).
"""

from __future__ import annotations

import zlib

# A prime stride between base seeds, so that (base seed, name offset) pairs do not collide for
# offsets below it.
_STRIDE = 1_000_003
# How a sampler's prior seed is spread per run seed (1000 * seed + the sampler's offset).
_SAMPLER_STRIDE = 1000
# The offsets of the paper's two samplers; other names get one from their text.
SAMPLER_OFFSETS = {"ode": 1, "sde": 2}
# A job's stochastic draws are made per block of this many consecutive samples, each block from
# its own seed, so that a sample's noise does not depend on the chunk that holds it
# (diffusion/sample_noise.py).
NOISE_BLOCK = 1024
# torchsde's Brownian paths: entropy per block of samples, then per time segment of the grid.
_BLOCK_STRIDE = 100_003
_SEGMENT_STRIDE = 7


def name_offset(name: str) -> int:
    """A stable offset in [0, 10^6) from a name (crc32 is the same on every machine and
    Python, unlike hash())."""
    return zlib.crc32(name.encode()) % 1_000_000


def dataset_seeds(dataset: str, base_seed: int) -> tuple[int, int]:
    """The training and reference draws of a data set (`data.seed` is the base)."""
    seed = base_seed * _STRIDE + name_offset(dataset)
    return seed, seed + 1


def floor_seeds(dataset: str, base_seed: int) -> tuple[int, int]:
    """The two fresh sets of a data set's noise floor: distinct from its training and reference
    draws and from each other."""
    _, reference_seed = dataset_seeds(dataset, base_seed)
    return reference_seed + 1, reference_seed + 2


def sampler_seed(run_seed: int, sampler: str) -> int:
    """The prior draw of one sampler (by its name in the config's `samplers`) of one run: every
    sampler of a run starts from its own points. The paper's ode and sde keep their historical
    seeds; every other name (a member of the eta family included) gets one from its text."""
    if sampler in SAMPLER_OFFSETS:
        return _SAMPLER_STRIDE * run_seed + SAMPLER_OFFSETS[sampler]
    return run_seed * _STRIDE + name_offset(sampler)


def solver_noise_seed(sample_seed: int, block_index: int) -> int:
    """The noise of a stochastic few-step solver (fast_solvers) for one block of NOISE_BLOCK
    samples of a job."""
    return sample_seed * _BLOCK_STRIDE + block_index


def brownian_entropy(sample_seed: int, block_index: int, segment_index: int) -> int:
    """The entropy of torchsde's Brownian path for one block of NOISE_BLOCK samples and one time
    segment."""
    return (sample_seed * _BLOCK_STRIDE + block_index) * _SEGMENT_STRIDE + segment_index
