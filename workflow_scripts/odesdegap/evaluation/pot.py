"""POT, imported once for every module that solves a transport problem (distances,
w2_debiased), without the parts the workflow never uses.

POT would import torch, JAX, CuPy and TensorFlow as backends where installed (seconds of every
job's start-up): the W2 code hands it numpy arrays only, so those backends are disabled. POT
also imports scikit-learn's clustering and networkx, where installed, for solvers that W2 never
calls (low-rank Sinkhorn's k-means start, quantized Gromov-Wasserstein): about a second of every
job's start-up (docs/performance.md). They are absent while POT loads.
"""

import os

from odesdegap.optional_imports import absent

# POT reads these when it is imported (ot/backend.py); a value set by the user wins.
os.environ.setdefault("POT_BACKEND_DISABLE_PYTORCH", "1")
os.environ.setdefault("POT_BACKEND_DISABLE_JAX", "1")
os.environ.setdefault("POT_BACKEND_DISABLE_CUPY", "1")
os.environ.setdefault("POT_BACKEND_DISABLE_TENSORFLOW", "1")
POT_UNUSED_OPTIONAL = ("sklearn", "networkx")
with absent(*POT_UNUSED_OPTIONAL):
    import ot  # noqa: E402

__all__ = ["ot"]
