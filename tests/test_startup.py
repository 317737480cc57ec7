"""Jobs start fast: a workflow script that does not compute with torch does not load it.

Every Snakemake job is a fresh Python process, and importing torch (or POT with its torch
backend) takes seconds, as long as a small job's work (docs/performance.md, start-up). Each
script named by a rule (rules/*.smk `script:`) is checked, so a new one is covered without
editing this file: in a fresh process, the modules it imports are imported and torch must not
be among the loaded ones, unless the script is in job_imports.TORCH_SCRIPTS.
"""

import json
import sys

import pytest

from job_imports import TORCH_SCRIPTS, import_probe, rule_scripts
from odesdegap.optional_imports import absent

# Compute jobs that write arrays or rows: no plotting and no pandas.
ARRAY_SCRIPTS = ("prepare_data.py", "sample.py", "nfe_sweep.py")
# Jobs that only draw figures: seaborn, without the SciPy statistics it would load for the
# density estimates they never draw (reporting.plotting).
FIGURE_SCRIPTS = [name for name in rule_scripts() if name.startswith("plot_")]


def test_the_rules_scripts_are_found():
    found = set(rule_scripts())
    assert {"sample.py", "evaluate_sampler.py", "make_tables.py"} <= found
    assert TORCH_SCRIPTS <= found, TORCH_SCRIPTS - found


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in rule_scripts() if n not in TORCH_SCRIPTS])
def test_a_job_without_torch_work_does_not_load_torch(name):
    _, loaded = import_probe(name)
    assert not loaded["torch"], f"{name} loads torch"
    assert not loaded["ot_torch"], f"{name} loads POT's torch backend"
    # POT's optional clustering and graph libraries, for solvers W2 does not use
    assert not loaded["sklearn"] and not loaded["networkx"], (name, loaded)


@pytest.mark.slow
@pytest.mark.parametrize("name", ARRAY_SCRIPTS)
def test_a_job_that_writes_arrays_loads_no_plotting_and_no_pandas(name):
    _, loaded = import_probe(name)
    assert not loaded["matplotlib"] and not loaded["pandas"], loaded


@pytest.mark.slow
@pytest.mark.parametrize("name", FIGURE_SCRIPTS)
def test_a_figure_job_loads_seaborn_without_scipys_statistics(name):
    _, loaded = import_probe(name)
    assert loaded["seaborn"] and not loaded["scipy.stats"], loaded


def test_absent_hides_a_module_only_while_a_library_loads():
    """A module not yet loaded cannot be imported inside the block and imports after it; one
    already loaded (json) stays usable inside it."""
    sys.modules.pop("tabnanny", None)
    with absent("tabnanny", "json"):
        with pytest.raises(ImportError):
            import tabnanny  # noqa: F401
        assert json.dumps([1]) == "[1]" and sys.modules["json"] is json
    import tabnanny  # noqa: F401, F811

    assert sys.modules["tabnanny"] is not None
