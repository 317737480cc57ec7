"""Jobs start fast: a workflow script that does not compute with torch does not load it.

Every Snakemake job is a fresh Python process, and importing torch (or POT with its torch
backend) takes seconds, as long as a small job's work (docs/performance.md, start-up). Each
script named by a rule (rules/*.smk `script:`) is checked, so a new one is covered without
editing this file: in a fresh process, the modules it imports are imported and torch must not
be among the loaded ones, unless the script is listed in TORCH_SCRIPTS.
"""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "workflow_scripts"

# The scripts that compute with torch (train, sample, evaluate the model) or read torch files
# (import_published converts the authors' checkpoints); every other one must not load torch.
TORCH_SCRIPTS = {
    "evaluate.py",
    "evaluate_fid.py",
    "import_published.py",
    "nfe_sweep.py",
    "reference_features.py",
    "sample.py",
    "train.py",
    "train_classifier.py",
}
# Compute jobs that write arrays: no plotting and no pandas.
ARRAY_SCRIPTS = {"prepare_data.py", "sample.py"}


def rule_scripts() -> set[str]:
    """The file names of the scripts the rules run."""
    names = set()
    for rules in (REPO / "rules").glob("*.smk"):
        names |= set(re.findall(r"script:\s*\n\s*\"\.\./workflow_scripts/(\w+\.py)\"",
                                rules.read_text()))
    return names


def imports_of(script: Path) -> list[str]:
    """The script's import statements (at any depth), as source lines."""
    tree = ast.parse(script.read_text())
    return [ast.unparse(node) for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))]


def loaded_after(script: Path) -> dict:
    """Which heavy modules a fresh process has loaded after the script's imports, in an
    environment without the POT backend switches (they must come from the library)."""
    probe = "\n".join([
        "import sys",
        f"sys.path.insert(0, {str(SCRIPTS)!r})",
        *imports_of(script),
        "backend = sys.modules.get('ot.backend')",
        "print({name: name in sys.modules for name in ('torch', 'pandas', 'matplotlib')}"
        " | {'ot': backend is not None, 'ot_torch': backend is not None"
        " and backend.torch is not False})",
    ])
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("POT_BACKEND_DISABLE")}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            env=env, cwd=REPO, check=True)
    return ast.literal_eval(result.stdout.strip().splitlines()[-1])


def test_the_rules_scripts_are_found():
    found = rule_scripts()
    assert {"sample.py", "evaluate_sampler.py", "make_tables.py"} <= found
    assert TORCH_SCRIPTS <= found, TORCH_SCRIPTS - found


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(rule_scripts() - TORCH_SCRIPTS))
def test_a_job_without_torch_work_does_not_load_torch(name):
    loaded = loaded_after(SCRIPTS / name)
    assert not loaded["torch"], f"{name} loads torch"
    assert not loaded["ot_torch"], f"{name} loads POT's torch backend"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ARRAY_SCRIPTS))
def test_a_job_that_writes_arrays_loads_no_plotting_and_no_pandas(name):
    loaded = loaded_after(SCRIPTS / name)
    assert not loaded["matplotlib"] and not loaded["pandas"], loaded
