"""The pair of samplers whose gap the paper's findings read (the config's `gap`), and how texts
and figures name it.

The columns follow the sampler names (w2sq_{first}_{second}, w2sq_{first}_data, ...), so the
default gap, [ode, sde], keeps the paper's w2sq_ode_sde. A sampler named after its own dynamics
(the default pair: samplers.ode has dynamics ode) reads as that dynamics in capitals, "ODE" and
"SDE", so the default's texts say "ODE–SDE W2^2" as they always did; any other sampler reads as
its name."""

from __future__ import annotations

from typing import NamedTuple

from odesdegap.diffusion.dynamics import DYNAMICS


def sampler_label(sampler: str) -> str:
    """How texts and figures name a sampler: "ODE" for samplers.ode, else its name (a sampler
    named after a dynamics has that dynamics: the config check of diffusion.samplers)."""
    return sampler.upper() if sampler in DYNAMICS else sampler


class Gap(NamedTuple):
    """`first` is compared against `second`, the reference every sampler is compared with."""

    first: str
    second: str

    @property
    def column(self) -> str:
        """The gap's W2^2 column (w2sq_ode_sde for the default)."""
        return f"w2sq_{self.first}_{self.second}"

    @property
    def debiased_column(self) -> str:
        """The gap's debiased W2^2 (debiased_w2sq_ode_sde), and its standard error's column."""
        return f"debiased_{self.column}"

    @property
    def debiased_se_column(self) -> str:
        return f"se_debiased_{self.column}"

    @property
    def data_columns(self) -> tuple[str, str]:
        """Each sampler's W2^2 to the data (w2sq_ode_data, w2sq_sde_data for the default)."""
        return f"w2sq_{self.first}_data", f"w2sq_{self.second}_data"

    @property
    def label(self) -> str:
        """The pair in texts: "ODE–SDE" for the default."""
        return f"{sampler_label(self.first)}–{sampler_label(self.second)}"
