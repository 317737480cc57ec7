"""Settings objects: one frozen dataclass per config section, whose field names are the config's
keys and which have no defaults of their own.

The schema (config_schema.yaml) is the one source of defaults and choices: a settings object
is built, once, from a section that the schema has already filled in (`config.checked`), and
is then passed whole to the library. A missing key is an error naming it, never a silent
default. Each class lists the keys its consumer reads, so that its fields document them; keys
of the section that it does not list are ignored (the rules pass on only the keys that change a
job's result: e.g. the noise floor receives the evaluation keys of `W2Settings` alone).
Subsets of one section are subclasses: GridSettings < W2Settings < SamplerEvaluationSettings <
EvaluationSettings.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Self


class SettingsError(KeyError):
    """A config section lacks a key that a settings object needs."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class ConfigSection:
    """Base of the settings objects: `from_config` builds one from its (resolved) section."""

    @classmethod
    def from_config(cls, section: Mapping, where: str = "") -> Self:
        """The settings of `section` (a mapping of config keys, as the rules pass it); nested
        sections become nested settings objects. `where` is the section's config path, used in
        the message of a missing key."""
        if isinstance(section, cls):
            return section
        hints = typing.get_type_hints(cls)
        values = {}
        for field in dataclasses.fields(cls):
            key = f"{where}.{field.name}" if where else field.name
            if field.name not in section:
                raise SettingsError(f"config key '{key}' is missing from the settings passed to "
                                    f"{cls.__name__} (has: {', '.join(sorted(section)) or 'none'})")
            value = section[field.name]
            kind = hints[field.name]
            if isinstance(kind, type) and issubclass(kind, ConfigSection):
                value = kind.from_config(value, key)
            elif isinstance(value, list):
                value = tuple(value)  # frozen settings hold no mutable lists
            values[field.name] = value
        return cls(**values)

    def as_dict(self) -> dict:
        """The settings as plain config values (nested sections as mappings, lists as lists)."""
        def plain(value):
            if isinstance(value, tuple):
                return [plain(v) for v in value]
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            return value

        return plain(dataclasses.asdict(self))


# --- engine --------------------------------------------------------------------------------


@dataclass(frozen=True)
class EngineSettings(ConfigSection):
    """engine: how the score, the FP residual's derivatives and the NLL's divergence are
    computed (odesdegap.engine). Every choice gives the same numbers to float32 round-off."""

    derivatives: str
    compile: tuple[str, ...]


# --- training ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResidualSettings(ConfigSection):
    """training.residual: the Fokker–Planck regulariser and its collocation points."""

    form: str
    weighting: str
    collocation_points: int
    points_per_time: int
    time_distribution: str
    noised_fraction: float
    box_half_width: float
    hutchinson_probes: int
    weight_ramp_steps: int


@dataclass(frozen=True)
class TrainingSettings(ConfigSection):
    """training: everything the training loop reads. `schedule` and `pretrain_steps` are not
    here: they choose which jobs run (rules/train.smk), not what one job does."""

    steps: int
    batch_size: int
    learning_rate: float
    lr_milestones: tuple[int, ...]
    lr_decay: float
    restart_optimizer_at_milestones: bool
    ema_decay: float
    dsm_weighting: str
    precision: str
    log_every: int
    checkpoint_every: int
    residual: ResidualSettings


# --- sampling ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SamplingSettings(ConfigSection):
    """sampling: what every sampler shares (sample count, chunks) and the time grid of the
    samplers on grid `sampling`."""

    n_samples: int
    chunk_size: int
    steps: int
    refine_last: int
    refine_factor: int
    sde_final_step_noise: bool
    ode_rtol: float
    ode_atol: float


@dataclass(frozen=True)
class SamplerSettings(ConfigSection):
    """samplers.<name>: one sampler, its dynamics, solver and grid (samplers.sample_problems
    says which combinations exist). `nfe` is an int, a tuple (an NFE sweep) or None."""

    dynamics: str
    solver: str
    grid: str
    nfe: int | tuple[int, ...] | None
    eta: float | None
    rho: float
    sigma_max: float | None
    options: dict

    @property
    def sweep(self) -> bool:
        """A list of NFE budgets: one job samples at each and writes rows, not samples."""
        return isinstance(self.nfe, tuple)


# --- evaluation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class GridSettings(ConfigSection):
    """The evaluation keys of the 2-D W2 grid (odesdegap.evaluation.distances.Grid)."""

    grid_bins: int
    box_half_width: float
    grid_convention: str


@dataclass(frozen=True)
class W2Settings(GridSettings):
    """The evaluation keys that decide how W2^2 is computed (the noise floor reads these)."""

    w2_method: str
    w2_subsample_points: int
    seed: int


@dataclass(frozen=True)
class NllSettings(ConfigSection):
    """evaluation.nll: the probability-flow NLL of held-out data."""

    points: int
    method: str
    steps: int
    spacing: str
    refine_first: int
    refine_factor: int
    rtol: float
    atol: float
    exact_divergence_max_dim: int
    hutchinson_probes: int


@dataclass(frozen=True)
class SamplerEvaluationSettings(W2Settings):
    """The evaluation keys of one sampler's distances (rule evaluate_sampler): W2^2 and its
    sliced cross-check."""

    sliced_projections: int
    sliced_max_points: int


@dataclass(frozen=True)
class EvaluationSettings(SamplerEvaluationSettings):
    """evaluation, without its `fid` part (the FID rules read that; FidSettings)."""

    residual_points: int
    residual_points_per_time: int
    residual_time_distribution: str
    hutchinson_probes: int
    nll: NllSettings


# --- classifier ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassifierSettings(ConfigSection):
    """classifier: the small CNN whose features are the offline FID extractor."""

    epochs: int
    batch_size: int
    learning_rate: float
    width: int
    n_features: int
    seed: int
