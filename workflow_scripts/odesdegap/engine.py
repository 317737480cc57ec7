"""How derivatives are computed: the config's `engine` section (settings.EngineSettings).

`derivatives`: "forward" takes the score, the FP residual's derivatives and the NLL's divergence
of an MLP potential in closed form (potential_jet); "autograd" uses nested autograd passes, the
reference implementation. Both agree to float32 round-off; models without the closed form
(vector scores, U-Nets, the Gaussian baseline) and Hutchinson estimates always use autograd.

`compile`: the jobs (COMPILED_STAGES) whose forward-derivative computations run through
torch.compile, which fuses their element-wise work (inductor generates C++ on the CPU, Triton
on CUDA) at a cost of seconds per process. If compiling fails (no C++ compiler, an unsupported
platform) the same function runs eagerly, with a warning.
"""

from __future__ import annotations

import sys
import warnings

import torch

from odesdegap.models.potential_jet import supports as supports_jet
from odesdegap.settings import EngineSettings

DERIVATIVE_ENGINES = ("forward", "autograd")
# The jobs that can compile: training, sampling (sample, nfe_sweep, nfe_sweep_exact) and
# model evaluation.
COMPILED_STAGES = ("train", "sample", "evaluate")


def uses_forward_jet(model, derivatives: str, hutchinson_probes: int = 0) -> bool:
    """Whether the residual (and the score) of `model` come from potential_jet: asked for,
    possible for this model, and the Laplacian exact (Hutchinson's estimate stays autograd's)."""
    if derivatives not in DERIVATIVE_ENGINES:
        raise ValueError(f"engine.derivatives must be one of {DERIVATIVE_ENGINES}, "
                         f"got {derivatives!r}")
    return derivatives == "forward" and hutchinson_probes == 0 and supports_jet(model)


# The reference implementation (nested autograd passes, eager), which the tests and `make bench`
# compare the fast path with; the workflow's own choice comes from the config's engine section.
REFERENCE = EngineSettings(derivatives="autograd", compile=())


def compiles(engine: EngineSettings, stage: str) -> bool:
    """Whether `stage` (one of COMPILED_STAGES) runs through torch.compile under `engine`."""
    if stage not in COMPILED_STAGES:
        raise ValueError(f"stage must be one of {COMPILED_STAGES}, got {stage!r}")
    return stage in engine.compile


def maybe_compiled(function, engine: EngineSettings, stage: str):
    """`function` through torch.compile if the engine compiles `stage` (see MaybeCompiled)."""
    return MaybeCompiled(function, True) if compiles(engine, stage) else function


class MaybeCompiled:
    """`function` through torch.compile when `enabled`, else as it is; if compilation fails,
    a warning and the eager function from then on (the results differ at round-off only)."""

    def __init__(self, function, enabled: bool):
        self.function = function
        self.compiled = torch.compile(function) if enabled else None

    def __call__(self, *args, **kwargs):
        if self.compiled is not None:
            try:
                return self.compiled(*args, **kwargs)
            except (torch._dynamo.exc.BackendCompilerFailed,
                    torch._inductor.exc.InductorError) as error:
                message = f"torch.compile failed, running eagerly: {str(error).splitlines()[0]}"
                warnings.warn(message, stacklevel=2)
                print(message, file=sys.stderr)
                self.compiled = None
        return self.function(*args, **kwargs)
