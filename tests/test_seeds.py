"""The derived seeds: pinned to the values every earlier result was computed with (a change
here reruns and changes every run), and distinct where draws must be independent."""

from odesdegap import seeds


def test_values_are_pinned():
    assert seeds.dataset_seeds("mixture", 2023) == (2023262857, 2023262858)
    assert seeds.floor_seeds("mixture", 2023) == (2023262859, 2023262860)
    assert seeds.sampler_seed(3, "ode") == 3001 and seeds.sampler_seed(3, "sde") == 3002
    assert seeds.brownian_entropy(7, 3, 1) == 4900169
    # any other sampler name: from its text, like the etas
    assert seeds.sampler_seed(1, "heun10") == 1_000_003 + seeds.name_offset("heun10")
    assert seeds.solver_noise_seed(7, 3) == 700024


def test_draws_do_not_share_seeds():
    data = {*seeds.dataset_seeds("mixture", 1), *seeds.dataset_seeds("circles", 1)}
    floors = {*seeds.floor_seeds("mixture", 1), *seeds.floor_seeds("circles", 1)}
    assert len(data) == 4 and len(floors) == 4 and not data & floors
    names = ("ode", "sde", "heun10", "dpmpp_2m_sde")
    samplers = {seeds.sampler_seed(s, k) for s in range(5) for k in names}
    assert len(samplers) == 20
    entropies = {seeds.brownian_entropy(1, c, g) for c in range(10) for g in range(2)}
    assert len(entropies) == 20
