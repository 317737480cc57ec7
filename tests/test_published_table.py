"""The paper's table from the authors' histograms: our grid support and exact OT reproduce the
authors' own formula (POT emd2 between the full 4096-node histograms, cost ot.dist of the
meshgrid nodes, squared Euclidean) to 1e-9. Uses ../shared/published (or
ODESDEGAP_PUBLISHED_DIR); skipped, with the reason, without it."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import ot
import pandas as pd
import pytest

from odesdegap.evaluation import distances
from odesdegap.published import layout
from published_paths import HISTOGRAMS, needs

REPO = Path(__file__).resolve().parents[1]
pytestmark = needs(HISTOGRAMS)


def authors_w2sq(a: np.ndarray, b: np.ndarray) -> float:
    """The authors' computation: nodes of meshgrid(lin, lin) flattened row-major, full support,
    squared Euclidean cost, exact OT."""
    lin = np.linspace(-3.5, 3.5, 64)
    xx, yy = np.meshgrid(lin, lin)
    nodes = np.stack([xx.ravel(), yy.ravel()], axis=1)
    return float(ot.emd2(a, b, ot.dist(nodes, nodes), numItermax=10_000_000))


@pytest.mark.slow
def test_the_command_reproduces_the_authors_formula(tmp_path):
    """One data set and weight keeps it short: six exact OT problems on 4096 nodes."""
    out = tmp_path / "table.csv"
    result = subprocess.run(
        [sys.executable, str(REPO / "workflow_scripts" / "published_table.py"), "--histograms",
         str(HISTOGRAMS), "--datasets", "checkerboard", "--weights", "0", "--out", str(out)],
        capture_output=True, text=True, check=True)
    assert "| checkerboard" in result.stdout and out.with_suffix(".md").is_file()
    table = pd.read_csv(out)
    assert len(table) == 1
    row = table.iloc[0]
    ode, sde, truth = (np.load(layout.histogram_path(HISTOGRAMS, kind, "checkerboard", 0.0))
                       for kind in ("ode", "sde", "truth"))
    expected = {"w2sq_ode_sde": authors_w2sq(ode, sde), "w2sq_ode_data": authors_w2sq(ode, truth),
                "w2sq_sde_data": authors_w2sq(sde, truth)}
    for column, value in expected.items():
        assert abs(row[column] - value) < 1e-9, column
    # Three distinct, positive distances: the comparison is not between constants.
    assert len({round(v, 6) for v in expected.values()}) == 3 and min(expected.values()) > 0


def test_the_library_table_uses_the_nodes_support():
    grid = distances.Grid(64, 3.5, "nodes")
    lin = np.linspace(-3.5, 3.5, 64)
    xx, yy = np.meshgrid(lin, lin)
    np.testing.assert_array_equal(grid.support, np.stack([xx.ravel(), yy.ravel()], axis=1))


@pytest.mark.slow
def test_the_command_names_a_missing_histogram(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "workflow_scripts" / "published_table.py"), "--histograms",
         str(tmp_path), "--datasets", "circles"], capture_output=True, text=True)
    assert result.returncode != 0
    assert "weights_truth_64_3000000_circles2.npy: no such file" in result.stderr
