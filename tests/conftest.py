"""Shared fixtures. Tests import the library (workflow_scripts/odesdegap) directly; pytest's
pythonpath setting in pyproject.toml puts it on sys.path."""

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _single_thread():
    """CI has two cores; keep each test on one thread so timings do not depend on load."""
    torch.set_num_threads(1)
