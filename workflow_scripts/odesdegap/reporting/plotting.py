"""matplotlib (with the Agg backend: figures are files) and seaborn, for the figure modules.
Seaborn imports SciPy's statistics and clustering, where installed, for its kernel density
estimates and clustermap, which no figure here draws: about half a second of every figure job's
start-up (docs/performance.md). They are absent while seaborn loads, so it keeps its own copy of
the density estimate."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from odesdegap.optional_imports import absent  # noqa: E402

SEABORN_UNUSED_OPTIONAL = ("scipy.stats", "scipy.cluster")
with absent(*SEABORN_UNUSED_OPTIONAL):
    import seaborn as sns  # noqa: E402

__all__ = ["plt", "sns"]
