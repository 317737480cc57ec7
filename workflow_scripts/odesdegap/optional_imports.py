"""Importing a library without optional dependencies that it loads for features this project
never uses. Where they are installed, POT imports scikit-learn and networkx, and seaborn imports
SciPy's statistics and clustering; each is a large share of a small job's start-up
(docs/performance.md, start-up)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def absent(*names: str) -> Iterator[None]:
    """Within the block, the modules `names` cannot be imported, so that a library that tries
    them, and copes without them, takes them for absent. A module this process has loaded
    already stays; after the block every one of them imports as usual."""
    hidden = [name for name in names if name not in sys.modules]
    sys.modules.update(dict.fromkeys(hidden))
    try:
        yield
    finally:
        for name in hidden:
            if sys.modules.get(name, False) is None:
                del sys.modules[name]
